package actors

import (
	"io"
	"sync/atomic"
	"time"

	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"
)

// Well-known names. Clients address the acceptor by name; the other names
// appear in PIDs and logs.
const (
	// SessionsName is the session acceptor's name, the only actor a client
	// must know before it has a session.
	SessionsName = "sessions"
	// LogName is the log actor's name. It is internal: the transport guard
	// refuses envelopes addressed to it from outside the node.
	LogName = "log"
	// IdentityHeader carries the transport identity of a request's sender.
	// The node's transport guard overwrites it in every incoming envelope,
	// so a client cannot choose its own identity.
	IdentityHeader = "actorlog-identity"
	// NodeHeader is "true" on an envelope whose sender presented a node
	// certificate; the guard sets or removes it like IdentityHeader.
	NodeHeader = "actorlog-node"
	// RemoteHeader is "true" on every envelope that arrived over the wire:
	// the node's transport guard sets it on each envelope it passes,
	// overwriting whatever the peer wrote, and local sends (the node's HTTP
	// API) never pass the guard. Sessions tell remote clients from the node
	// by it, never by the sender's address, which the peer writes itself.
	// The gRPC Log service (package grpcapi) is the other transport that
	// sets it: it sends its callers' requests from inside the node with
	// the three headers stamped from the verified gRPC peer, as the guard
	// stamps them, so its sessions are authorised and idle out as a
	// remote client's.
	RemoteHeader = "actorlog-remote"
)

// Defaults of LogConfig.
const (
	// DefaultMaxSegmentRestarts and DefaultRestartWindow: a segment actor
	// that crashes more than this many times within the window is stopped
	// and the failure escalated. A single corrupt write or a fault injected
	// by a spec is survived; a disk that fails on every open is not retried
	// forever.
	DefaultMaxSegmentRestarts = 3
	DefaultRestartWindow      = time.Minute
	// DefaultRetentionCheckInterval is how often retention runs (it also
	// runs after every roll-over).
	DefaultRetentionCheckInterval = time.Minute
	// DefaultReadRecords and DefaultReadBytes bound a read whose request
	// leaves the bounds at zero.
	DefaultReadRecords uint32 = 1000
	DefaultReadBytes   uint32 = 1 << 20
	// DefaultMaxReadRecords and DefaultMaxReadBytes cap what a request may
	// ask for. With the endpoint writer packing up to 8 replies into one
	// gRPC message, 8 x (4 MiB + one 1 MiB record) stays below the 64 MiB a
	// client accepts by default.
	DefaultMaxReadRecords uint32 = 10000
	DefaultMaxReadBytes   uint32 = 4 << 20
	// DefaultMaxAppendRecords and DefaultMaxAppendBytes cap how much the log
	// actor coalesces from queued produce requests into one segment append
	// (one write and, under SyncAlways, one fsync). A single request larger
	// than this still goes alone.
	DefaultMaxAppendRecords = 20000
	DefaultMaxAppendBytes   = 32 << 20
	// DefaultMaxPendingBytes bounds the values queued behind the append in
	// flight. Past it the log answers Unavailable: a disk that does not
	// keep up must slow clients down, not grow the node's memory.
	DefaultMaxPendingBytes = 256 << 20
	// DefaultMaxWait caps a long poll; a longer wait_ms is shortened to it
	// (the reply is then an empty ConsumeResponse, as for any expired poll).
	DefaultMaxWait = 30 * time.Second
	// DefaultSegmentIdleTimeout: the actor of a sealed segment that served
	// nothing for this long is stopped, closing its files; the next read
	// of it opens them again. A long log keeps only what is read open.
	DefaultSegmentIdleTimeout = 2 * time.Minute
	// DefaultScrubInterval and DefaultScrubBytes pace the scrubber: every
	// interval it re-reads this many bytes of sealed records, checking
	// their CRCs (2.5 MB/s; a 64 MiB segment in about 26 s). Damage in a
	// record that nobody reads is found this way.
	DefaultScrubInterval = 100 * time.Millisecond
	DefaultScrubBytes    = 256 << 10
	// DefaultDedupeProducers and DefaultDedupeWindow bound the memory of
	// idempotent produce: the most recent producers, and per producer the
	// most recent sequences, whose offsets are remembered.
	DefaultDedupeProducers = 100000
	DefaultDedupeWindow    = 32
)

// LogConfig configures the log actor and, through it, its segment actors.
// Zero fields take the Default* constants.
type LogConfig struct {
	// Dir holds the segment files. It must exist.
	Dir string
	// Storage configures every segment (size limits, fsync policy,
	// retention). Start from segmentstore.DefaultConfig(). Its
	// WriteBufferBytes is not used: the log writes each append through to
	// the operating system before acknowledging it, so an acknowledged
	// record survives kill -9 of the process under any Sync policy; Sync
	// decides what survives a power loss.
	Storage segmentstore.Config
	// Logger receives the log's and the segments' logs. Nil discards them.
	Logger *logrus.Entry

	// MaxSegmentRestarts and RestartWindow: see DefaultMaxSegmentRestarts.
	MaxSegmentRestarts int
	RestartWindow      time.Duration
	// RetentionCheckInterval is how often retention is applied.
	RetentionCheckInterval time.Duration
	// SegmentIdleTimeout: see DefaultSegmentIdleTimeout. Negative keeps
	// sealed segments open once opened.
	SegmentIdleTimeout time.Duration
	// ScrubInterval and ScrubBytes pace the scrubber: see their defaults.
	// A negative ScrubInterval turns it off.
	ScrubInterval time.Duration
	ScrubBytes    uint32
	// OnCorrupt, when set, is called (from the log actor, so it must not
	// block) when a read or the scrubber finds a damaged record: from is
	// the first offset of the read that failed, reason the storage's
	// error. The node repairs the replica from a peer.
	OnCorrupt func(from uint64, reason string)
	// Values reads the values of records that refer to their raft entry
	// (data format 2). Nil for a log whose records all carry their values.
	Values ValueSource

	DefaultReadRecords uint32
	DefaultReadBytes   uint32
	MaxReadRecords     uint32
	MaxReadBytes       uint32
	MaxAppendRecords   int
	MaxAppendBytes     int
	MaxPendingBytes    int
	MaxWait            time.Duration
	DedupeProducers    int
	DedupeWindow       int

	// TracerProvider, when set, traces the segment appends of traced
	// produce requests (span segment.append). Nil traces nothing.
	TracerProvider trace.TracerProvider

	// FaultInjection enables InjectSegmentFault. Off by default: it exists
	// for specs that prove crash recovery, never for production.
	FaultInjection bool
}

func (c LogConfig) withDefaults() LogConfig {
	if c.ScrubInterval == 0 {
		c.ScrubInterval = DefaultScrubInterval
	}
	if c.ScrubBytes == 0 {
		c.ScrubBytes = DefaultScrubBytes
	}
	if c.Logger == nil {
		c.Logger = discardLogger()
	}
	if c.MaxSegmentRestarts == 0 {
		c.MaxSegmentRestarts = DefaultMaxSegmentRestarts
	}
	if c.RestartWindow == 0 {
		c.RestartWindow = DefaultRestartWindow
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if c.SegmentIdleTimeout == 0 {
		c.SegmentIdleTimeout = DefaultSegmentIdleTimeout
	}
	if c.DefaultReadRecords == 0 {
		c.DefaultReadRecords = DefaultReadRecords
	}
	if c.DefaultReadBytes == 0 {
		c.DefaultReadBytes = DefaultReadBytes
	}
	if c.MaxReadRecords == 0 {
		c.MaxReadRecords = DefaultMaxReadRecords
	}
	if c.MaxReadBytes == 0 {
		c.MaxReadBytes = DefaultMaxReadBytes
	}
	if c.MaxAppendRecords == 0 {
		c.MaxAppendRecords = DefaultMaxAppendRecords
	}
	if c.MaxAppendBytes == 0 {
		c.MaxAppendBytes = DefaultMaxAppendBytes
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.DedupeProducers == 0 {
		c.DedupeProducers = DefaultDedupeProducers
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = DefaultDedupeWindow
	}
	// A coalesced append must fit an empty segment's index, or it would be
	// refused by every segment.
	if capacity := indexCapacity(c.Storage); capacity > 0 && uint64(c.MaxAppendRecords) > capacity {
		c.MaxAppendRecords = int(capacity)
	}
	return c
}

// MaxRequestRecords is the most records one produce request may carry on
// a node whose segments are configured by s: DefaultMaxBatchRecords, or
// fewer when one segment's index holds fewer. The log appends a request
// into one segment, so a larger request could never be stored; sessions
// refuse it up front (InvalidRequest) rather than let it reach raft.
func MaxRequestRecords(s segmentstore.Config) uint32 {
	return uint32(min(uint64(DefaultMaxBatchRecords), indexCapacity(s)))
}

// indexCapacity is how many records one segment holds at most.
func indexCapacity(s segmentstore.Config) uint64 {
	b := s.MaxIndexBytes
	if b == 0 {
		b = segmentstore.DefaultMaxIndexBytes
	}
	return b / segmentstore.IndexEntryBytes
}

// Validate reports the first bad field, wrapped around ErrInvalidConfig.
func (c LogConfig) Validate() error {
	switch {
	case c.Dir == "":
		return invalid("Dir", "empty")
	case c.MaxSegmentRestarts < 0:
		return invalid("MaxSegmentRestarts", "negative (%d)", c.MaxSegmentRestarts)
	case c.RestartWindow < 0:
		return invalid("RestartWindow", "negative (%s)", c.RestartWindow)
	case c.RetentionCheckInterval < 0:
		return invalid("RetentionCheckInterval", "negative (%s)", c.RetentionCheckInterval)
	case c.MaxAppendRecords < 0:
		return invalid("MaxAppendRecords", "negative (%d)", c.MaxAppendRecords)
	case c.MaxAppendBytes < 0:
		return invalid("MaxAppendBytes", "negative (%d)", c.MaxAppendBytes)
	case c.MaxPendingBytes < 0:
		return invalid("MaxPendingBytes", "negative (%d)", c.MaxPendingBytes)
	case c.MaxWait < 0:
		return invalid("MaxWait", "negative (%s)", c.MaxWait)
	case c.DedupeProducers < 0:
		return invalid("DedupeProducers", "negative (%d)", c.DedupeProducers)
	case c.DedupeWindow < 0:
		return invalid("DedupeWindow", "negative (%d)", c.DedupeWindow)
	}
	d := c.withDefaults()
	if d.DefaultReadRecords > d.MaxReadRecords {
		return invalid("DefaultReadRecords", "%d exceeds MaxReadRecords %d", d.DefaultReadRecords, d.MaxReadRecords)
	}
	if d.DefaultReadBytes > d.MaxReadBytes {
		return invalid("DefaultReadBytes", "%d exceeds MaxReadBytes %d", d.DefaultReadBytes, d.MaxReadBytes)
	}
	if err := c.Storage.Validate(); err != nil {
		return invalid("Storage", "%v", err)
	}
	return nil
}

// Defaults of SessionConfig.
const (
	// DefaultMaxRecordBytes and DefaultMaxBatchBytes are the request limits
	// a session enforces and announces in SessionOpened.
	DefaultMaxRecordBytes uint32 = 1 << 20
	DefaultMaxBatchBytes  uint32 = 16 << 20
	// DefaultMaxBatchRecords caps the records of one ProduceRequest.
	DefaultMaxBatchRecords uint32 = 100000
	// DefaultSessionIdleTimeout ends a remote client's session that sent
	// nothing for this long and has no subscription, so a client that
	// vanished without a trace leaks nothing. A client that comes back gets
	// a dead letter and opens a new session.
	DefaultSessionIdleTimeout = 2 * time.Minute
	// DefaultMaxSessions bounds the sessions of one node.
	DefaultMaxSessions = 10000
	// DefaultMaxSessionsPerIdentity bounds the remote sessions one identity
	// (one client certificate, or every client without TLS) holds on a
	// node: a Go client opens one per node, so the rest is headroom for
	// many processes sharing a certificate.
	DefaultMaxSessionsPerIdentity = 1000
	// DefaultMaxSubscriptions bounds the subscriptions of one session.
	DefaultMaxSubscriptions = 64
	// DefaultMaxNodeSubscriptions bounds the subscriptions of one node.
	DefaultMaxNodeSubscriptions = 10000
	// DefaultMaxParkedPerSession and DefaultMaxParkedPolls bound the
	// consumes that wait for records (long polls) of one session and of
	// one node; a client needs one or a few.
	DefaultMaxParkedPerSession = 64
	DefaultMaxParkedPolls      = 10000
	// DefaultMaxCredit caps the credit outstanding on one subscription, so a
	// subscriber cannot grant itself an unbounded buffer on the node's side.
	DefaultMaxCredit uint32 = 1 << 20
	// DefaultMaxPushRecords bounds one SubscriptionRecords push.
	DefaultMaxPushRecords uint32 = 1000
	// DefaultPollWait is how long a subscription's read waits at the end of
	// the log before it asks again. It bounds how long a parked read of a
	// subscription that has ended lingers in the log actor.
	DefaultPollWait = 10 * time.Second
	// DefaultRetryBackoff is how long a subscription waits after an
	// Unavailable answer (a segment restarting) before it reads again.
	DefaultRetryBackoff = 200 * time.Millisecond
	// maxProducerIDBytes bounds the producer id a request may carry.
	maxProducerIDBytes = 256
)

// SessionConfig configures the acceptor and every session it spawns. Zero
// fields take the Default* constants.
type SessionConfig struct {
	// Log is the log actor: consumes and subscriptions read from it.
	Log *actor.PID
	// Produce is where validated ProduceRequests go, with the client as
	// sender. It is the log actor today; consensus puts the raft actor here.
	// Nil means Log.
	Produce *actor.PID
	// Raft, when set, is the raft actor: it answers ServersRequest and
	// serves consistent consumes (which need the leader).
	Raft *actor.PID
	// Server describes this node in ServersResponse.
	Server *messages.Server
	// Logger receives the sessions' logs. Nil discards them.
	Logger *logrus.Entry

	// Counters, when set, counts the requests the sessions pass on. The
	// node exports it as metrics.
	Counters *SessionCounters
	// Authorizer, when set, decides what the identity of a remote session
	// may do (see Authorizer). Nil turns authorisation off: the node runs
	// without TLS, so there is no identity to check.
	Authorizer Authorizer
	// TracerProvider, when set, traces the requests the sessions pass on
	// (spans session.produce and session.consume, children of the
	// client's span when the request carries one). Nil traces nothing.
	TracerProvider trace.TracerProvider

	MaxRecordBytes   uint32
	MaxBatchBytes    uint32
	MaxBatchRecords  uint32
	IdleTimeout      time.Duration
	MaxSessions      int
	MaxSubscriptions int
	// MaxSessionsPerIdentity, MaxNodeSubscriptions, MaxParkedPerSession
	// and MaxParkedPolls: see their Default constants.
	MaxSessionsPerIdentity int
	MaxNodeSubscriptions   int
	MaxParkedPerSession    int
	MaxParkedPolls         int
	MaxCredit              uint32
	MaxPushRecords         uint32
	PollWait               time.Duration
	RetryBackoff           time.Duration
}

// Authorizer decides whether an identity may perform an action ("produce",
// "consume" or "admin"), returning an error when it may not. The node
// passes a policy (package authz); actors only need this one method.
type Authorizer interface {
	Authorize(identity, action string) error
}

// The actions sessions authorise.
const (
	ActionProduce = "produce"
	ActionConsume = "consume"
	ActionAdmin   = "admin"
)

func (c SessionConfig) withDefaults() SessionConfig {
	if c.Produce == nil {
		c.Produce = c.Log
	}
	if c.Logger == nil {
		c.Logger = discardLogger()
	}
	if c.Server == nil {
		c.Server = &messages.Server{}
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.MaxBatchRecords == 0 {
		c.MaxBatchRecords = DefaultMaxBatchRecords
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultSessionIdleTimeout
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if c.MaxSessionsPerIdentity == 0 {
		c.MaxSessionsPerIdentity = DefaultMaxSessionsPerIdentity
	}
	if c.MaxNodeSubscriptions == 0 {
		c.MaxNodeSubscriptions = DefaultMaxNodeSubscriptions
	}
	if c.MaxParkedPerSession == 0 {
		c.MaxParkedPerSession = DefaultMaxParkedPerSession
	}
	if c.MaxParkedPolls == 0 {
		c.MaxParkedPolls = DefaultMaxParkedPolls
	}
	if c.MaxCredit == 0 {
		c.MaxCredit = DefaultMaxCredit
	}
	if c.MaxPushRecords == 0 {
		c.MaxPushRecords = DefaultMaxPushRecords
	}
	if c.PollWait == 0 {
		c.PollWait = DefaultPollWait
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	return c
}

// Validate reports the first bad field, wrapped around ErrInvalidConfig.
func (c SessionConfig) Validate() error {
	switch {
	case c.Log == nil:
		return invalid("Log", "nil")
	case c.IdleTimeout < 0:
		return invalid("IdleTimeout", "negative (%s)", c.IdleTimeout)
	case c.MaxSessions < 0:
		return invalid("MaxSessions", "negative (%d)", c.MaxSessions)
	case c.MaxSubscriptions < 0:
		return invalid("MaxSubscriptions", "negative (%d)", c.MaxSubscriptions)
	case c.MaxSessionsPerIdentity < 0:
		return invalid("MaxSessionsPerIdentity", "negative (%d)", c.MaxSessionsPerIdentity)
	case c.MaxNodeSubscriptions < 0:
		return invalid("MaxNodeSubscriptions", "negative (%d)", c.MaxNodeSubscriptions)
	case c.MaxParkedPerSession < 0:
		return invalid("MaxParkedPerSession", "negative (%d)", c.MaxParkedPerSession)
	case c.MaxParkedPolls < 0:
		return invalid("MaxParkedPolls", "negative (%d)", c.MaxParkedPolls)
	case c.PollWait < 0:
		return invalid("PollWait", "negative (%s)", c.PollWait)
	case c.RetryBackoff < 0:
		return invalid("RetryBackoff", "negative (%s)", c.RetryBackoff)
	}
	d := c.withDefaults()
	if d.MaxRecordBytes > d.MaxBatchBytes {
		return invalid("MaxRecordBytes", "%d exceeds MaxBatchBytes %d", d.MaxRecordBytes, d.MaxBatchBytes)
	}
	return nil
}

func discardLogger() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// SessionCounters counts the requests that sessions accept, over every
// transport. Its fields are atomics, so reading them needs no message to
// the sessions.
type SessionCounters struct {
	ProduceRequests atomic.Uint64
	ProduceRecords  atomic.Uint64
	ConsumeRequests atomic.Uint64
	// Subscriptions is the number of subscription actors running now.
	Subscriptions atomic.Int64
	// ParkedPolls is the number of remote consumes waiting for records.
	ParkedPolls atomic.Int64
}
