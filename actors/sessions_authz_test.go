package actors_test

import (
	"errors"
	"time"

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
		Entry("a node identity passes without grants", wire("n2", true), wire("n2", true), produce, produced),
		Entry("a node session's request without the node mark is checked as a client's",
			wire("n2", true), wire("n2", false), &messages.ServersRequest{},
			&messages.Unauthorized{Identity: "n2", Action: actors.ActionAdmin}),
		Entry("a local (HTTP) session passes: the HTTP API authorises its callers", nil, nil, produce, produced),
		Entry("a remote request to a local session is refused",
			nil, wire("reader", false), &messages.ServersRequest{},
			&messages.Unauthorized{Identity: "reader", Action: actors.ActionAdmin}),
	)

	It("refuses a session to an identity with no grants, and counts none", func() {
		res := askWith(h.sessions, wire("nobody", false), &messages.OpenSession{ClientName: "spec"})
		Expect(res).To(EqualProto(&messages.Unauthorized{Identity: "nobody", Action: actors.ActionOpenSession}))
		Expect(askWith(h.sessions, nil, &messages.SessionsStatusRequest{})).To(EqualProto(&messages.SessionsStatus{Sessions: 0}))
	})

	It("counts only its own sessions' ends: a Terminated naming a session elsewhere changes nothing", func() {
		sess := open(wire("writer", false))
		h.sys.Root.Send(h.sessions, &actor.Terminated{Who: &actor.PID{Address: "127.0.0.1:1", Id: sess.GetId()}})
		Consistently(func() any { return askWith(h.sessions, nil, &messages.SessionsStatusRequest{}) }, "300ms").
			Should(EqualProto(&messages.SessionsStatus{Sessions: 1}))
	})
})

var _ = Describe("Session limits", func() {
	var h *harness
	BeforeEach(func() {
		h = newHarness(GinkgoT().TempDir(), func(_ *actors.LogConfig, s *actors.SessionConfig) {
			s.Authorizer = grants{"writer": {actors.ActionProduce, actors.ActionConsume}, "other": {actors.ActionProduce}}
			s.MaxSessionsPerIdentity = 2
			s.IdleTimeout = 400 * time.Millisecond
			s.MaxParkedPerSession = 2
		})
	})
	askWith := func(pid *actor.PID, headers map[string]string, msg proto.Message) any {
		GinkgoHelper()
		f := actor.NewFuture(h.sys, askTimeout)
		h.sys.Root.Send(pid, &actor.MessageEnvelope{Header: headers, Message: msg, Sender: f.PID()})
		res, err := f.Result()
		Expect(err).NotTo(HaveOccurred())
		return res
	}

	It("caps the sessions of one identity with an error naming the limit, and leaves other identities alone", func() {
		for range 2 {
			Expect(askWith(h.sessions, wire("writer", false), &messages.OpenSession{})).To(BeAssignableToTypeOf(&messages.SessionOpened{}))
		}
		res := askWith(h.sessions, wire("writer", false), &messages.OpenSession{})
		inv, ok := res.(*messages.InvalidRequest)
		Expect(ok).To(BeTrue(), "%v", res)
		Expect(inv.GetField()).To(Equal(actors.SessionLimitField))
		Expect(inv.GetReason()).To(ContainSubstring("2 sessions"))
		Expect(askWith(h.sessions, wire("other", false), &messages.OpenSession{})).To(BeAssignableToTypeOf(&messages.SessionOpened{}))
	})

	It("lets refused requests not keep a session alive", func() {
		opened := askWith(h.sessions, wire("writer", false), &messages.OpenSession{}).(*messages.SessionOpened)
		sess := actor.NewPID(opened.GetAddress(), opened.GetId())
		// Requests stamped with another identity are refused; they must
		// not hold the session past its idle timeout.
		Eventually(func() error {
			f := actor.NewFuture(h.sys, askTimeout)
			h.sys.Root.Send(sess, &actor.MessageEnvelope{Header: wire("other", false), Message: &messages.ProduceRequest{Records: values("x")}, Sender: f.PID()})
			_, err := f.Result()
			return err
		}, 5*time.Second, 50*time.Millisecond).Should(MatchError(actor.ErrDeadLetter))
		Expect(h.status().GetNextOffset()).To(BeZero())
	})

	It("bounds the long polls one session parks", func() {
		opened := askWith(h.sessions, wire("writer", false), &messages.OpenSession{}).(*messages.SessionOpened)
		sess := actor.NewPID(opened.GetAddress(), opened.GetId())
		poll := &messages.ConsumeRequest{Offset: 0, MaxRecords: 1, WaitMs: 3000}
		var parked []*actor.Future
		for range 2 {
			f := actor.NewFuture(h.sys, askTimeout)
			h.sys.Root.Send(sess, &actor.MessageEnvelope{Header: wire("writer", false), Message: poll, Sender: f.PID()})
			parked = append(parked, f)
		}
		res := askWith(sess, wire("writer", false), poll)
		Expect(res).To(BeAssignableToTypeOf(&messages.Unavailable{}), "%v", res)
		Expect(res.(*messages.Unavailable).GetReason()).To(ContainSubstring("2 consumes"))
		for _, f := range parked {
			r, err := f.Result()
			Expect(err).NotTo(HaveOccurred())
			Expect(r).NotTo(BeAssignableToTypeOf(&messages.Unavailable{}))
		}
	})
})
