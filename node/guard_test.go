package node

import (
	"net"

	"actorlog/actors"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"
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
			g := newTestGuard(tls)
			g.filter(b, &guardedStream{g: g, identity: identity, node: node, tlsNode: tls && node})
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

var _ = Describe("The transport guard's address binding", func() {
	const (
		local  = "127.0.0.1:7400"
		client = "127.0.0.1:5100"
	)
	g := newGuard(testLogger().WithField("component", "guard"), func() string { return local })
	g.tls = true
	clientStream := func() *guardedStream {
		return &guardedStream{g: g, identity: "nobody", announced: client, peerIP: net.ParseIP("127.0.0.1")}
	}
	data := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		Expect(err).NotTo(HaveOccurred())
		return b
	}
	batch := func(typeName, target string, sender *actor.PID, msg []byte) *remote.MessageBatch {
		b := &remote.MessageBatch{
			TypeNames: []string{typeName},
			Targets:   []*actor.PID{{Address: local, Id: target}},
			Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: msg}},
		}
		if sender != nil {
			b.Senders = []*actor.PID{sender}
			b.Envelopes[0].Sender = 1
		}
		return b
	}

	DescribeTable("a client names only the address it announced",
		func(b *remote.MessageBatch, kept bool) {
			g.filter(b, clientStream())
			if kept {
				Expect(b.Envelopes).To(HaveLen(1))
			} else {
				Expect(b.Envelopes).To(BeEmpty())
			}
		},
		Entry("its own sender passes", batch("actorlog.v1.OpenSession", actors.SessionsName, &actor.PID{Address: client, Id: "req1"}, nil), true),
		Entry("another address as sender is refused", batch("actorlog.v1.OpenSession", actors.SessionsName, &actor.PID{Address: "127.0.0.1:9", Id: "req1"}, nil), false),
		Entry("the node's own address as sender is refused", batch("actorlog.v1.OpenSession", actors.SessionsName, &actor.PID{Address: local, Id: "future$3"}, nil), false),
		Entry("a Terminated about another address is refused",
			batch("actor.Terminated", actors.SessionsName+"/session-x/sub-1", nil, data(&actor.Terminated{Who: &actor.PID{Address: "127.0.0.1:07400", Id: "x"}})), false),
		Entry("a Terminated about its own process passes",
			batch("actor.Terminated", actors.SessionsName+"/session-x/sub-1", nil, data(&actor.Terminated{Who: &actor.PID{Address: client, Id: "sub1"}})), true),
		Entry("a Watch is refused",
			batch("actor.Watch", actors.SessionsName, nil, data(&actor.Watch{Watcher: &actor.PID{Address: client, Id: "w"}})), false),
		Entry("an Unwatch is refused",
			batch("actor.Unwatch", actors.SessionsName, nil, data(&actor.Unwatch{Watcher: &actor.PID{Address: client, Id: "w"}})), false),
		Entry("a subscriber elsewhere is refused",
			batch("actorlog.v1.Subscribe", actors.SessionsName+"/session-x", &actor.PID{Address: client, Id: "req1"}, data(&messages.Subscribe{SubscriberAddress: "127.0.0.1:9", SubscriberId: "s"})), false),
		Entry("its own subscriber passes",
			batch("actorlog.v1.Subscribe", actors.SessionsName+"/session-x", &actor.PID{Address: client, Id: "req1"}, data(&messages.Subscribe{SubscriberAddress: client, SubscriberId: "s"})), true),
	)

	It("refuses, even from a node, a notice naming an address not written canonically", func() {
		b := batch("actor.Terminated", actors.SessionsName+"/session-x/sub-1", nil,
			data(&actor.Terminated{Who: &actor.PID{Address: "127.0.0.1:007400", Id: "x"}}))
		g.filter(b, &guardedStream{g: g, identity: "n2", node: true, tlsNode: true})
		Expect(b.Envelopes).To(BeEmpty())
		b = batch("actor.Watch", actors.SessionsName, nil, data(&actor.Watch{Watcher: &actor.PID{Address: "127.0.0.1:7401", Id: "w"}}))
		g.filter(b, &guardedStream{g: g, identity: "n2", node: true, tlsNode: true})
		Expect(b.Envelopes).To(HaveLen(1))
	})

	It("refuses a node address as sender even from a node", func() {
		b := batch("actorlog.v1.ForwardedProduce", actors.RaftName, &actor.PID{Address: local, Id: "future$1"}, nil)
		g.filter(b, &guardedStream{g: g, identity: "n2", node: true, tlsNode: true})
		Expect(b.Envelopes).To(BeEmpty())
	})

	DescribeTable("the announced address must be the peer's own, written one way",
		func(addr string, ok bool) {
			why := g.checkAnnounced(addr, net.ParseIP("127.0.0.1"))
			if ok {
				Expect(why).To(BeEmpty())
			} else {
				Expect(why).NotTo(BeEmpty())
			}
		},
		Entry("canonical", "127.0.0.1:5100", true),
		Entry("leading zeros", "127.0.0.1:05100", false),
		Entry("another host", "10.1.2.3:5100", false),
		Entry("this node", local, false),
		Entry("port zero", "127.0.0.1:0", false),
		Entry("no port", "127.0.0.1", false),
	)
})
