// Package actors holds every actor of an actorlog node: the segment actors
// and the log actor that supervises them, the session acceptor and the
// per-client sessions with their subscriptions, the raft peer actor, the
// root supervisor, and the membership actor.
//
// Actors talk to each other only through the protobuf messages of package
// messages (client protocol in actorlog.proto, internal commands in
// internal.proto), never by sharing structs. Each piece of mutable state has
// exactly one owning actor: a segment's files are written only by its
// segment actor, the segment list, offsets, parked polls and the producer
// table only by the log actor. This package must never open a network
// listener or start the remote; package node does the wiring.
//
// # The tree
//
//	Supervisor (guardian strategy of the top-level actors)
//	├── log                     NewLogProps: the segment list
//	│   └── log/segment-<base>  one per segment, the only writer of its files:
//	│                           the active one always runs; a sealed one is
//	│                           spawned when a read needs it and stopped
//	│                           after SegmentIdleTimeout without requests
//	├── raft                    NewRaftProps: produces into raft entries, forwarding
//	├── sessions                NewSessionsProps: the well-known acceptor
//	│   └── sessions/session-<random>     one per client
//	│       └── .../sub-<n>               one per subscription
//	└── membership              NewMembershipProps (only with Consul): the node's
//	                            TTL check, --bootstrap-expect, and on the leader
//	                            the reconcile of raft with Consul's members
//
// # Membership
//
// The membership actor owns the node's discovery.Registrar and a
// discovery.Watcher of every registered instance. A goroutine of it pushes
// the node's health to the TTL check when it changes: critical with the
// reason when the node cannot serve, warning when it is in a cluster but has
// known no raft leader for LeaderlessWarning, else passing. With BootstrapExpect and no raft state it waits until
// that many members pass, and the lowest id among the first of them (by
// id) bootstraps raft with all of them, after asking each whether it has a
// cluster already. On the leader it reconciles (planReconcile, on each
// Consul change and every ReconcileInterval): a passing member that is not
// a voter at its published address, or whose member entry differs, is
// added through the raft actor's JoinRequest; a voter missing from Consul
// for LeaveDelay, or critical for Grace, is removed with
// raft.RemoveServer, one per round, never the leader, and never while
// fewer than a majority of the voters pass. Stopping it deregisters the
// node.
//
// # Produce
//
// A ProduceRequest goes to the client's session, which validates it
// (ValidateProduce: 1 MiB per record and 16 MiB per batch by default; an
// oversized request gets InvalidRequest naming the field and the limit) and
// forwards it, with the client as the sender, to SessionConfig.Produce: the
// raft actor in a node (the log actor when a test wires sessions without
// raft; the log actor's in-memory producerTable then deduplicates).
//
// The raft actor on the leader encodes the request as a RaftCommand with the
// leader's timestamp, refuses one larger than a raft entry may be
// (InvalidRequest), and calls raft.Apply on its own goroutine, so entries
// keep their arrival order; the wait for the commit runs on a goroutine of
// the actor, so many entries are in flight and raft's BatchApplyCh writes
// them with one log write and one fsync. On a follower it forwards the
// request to the leader's raft actor as a ForwardedProduce with the client
// as the sender, so the leader answers the client directly; with no known
// leader it answers Unavailable, and a forwarded request that lands on a
// node that is no longer leader is answered NotLeader (never forwarded
// twice). Consistent consumes, joins (JoinRequest) and ServersRequest go
// the same way. Any answer of raft that may or may not have committed the
// entry becomes Unavailable: the client retries with the same producer id
// and sequence, which the FSM answers with the original offsets.
//
// Every node's FSM (package consensus) appends committed entries through
// FSMLog, which asks the log actor with ProduceRequests that carry no
// producer id (so the FSM alone deduplicates) and whose records carry their
// raft index and the leader's timestamp. The log actor queues them, and
// sends the queue to the active segment as one SegmentAppend: at most
// one append is in flight, and everything that queued meanwhile goes out
// together next (group commit: one write, and under SyncAlways one fsync,
// for many requests). Every append is written through to the operating
// system before it is acknowledged, so an acknowledged record survives
// kill -9 under any fsync policy; the policy decides what survives a power
// loss. The SegmentAppended reply carries the offsets, which the log actor
// hands back in request order. Offsets are dense: when the active segment is
// full the log actor seals it (flush, fsync, read-only) and only then creates
// the next one at the log's next offset. At startup only the active segment
// is opened; a sealed segment's range follows from the file names, and it is
// checked when it is first opened.
//
// # Consume
//
// A ConsumeRequest goes from the session to the log actor, which answers
// OffsetOutOfRange outside [low, next), routes a read to the segment that
// holds the offset (never past the acknowledged end) and forwards the
// SegmentReadResult as a ConsumeResponse. A read at the end with wait_ms is
// parked: a timer sends PollExpired at the deadline (then the answer is an
// empty ConsumeResponse), and an append wakes every parked read. Nothing
// polls or spins while a read is parked.
//
// A Subscribe spawns a subscription actor under the session. It checks the
// offset with the log (CheckOffset), acknowledges, and then keeps one long
// poll in flight for at most the credit the subscriber granted, pushing each
// reply as SubscriptionRecords. It never has more than one reply in hand, so
// a slow subscriber costs the node nothing but its credit. It watches the
// subscriber and ends when the subscriber stops, when a push comes back as a
// dead letter, on Unsubscribe, or with its session.
//
// # Sessions
//
// OpenSession spawns a session and answers SessionOpened with its PID and
// limits. A session keeps the transport identity found in the
// IdentityHeader of the OpenSession envelope (the node's transport guard
// writes that header; nobody else can). A session is remote when its
// OpenSession envelope carries RemoteHeader, which the guard stamps on
// everything that arrives over the wire; the sender address proves nothing,
// as the peer writes it. With an Authorizer, a remote
// session checks that identity before it produces (produce), reads or
// subscribes (consume) or lists the servers (any action), and answers
// Unauthorized otherwise; node identities (NodeHeader) pass. It ends on CloseSession, when
// protoactor reports the client's endpoint terminated (the acceptor turns
// the EndpointTerminatedEvent into a ClientEndpointTerminated message), or,
// for a remote client with no subscription, after IdleTimeout without a
// request, so a client that vanished leaks nothing. A request to a session
// that has ended is answered by protoactor with a dead letter: the client
// opens a new session.
//
// # Failure
//
// The log actor is the supervisor of its segment actors (it implements
// actor.SupervisorStrategy). A segment actor panics on storage errors it
// cannot answer (an I/O error, a file that will not open): its state may no
// longer match the disk. The log actor then answers the request that was
// being handled with Unavailable (protoactor drops that message, so its
// sender would otherwise wait forever) and restarts the segment actor, which
// closes and reopens its files and reports the recovered state. Requests
// still queued in its mailbox survive the restart. Records that reached the
// disk but were never acknowledged (a crash between the write and the
// reply) are truncated away, so a retry appends them again at the same
// offsets and nothing acknowledged is lost or doubled.
//
// More than LogConfig.MaxSegmentRestarts failures within RestartWindow stop
// the segment actor for good: whatever was in flight to it is answered with
// Unavailable, appends are refused if it was the active one, and the log
// actor escalates a *SegmentFailedError to the root Supervisor, which records
// it (Supervisor.Err) and resumes the log actor so that it keeps serving the
// segments that still work. The node reports itself unhealthy from then on.
// A top-level actor that panics (a bug) is restarted by the Supervisor,
// after answering everything it held with Unavailable; one that keeps
// crashing is stopped and recorded the same way.
//
// # Tracing
//
// With a TracerProvider in their configs, the actors continue the trace of
// a request. The W3C trace context (the "traceparent" and "tracestate"
// headers of the tracing package) arrives in the message header of a
// client's request; the session forwards it under its span
// (session.produce, session.consume), the raft actor carries the context
// of raft.apply (raft.forward when it passes the request on to the leader)
// inside the raft entry, the state machine hands the context of fsm.apply
// to FSMLog in the header of its ProduceRequest, and the log actor puts the
// first traced request of a coalesced batch in the header of SegmentAppend,
// under which the segment actor records segment.append. The session's and
// the raft actor's spans come from protoactor middleware in their props
// (tracing.go), around routing that does not trace. Without a provider
// none of this happens: no middleware is configured, no header is read or
// written and the raft entry carries nothing.
//
// # Fault injection
//
// InjectSegmentFault makes the active segment actor panic, at once or right
// after its next append has reached the disk. It is off by default and
// refused unless LogConfig.FaultInjection is set; node sets it only when
// node.Config.FaultInjection is on, and the transport guard never lets an
// internal message in from the wire. It exists so that specs can prove the
// recovery described above.
package actors
