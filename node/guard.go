package node

import (
	"context"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/actors"
	"actorlog/certs"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// guard is the transport guard of the node's remote: a gRPC stream
// interceptor that sees every MessageBatch before protoactor deserialises
// it (deserialisation runs in the stream handler's goroutine).
//
// It exists because protoactor trusts the wire. An envelope whose type name
// is not registered makes protoactor dereference nil; an out-of-range type,
// target or sender index panics too; and any peer may address any actor,
// including internal ones, with any message, including actor.Stop. The
// guard therefore:
//
//   - drops each envelope that is malformed, has a type outside actorlog's
//     own messages (plus the few protoactor system messages a client
//     needs), or targets anything but the session acceptor and its
//     children, the raft actor, and futures (where replies to this node's
//     own requests arrive), so that garbage changes nothing and the
//     batch's other envelopes still go through;
//   - overwrites the identity header (actors.IdentityHeader) of every
//     envelope with the transport identity, so no client picks its own,
//     and sets actors.RemoteHeader, so sessions know the envelope came
//     over the wire whatever sender address the peer wrote;
//   - recovers a panic in the stream handler, so a malformed batch closes
//     one stream, never the node;
//   - refuses every unary call (refuseUnary), since protoactor's
//     unary methods panic outside any stream.
//
// Node-to-node traffic (produces and consistent reads forwarded to the
// leader, joins, and the replies to this node's futures) uses the internal
// messages of messages/internal.proto and the raft actor.
//
// With mutual TLS (tls set) the identity is the Common Name of the peer's
// verified certificate, and only peers with a node certificate
// (certs.IsNode) may send internal messages or address the raft actor and
// futures; a client certificate reaches the session acceptor and its
// children with the client message types only. The guard also stamps
// actors.NodeHeader, so sessions know a node identity without trusting the
// message.
//
// Without TLS there is no identity to tell a peer node from a client, so
// every peer that reaches the port is trusted with node-to-node messages:
// the log, the segments and protoactor's own actors stay unreachable, but
// a client could send the raft actor a join.
type guard struct {
	log       *logrus.Entry
	localAddr func() string
	// isMember reports whether an actor address is a member's (from the
	// replicated member table). Without TLS, a stream whose announced
	// address is a member's is a node's; every other stream is a
	// client's, bound to the address it announced. Nil: no member yet.
	isMember func(addr string) bool
	// peers bounds the connections and logs per peer address.
	peers *peerLimiter
	// tls is set when the remote requires mutual TLS: peers then have an
	// identity, and only node identities pass node-to-node traffic.
	tls bool
	// allowed are the message types any peer may send; clientAllowed the
	// ones a non-node identity may send under TLS.
	allowed       map[string]bool
	clientAllowed map[string]bool

	// ready is closed when the first stream reaches the interceptor: the
	// server is serving.
	ready     chan struct{}
	readyOnce sync.Once

	dropped   atomic.Uint64
	recovered atomic.Uint64
	// produces and consumes count the client requests that reached this
	// node (GET /v1/status): they show how clients spread their load.
	produces atomic.Uint64
	consumes atomic.Uint64
}

// clientSystemMessages are the protoactor messages a client legitimately
// sends: the Terminated answer to the node's watch of a subscriber (about
// the client's own process: see refuseAddresses), and the dead-letter
// answer to a push to a gone subscriber. nodeSystemMessages are what
// nodes may send besides; a client never watches anything on a node.
var (
	clientSystemMessages = []string{"actor.Terminated", "actor.DeadLetterResponse"}
	nodeSystemMessages   = []string{"actor.Watch", "actor.Unwatch"}
)

func newGuard(log *logrus.Entry, localAddr func() string) *guard {
	g := &guard{log: log, localAddr: localAddr, peers: newPeerLimiter(0), allowed: map[string]bool{}, clientAllowed: map[string]bool{}, ready: make(chan struct{})}
	for _, f := range []protoreflect.FileDescriptor{messages.File_actorlog_proto, messages.File_internal_proto} {
		msgs := f.Messages()
		for i := 0; i < msgs.Len(); i++ {
			g.allowed[string(msgs.Get(i).FullName())] = true
			if f == messages.File_actorlog_proto {
				g.clientAllowed[string(msgs.Get(i).FullName())] = true
			}
		}
	}
	for _, n := range clientSystemMessages {
		g.allowed[n] = true
		g.clientAllowed[n] = true
	}
	for _, n := range nodeSystemMessages {
		g.allowed[n] = true
	}
	return g
}

func (g *guard) interceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		g.readyOnce.Do(func() { close(g.ready) })
		defer func() {
			if r := recover(); r != nil {
				g.recovered.Add(1)
				g.log.WithFields(logrus.Fields{"panic": r, "method": info.FullMethod}).
					Errorf("remote stream handler panicked; closing the stream\n%s", debug.Stack())
				err = status.Errorf(codes.InvalidArgument, "actorlog: malformed message: %v", r)
			}
		}()
		id, node := g.peer(ss.Context())
		gs := &guardedStream{ServerStream: ss, g: g, identity: id, node: node, tlsNode: node && g.tls}
		if p, ok := peer.FromContext(ss.Context()); ok && p.Addr != nil {
			gs.peerAddr = p.Addr.String()
			if host, _, err := net.SplitHostPort(gs.peerAddr); err == nil {
				gs.peerIP = net.ParseIP(host)
			}
		}
		return handler(srv, gs)
	}
}

// refuseUnary is the unary interceptor of the remote server: it answers
// every unary call Unimplemented without calling protoactor's handler.
// protoactor serves only the Receive stream; its two unary methods
// (ListProcesses, GetProcessDiagnostics) panic with "implement me", and
// grpc-go does not recover panics in unary handlers, so one call from any
// peer that reaches the port would kill the node. No unary call reaches
// protoactor, not even one a later version might implement.
func refuseUnary(_ context.Context, _ any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
	return nil, status.Errorf(codes.Unimplemented, "actorlog: %s is not served", info.FullMethod)
}

// peer returns the verified identity of a stream's peer and whether it is
// a node: ("", true) without TLS, where every peer is trusted as before.
func (g *guard) peer(ctx context.Context) (identity string, node bool) {
	if !g.tls {
		return "", true
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return "", false
	}
	leaf := info.State.PeerCertificates[0]
	return certs.Identity(leaf), certs.IsNode(leaf)
}

type guardedStream struct {
	grpc.ServerStream
	g        *guard
	identity string
	// node: the peer may send node-to-node messages (a node certificate,
	// or any peer without TLS). tlsNode: it is a node by certificate.
	node, tlsNode bool
	peerAddr      string
	peerIP        net.IP
	// announced is the address the peer announced in its ConnectRequest,
	// where the node sends its replies; "" until it did.
	announced string
	// memberStream: without TLS, the announced address is a member's.
	memberStream bool
}

// ErrAddressNotBound is the status a stream is closed with when its peer
// announces an address it cannot own (another host, a port written in a
// way no listener has, this node's own address).
var errAddressNotBound = status.Error(codes.PermissionDenied, "actorlog: the announced address must be the peer's own (its host, a canonical port, not this node)")

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Canceled {
			s.g.peerLog(s.peerAddr, "a remote stream failed: "+truncate(err.Error()))
		}
		return err
	}
	rm, ok := m.(*remote.RemoteMessage)
	if !ok {
		return nil
	}
	if cr := rm.GetConnectRequest(); cr != nil {
		sc := cr.GetServerConnection()
		if sc == nil {
			return nil
		}
		// A member's stream (without TLS: one that announces a member's
		// registered actor address) is exempt from the host check: a node
		// may advertise an address its traffic does not come from (NAT).
		s.memberStream = !s.g.tls && s.g.isMember != nil && s.g.isMember(sc.GetAddress())
		if !s.tlsNode && !s.memberStream {
			if why := s.g.checkAnnounced(sc.GetAddress(), s.peerIP); why != "" {
				s.g.dropped.Add(1)
				s.g.peerLog(s.peerAddr, "refused a remote stream: "+why)
				return errAddressNotBound
			}
		}
		s.announced = sc.GetAddress()
		return nil
	}
	if b := rm.GetMessageBatch(); b != nil {
		s.g.filter(b, s)
	}
	return nil
}

// checkAnnounced returns why addr cannot be the announced address of a
// client connected from ip, or "". The address must be written the one
// way protoactor writes it (no leading zeros, no other spelling of the
// host), so that one peer cannot make the node open one connection per
// spelling of the same port; its host must be the peer's; and it must not
// be this node's own address.
func (g *guard) checkAnnounced(addr string, ip net.IP) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "announced address " + truncate(addr) + " is not host:port"
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 || strconv.Itoa(p) != port {
		return "announced address " + truncate(addr) + " has no canonical port"
	}
	if addr == g.localAddr() {
		return "announced address " + truncate(addr) + " is this node's"
	}
	hip := net.ParseIP(host)
	if hip == nil {
		if ip == nil {
			return ""
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
		if err != nil {
			return "announced host " + truncate(host) + " does not resolve"
		}
		for _, x := range ips {
			if x.Equal(ip) {
				return ""
			}
		}
		return "announced host " + truncate(host) + " is not the peer's " + ip.String()
	}
	if hip.String() != host {
		return "announced address " + truncate(addr) + " is not in canonical form"
	}
	if ip != nil && !hip.Equal(ip) {
		return "announced host " + host + " is not the peer's " + ip.String()
	}
	return ""
}

// canonicalAddr reports whether addr is host:port written the way
// protoactor writes it: a port from 1 to 65535 without leading zeros, and
// an IP literal in its canonical form (a host name passes as it is).
func canonicalAddr(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 || strconv.Itoa(p) != port {
		return false
	}
	if ip := net.ParseIP(host); ip != nil && ip.String() != host {
		return false
	}
	return host != ""
}

// noticeAddress decodes the address a Terminated (Who), Watch or Unwatch
// (Watcher) names.
func noticeAddress(typeName string, data []byte) (string, bool) {
	switch typeName {
	case "actor.Terminated":
		var t actor.Terminated
		if proto.Unmarshal(data, &t) != nil {
			return "", false
		}
		return t.GetWho().GetAddress(), true
	case "actor.Watch":
		var w actor.Watch
		if proto.Unmarshal(data, &w) != nil {
			return "", false
		}
		return w.GetWatcher().GetAddress(), true
	default:
		var u actor.Unwatch
		if proto.Unmarshal(data, &u) != nil {
			return "", false
		}
		return u.GetWatcher().GetAddress(), true
	}
}

// filter removes the envelopes that may not pass and stamps the identity on
// the others, in place.
func (g *guard) filter(b *remote.MessageBatch, s *guardedStream) {
	identity, node := s.identity, s.node
	local := g.localAddr()
	kept := b.Envelopes[:0]
	var dropped []string
	for _, e := range b.Envelopes {
		why := g.refuse(b, e, local, node)
		if why == "" {
			why = g.refuseAddresses(b, e, local, s)
		}
		if why != "" {
			dropped = append(dropped, why)
			continue
		}
		stampIdentity(e, identity, g.tls && node)
		switch b.TypeNames[e.TypeId] {
		case produceTypeName:
			g.produces.Add(1)
		case consumeTypeName:
			g.consumes.Add(1)
		}
		kept = append(kept, e)
	}
	clear(b.Envelopes[len(kept):])
	b.Envelopes = kept
	if len(dropped) > 0 {
		g.dropped.Add(uint64(len(dropped)))
		g.warn(s.peerAddr, dropped)
	}
}

// refuseAddresses returns why the addresses e names may not pass, or "".
// No envelope from the wire may name this node's own address as its
// sender: the node would deliver its reply to one of its own processes
// (a pending request's future). A client's envelopes may name only the
// address it announced on the stream, as sender, subscriber, or the
// process a Terminated notice is about; and a client may not watch or
// unwatch anything (the client protocol does not need it, and each
// watch makes the node track, and dial, the address named). Nodes (by
// certificate; without TLS, the members' own streams) forward requests
// for their clients, with the client as sender, and are trusted with it.
func (g *guard) refuseAddresses(b *remote.MessageBatch, e *remote.MessageEnvelope, local string, s *guardedStream) string {
	var sender string
	if e.Sender > 0 {
		sender = b.Senders[e.Sender-1].GetAddress()
		if sender == local {
			return "sender address is this node's"
		}
		if !canonicalAddr(sender) {
			return "sender address " + truncate(sender) + " is not written canonically"
		}
	}
	// Every address a notice names must be written the one way
	// protoactor writes it, whoever sends it: each other spelling of a
	// port (leading zeros) would be a new endpoint for the node to dial.
	switch b.TypeNames[e.TypeId] {
	case "actor.Terminated", "actor.Watch", "actor.Unwatch":
		if addr, ok := noticeAddress(b.TypeNames[e.TypeId], e.MessageData); !ok || !canonicalAddr(addr) {
			return "a notice names the address " + truncate(addr) + ", not written canonically"
		}
	}
	if s.tlsNode || s.memberStream {
		return ""
	}
	if e.Sender > 0 && (s.announced == "" || sender != s.announced) {
		return "sender address " + truncate(sender) + " is not the stream's announced address"
	}
	switch b.TypeNames[e.TypeId] {
	case "actor.Watch", "actor.Unwatch":
		return "clients may not watch"
	case "actor.Terminated":
		var t actor.Terminated
		if err := proto.Unmarshal(e.MessageData, &t); err != nil {
			return "malformed Terminated"
		}
		if s.announced == "" || t.GetWho().GetAddress() != s.announced {
			return "Terminated names " + truncate(t.GetWho().GetAddress()) + ", not the stream's announced address"
		}
	case subscribeTypeName:
		var m messages.Subscribe
		if err := proto.Unmarshal(e.MessageData, &m); err != nil {
			return "malformed Subscribe"
		}
		if s.announced == "" || m.GetSubscriberAddress() != s.announced {
			return "subscriber address " + truncate(m.GetSubscriberAddress()) + " is not the stream's announced address"
		}
	}
	return ""
}

// refuse returns why e may not pass, or "".
func (g *guard) refuse(b *remote.MessageBatch, e *remote.MessageEnvelope, local string, node bool) string {
	if e == nil {
		return "empty envelope"
	}
	if e.TypeId < 0 || int(e.TypeId) >= len(b.TypeNames) {
		return "type index out of range"
	}
	if e.SerializerId != 0 {
		return "serializer other than protobuf"
	}
	if name := b.TypeNames[e.TypeId]; !g.allowed[name] {
		return "type " + truncate(name) + " not accepted"
	} else if !node && !g.clientAllowed[name] {
		return "type " + truncate(name) + " is for nodes only"
	}
	if e.Target < 0 || int(e.Target) >= len(b.Targets) || b.Targets[e.Target] == nil {
		return "target index out of range"
	}
	if e.Sender < 0 || int(e.Sender) > len(b.Senders) || (e.Sender > 0 && b.Senders[e.Sender-1] == nil) {
		return "sender index out of range"
	}
	t := b.Targets[e.Target]
	if t.GetAddress() != local {
		// protoactor would relay it to another address.
		return "target address " + truncate(t.GetAddress()) + " is not this node"
	}
	id := t.GetId()
	if id == actors.SessionsName || strings.HasPrefix(id, actors.SessionsName+"/") {
		return ""
	}
	if node && (id == actors.RaftName || strings.HasPrefix(id, futurePrefix)) {
		return ""
	}
	return "target " + truncate(id) + " is internal"
}

// The type names of the client requests the guard counts.
var (
	produceTypeName   = string((&messages.ProduceRequest{}).ProtoReflect().Descriptor().FullName())
	consumeTypeName   = string((&messages.ConsumeRequest{}).ProtoReflect().Descriptor().FullName())
	subscribeTypeName = string((&messages.Subscribe{}).ProtoReflect().Descriptor().FullName())
)

// futurePrefix starts the id of every protoactor future, where replies to
// this node's own requests (forwards, joins) arrive.
const futurePrefix = "future$"

// stampIdentity overwrites the identity headers: the peer's identity
// (removed when there is none), the node mark (removed unless node), and
// the remote mark (always set: the envelope came over the wire).
func stampIdentity(e *remote.MessageEnvelope, identity string, node bool) {
	if e.MessageHeader == nil {
		e.MessageHeader = &remote.MessageHeader{}
	}
	if e.MessageHeader.HeaderData == nil {
		e.MessageHeader.HeaderData = map[string]string{}
	}
	h := e.MessageHeader.HeaderData
	if identity == "" {
		delete(h, actors.IdentityHeader)
	} else {
		h[actors.IdentityHeader] = identity
	}
	if node {
		h[actors.NodeHeader] = "true"
	} else {
		delete(h, actors.NodeHeader)
	}
	h[actors.RemoteHeader] = "true"
}

// warn logs dropped envelopes at most once a second per peer: garbage
// traffic must not turn into a log flood.
func (g *guard) warn(peerAddr string, reasons []string) {
	if !g.peers.allowLog(peerAddr) {
		return
	}
	g.log.WithFields(logrus.Fields{"peer": peerAddr, "dropped": len(reasons), "first_reason": reasons[0], "dropped_total": g.dropped.Load()}).
		Warn("dropped envelopes from a remote peer")
}

// peerLog logs msg about a peer at most once a second per peer.
func (g *guard) peerLog(peerAddr, msg string) {
	if !g.peers.allowLog(peerAddr) {
		return
	}
	g.log.WithField("peer", peerAddr).Warn(msg)
}

func truncate(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}
