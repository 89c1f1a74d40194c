package node

import (
	"actorlog/actors"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The transport guard's stamps", func() {
	const local = "127.0.0.1:7400"
	// forged is a batch whose envelopes carry the headers a client wrote
	// itself, claiming to be root, a node, and local.
	forged := func() *remote.MessageBatch {
		claims := func() *remote.MessageHeader {
			return &remote.MessageHeader{HeaderData: map[string]string{
				actors.IdentityHeader: "root", actors.NodeHeader: "true", actors.RemoteHeader: "false", "traceparent": "kept",
			}}
		}
		return &remote.MessageBatch{
			TypeNames: []string{"actorlog.v1.OpenSession"},
			Targets:   []*actor.PID{{Address: local, Id: actors.SessionsName}},
			Envelopes: []*remote.MessageEnvelope{
				{TypeId: 0, Target: 0, MessageHeader: claims()},
				{TypeId: 0, Target: 0}, // no header at all
			},
		}
	}
	newTestGuard := func(tls bool) *guard {
		g := newGuard(testLogger().WithField("component", "guard"), func() string { return local })
		g.tls = tls
		return g
	}

	DescribeTable("overwrite or strip whatever the peer claimed",
		func(tls bool, identity string, node bool, want map[string]string) {
			b := forged()
			newTestGuard(tls).filter(b, identity, node)
			Expect(b.Envelopes).To(HaveLen(2), "nothing here is refused")
			for _, e := range b.Envelopes {
				h := e.GetMessageHeader().GetHeaderData()
				for _, k := range []string{actors.IdentityHeader, actors.NodeHeader, actors.RemoteHeader} {
					if v, ok := want[k]; ok {
						Expect(h).To(HaveKeyWithValue(k, v))
					} else {
						Expect(h).NotTo(HaveKey(k))
					}
				}
			}
			Expect(b.Envelopes[0].GetMessageHeader().GetHeaderData()).To(HaveKeyWithValue("traceparent", "kept"))
		},
		Entry("under TLS, a client certificate", true, "reader", false,
			map[string]string{actors.IdentityHeader: "reader", actors.RemoteHeader: "true"}),
		Entry("under TLS, a node certificate", true, "n2", true,
			map[string]string{actors.IdentityHeader: "n2", actors.NodeHeader: "true", actors.RemoteHeader: "true"}),
		Entry("under TLS, a peer without a certificate identity", true, "", false,
			map[string]string{actors.RemoteHeader: "true"}),
		// Without TLS every peer is trusted as a node for routing, but
		// nobody has an identity or the node mark sessions act on.
		Entry("without TLS", false, "", true,
			map[string]string{actors.RemoteHeader: "true"}),
	)
})
