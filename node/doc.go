// Package node wires one actorlog node together and owns its lifecycle: the
// configuration, the actor system and its remote endpoint, the actor tree,
// the HTTP API, startup order and graceful shutdown. It holds no business
// logic of its own: every request, remote or HTTP, goes through the actors
// of package actors.
//
// # Lifecycle
//
//	n, err := node.Start(ctx, cfg)   // serves when it returns
//	...
//	err = n.Stop(ctx)                // graceful, idempotent, waits
//
// Start locks DataDir (a second node on the same directory gets ErrLocked),
// starts the log actor and waits until it has recovered every segment, then
// binds the HTTP listener, starts the protoactor remote on ActorAddr (port
// 0 lets the kernel choose; ActorAddr and HTTPAddr report the bound
// addresses), spawns the session acceptor and serves HTTP. A failure at any
// step undoes the earlier ones and returns an error; protoactor's panic when
// it cannot listen comes back as ErrStart.
//
// Stop stops accepting HTTP, drains the log (new appends are refused with
// Unavailable, parked long polls are answered at once, appends in flight
// complete), ends the sessions and their subscriptions, stops the log (its
// segment actors sync and close their files) and finally stops the remote,
// so that the replies above could still leave. Done is closed when that is
// over.
//
// A node whose storage fails for good stays up and reports itself
// unhealthy (Healthy, and /healthz with 503 and the reason), so that
// discovery routes clients away while an operator can still look at it; it
// does not stop by itself.
//
// # The transport guard
//
// protoactor's remote trusts the wire: an unknown type name makes it
// dereference nil, bad indexes panic, and any peer may address any actor
// with any message. The guard, a gRPC stream interceptor on the remote's
// server, drops every envelope that is malformed, whose type is not part of
// the client protocol (messages/actorlog.proto, plus actor.Watch, Unwatch,
// Terminated and DeadLetterResponse), or whose target is not the session
// acceptor or one of its children on this node; it overwrites the identity
// header of every envelope with the transport identity (none until mutual
// TLS); and it recovers a panic in the stream handler. Garbage therefore
// closes at most one stream, never the node.
//
// gRPC messages may be up to GRPCMaxMessageBytes (128 MiB by default), well
// above the request limits (16 MiB per produce request, 4 MiB per consume
// reply plus one record), and the endpoint writer packs at most
// EndpointWriterBatchSize (8) messages into one gRPC message, so that a
// packed message stays under the limit on both sides. A client's listener
// must accept 8 x 5 MiB plus overhead (the Go client accepts 64 MiB).
// protoactor dials a client that went away only RemoteMaxRetryCount (1)
// times.
//
// # HTTP API
//
// See httpAPI for the routes. Records go through a session of the node's
// own, with the same validation as remote clients; errors are JSON bodies
// {"error":{"code":"...","message":"..."}} with a 4xx status for anything
// the client sent (413 for size limits, 416 for offsets outside the log)
// and 503/504 when the node cannot answer. POST /debug/fault/segment-crash
// exists only with FaultInjection, which is off by default and for tests
// only.
package node
