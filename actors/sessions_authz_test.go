package actors_test

import (
	"errors"

	"actorlog/actors"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"
)

// grants is an Authorizer from a fixed table: identity -> allowed actions.
type grants map[string][]string

func (g grants) Authorize(identity, action string) error {
	for _, a := range g[identity] {
		if a == action {
			return nil
		}
	}
	return errors.New("not granted")
}

// wire is the headers the transport guard stamps on an envelope from a
// peer with the identity; node marks a node certificate. nil headers are a
// local send (the node's HTTP API), which never passes the guard.
func wire(identity string, node bool) map[string]string {
	h := map[string]string{actors.RemoteHeader: "true", actors.IdentityHeader: identity}
	if node {
		h[actors.NodeHeader] = "true"
	}
	return h
}

var _ = Describe("Session authorisation", func() {
	var h *harness
	BeforeEach(func() {
		h = newHarness(GinkgoT().TempDir(), func(_ *actors.LogConfig, s *actors.SessionConfig) {
			s.Authorizer = grants{"writer": {actors.ActionProduce}, "reader": {actors.ActionConsume}}
		})
	})
	// askWith sends msg in an envelope with headers and returns the answer.
	askWith := func(pid *actor.PID, headers map[string]string, msg proto.Message) any {
		GinkgoHelper()
		f := actor.NewFuture(h.sys, askTimeout)
		h.sys.Root.Send(pid, &actor.MessageEnvelope{Header: headers, Message: msg, Sender: f.PID()})
		res, err := f.Result()
		Expect(err).NotTo(HaveOccurred())
		return res
	}
	open := func(headers map[string]string) *actor.PID {
		GinkgoHelper()
		opened, ok := askWith(h.sessions, headers, &messages.OpenSession{ClientName: "spec"}).(*messages.SessionOpened)
		Expect(ok).To(BeTrue())
		return actor.NewPID(opened.GetAddress(), opened.GetId())
	}
	produce := &messages.ProduceRequest{Records: values("x")}
	produced, servers := &messages.ProduceResponse{}, &messages.ServersResponse{}

	DescribeTable("answers each request by the identity of the session and of the request",
		func(opened, sent map[string]string, req proto.Message, want proto.Message) {
			res := askWith(open(opened), sent, req)
			if _, refused := want.(*messages.Unauthorized); !refused {
				Expect(res).To(BeAssignableToTypeOf(want), "%v", res)
				return
			}
			Expect(res).To(EqualProto(want))
			Expect(h.status().GetNextOffset()).To(BeZero(), "a refused request changes nothing")
		},
		Entry("a granted identity produces", wire("writer", false), wire("writer", false), produce, produced),
		Entry("a request stamped with another identity than the session's is refused",
			wire("writer", false), wire("reader", false), produce,
			&messages.Unauthorized{Identity: "reader", Action: actors.ActionProduce}),
		Entry("a granted action does not grant another",
			wire("reader", false), wire("reader", false), produce,
			&messages.Unauthorized{Identity: "reader", Action: actors.ActionProduce}),
		Entry("any granted action lets an identity list the servers",
			wire("reader", false), wire("reader", false), &messages.ServersRequest{}, servers),
		Entry("an identity with no grants may not list the servers",
			wire("nobody", false), wire("nobody", false), &messages.ServersRequest{},
			&messages.Unauthorized{Identity: "nobody", Action: actors.ActionAdmin}),
		Entry("a node identity passes without grants", wire("n2", true), wire("n2", true), produce, produced),
		Entry("a node session's request without the node mark is checked as a client's",
			wire("n2", true), wire("n2", false), &messages.ServersRequest{},
			&messages.Unauthorized{Identity: "n2", Action: actors.ActionAdmin}),
		Entry("a local (HTTP) session passes: the HTTP API authorises its callers", nil, nil, produce, produced),
		Entry("a remote request to a local session is refused",
			nil, wire("reader", false), &messages.ServersRequest{},
			&messages.Unauthorized{Identity: "reader", Action: actors.ActionAdmin}),
	)
})
