// Package grpcapi serves actorlog's gRPC Log service (actorlog.v1.Log,
// messages/log.proto) on a node's --grpc-addr: the door for clients in any
// language, and for clients behind NAT or a port-forward, which cannot run
// the listener the actor remote dials back to.
//
// # No new path to the log
//
// Every call and stream is served by a session actor of the node's session
// acceptor, exactly as a remote actor client's requests are: the session
// validates, enforces the limits, authorises, traces, and forwards produces
// to the raft actor (which deduplicates by producer id and sequence) and
// reads to the log. This package only translates: gRPC requests into the
// session's messages, and its typed replies into gRPC statuses.
//
// The identity is bound by the transport here as the actor remote's guard
// binds it there (README.md, "Security"): the verified client certificate's
// identity, and whether it is a node certificate, are written into the
// envelope headers the sessions read (actors.IdentityHeader,
// actors.NodeHeader, actors.RemoteHeader), so a gRPC client is authorised
// by the same policy as a remote actor client with the same certificate.
// Without TLS it is trusted as the other channels trust their peers. W3C
// trace context (traceparent, tracestate) is taken from the call's gRPC
// metadata into the same headers.
//
// Unary calls share one session per client identity (opened on first use,
// reopened when it idled out); each ProduceStream and ConsumeStream has a
// session of its own, closed when the stream ends.
//
// # Streams
//
// ProduceStream pipelines: a reader sends each request to the session as
// it arrives, up to Config.StreamWindow in flight, and the handler answers
// them in order. The first failure ends the stream with its status.
//
// ConsumeStream is a session subscription whose pushes go to an inbox
// registered in the node's actor system. The handler grants the
// subscription credit for Config.StreamCredit records and gives credit back
// only after gRPC has taken the records it sent (gRPC's own flow control
// blocks Send while the client does not read), so a slow reader holds at
// most that many records in the node. At the end of the log the
// subscription's read parks in the log actor: nothing polls.
//
// # Errors
//
// Typed replies become status codes with the reply itself as a detail
// (messages/log.proto lists them), plus google.rpc.ErrorInfo and, for
// invalid requests, google.rpc.BadRequest, so generic tooling shows them
// too.
//
// The server also serves gRPC server reflection (grpcurl needs no .proto
// file) and grpc.health.v1, which reports SERVING while the node is ready.
//
// # Probes under mutual TLS
//
// Health probes cannot present a client certificate (the kubelet's gRPC
// probe in TLS mode, grpc_health_probe -tls), so the handshake verifies a
// certificate when one is given but does not require one (ServerTLS), and
// the server's interceptors then refuse every method except
// grpc.health.v1's Check to a caller without a verified certificate, with
// Unauthenticated, before any handler or session sees the call. The open
// method is named (healthCheck): a method or service added later is closed
// until someone decides otherwise.
package grpcapi
