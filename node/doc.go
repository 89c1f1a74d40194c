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
// opens the raft FSM over it (which reads the raft index of the last
// record), the raft stores, snapshots and TCP transport on RaftAddr, and
// starts raft: with Bootstrap and no raft state it bootstraps a
// single-voter cluster; with neither Bootstrap nor Join and no state it
// logs that it waits to be added. Then it binds the HTTP listener, starts the protoactor remote on ActorAddr (port
// 0 lets the kernel choose; ActorAddr and HTTPAddr report the bound
// addresses), spawns the raft actor and the session acceptor, with
// ConsulAddr registers in Consul and spawns the membership actor (see
// package actors; BootstrapExpect bootstraps there), serves HTTP, and serves
// the gRPC Log service (package grpcapi) on GRPCAddr, whose listener is bound
// beside HTTP's so that its address is in the node's member entry. A node that is the only voter of its configuration waits (up to
// RequestTimeout) until it leads, so a bootstrapped node takes writes when
// Start returns. With Join (or raft state) a goroutine then asks the
// members, and the leader once known, with backoff, to add the node as a
// voter at its current raft address and to record its addresses in the
// member table, until both hold or the node stops. A failure at any
// step undoes the earlier ones and returns an error; protoactor's panic when
// it cannot listen comes back as ErrStart.
//
// Stop first stops the membership actor, which deregisters the node from
// Consul (the leader then removes it from raft), then stops accepting HTTP
// and gRPC (gRPC streams end at once with Unavailable),
// stops joining, hands leadership to another
// voter when there is one, shuts raft down (produces in flight are answered
// Unavailable) and stops the raft actor, closes the transport and the raft
// stores, then drains the log (new appends are refused with
// Unavailable, parked long polls are answered at once, appends in flight
// complete), ends the sessions and their subscriptions, stops the log (its
// segment actors sync and close their files) and finally stops the remote,
// so that the replies above could still leave. Done is closed when that is
// over.
//
// Leave (POST /v1/leave, `actorlog leave`) takes the node out of its
// cluster for good and then stops it: hand-over, the leader's check, the
// leave marker, deregistration, removal from raft (see leave.go). A data
// directory with the marker starts again only with Config.Rejoin.
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
// actorlog's messages (messages/*.proto, plus actor.Watch, Unwatch,
// Terminated and DeadLetterResponse), or whose target is not the session
// acceptor or one of its children, the raft actor, or a future on this
// node (node-to-node traffic: forwards, joins and their replies; with
// mutual TLS only node certificates may send it, without TLS every peer is
// trusted with it); it overwrites the identity header of every envelope
// with the transport identity (the peer certificate's Common Name, none
// without TLS); and it recovers a panic in the stream handler. Garbage
// therefore closes at most one stream, never the node.
//
// With Config.TLS every channel speaks mutual TLS (see tls.go): the remote
// (served and dialled), raft (node certificates only, both ways) and HTTP
// (/healthz, /readyz and /metrics without a client certificate, the rest
// with one). Config.ACLPolicy authorises client identities (package
// authz) in the sessions and the HTTP API; without TLS there is no
// identity and no authorisation.
//
// The actor port accepts gRPC messages up to one produce request or one
// consume reply plus 1 MiB of framing (grpcMaxRecvBytes: about 17 MiB by
// default), refused by their length before they are buffered; together
// with the bounds on streams, connections per peer and handshake time
// (README, "Security") no peer makes the node hold much before any
// permission is checked. The node sends gRPC messages up to
// GRPCMaxMessageBytes (128 MiB by default), and the endpoint writer packs at most
// EndpointWriterBatchSize (8) messages into one gRPC message, so that a
// packed message stays under the limit on both sides. A client's listener
// must accept 8 x 5 MiB plus overhead (the Go client accepts 64 MiB).
// protoactor dials a client that went away only RemoteMaxRetryCount (1)
// times.
//
// # HTTP API
//
// See httpAPI for the routes. GET /v1/status reports raft's state, leader,
// term, commit and applied index and the log's bounds; GET /v1/servers the
// raft configuration with the addresses from the member table. Reads are
// served from the node's own log (a follower may be slightly behind) unless
// consistent=true, which the leader serves after a raft barrier. Records go through a session of the node's
// own, with the same validation as remote clients; errors are JSON bodies
// {"error":{"code":"...","message":"..."}} with a 4xx status for anything
// the client sent (413 for size limits, 416 for offsets outside the log)
// and 503/504 when the node cannot answer. POST /debug/fault/segment-crash
// exists only with FaultInjection, which is off by default and for tests
// only.
package node
