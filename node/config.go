package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"

	"actorlog/actors"
	"actorlog/certs"
	"actorlog/consensus"
	"actorlog/tracing"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config.
const (
	// DefaultActorAddr is where the actor remote (protoactor over gRPC)
	// listens: clients and, later, peers send their messages here.
	DefaultActorAddr = "127.0.0.1:7400"
	// DefaultHTTPAddr is where the HTTP JSON API and /healthz listen.
	DefaultHTTPAddr = "127.0.0.1:7480"
	// DefaultRaftAddr is where the raft transport listens.
	DefaultRaftAddr = "127.0.0.1:7470"
	// DefaultGRPCAddr is where the gRPC Log service (messages/log.proto)
	// listens, for clients in any language.
	DefaultGRPCAddr = "127.0.0.1:7490"
	// DefaultRequestTimeout bounds every request the node makes of its own
	// actors (HTTP requests, health checks, startup and shutdown steps).
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxRecordBytes and DefaultMaxBatchBytes are the request limits
	// of sessions and of the HTTP API.
	DefaultMaxRecordBytes = actors.DefaultMaxRecordBytes
	DefaultMaxBatchBytes  = actors.DefaultMaxBatchBytes
	// MaxBatchBytesLimit is the largest --max-batch-bytes any node may
	// take. Every node's raft log and record log store entries of that
	// size, whatever its own request limits say: during a rolling change
	// of the limits, a follower must store and apply what a leader with
	// larger limits accepted (docs/DESIGN.md, invariant 4). It also keeps
	// an entry within raft-wal's 64 MiB.
	MaxBatchBytesLimit = 48 << 20
	// DefaultRaftSegmentBytes is the size of one raft log segment file.
	DefaultRaftSegmentBytes = consensus.DefaultSegmentBytes
	// DefaultGRPCMaxMessageBytes is the largest gRPC message the remote
	// accepts or sends. protoactor's endpoint writer packs several messages
	// into one gRPC message, and gRPC's own 4 MiB default would make a
	// stream carrying a large batch fail (losing every request on it).
	// The request limits are kept well below it: see Validate.
	DefaultGRPCMaxMessageBytes = 128 << 20
	// DefaultEndpointWriterBatchSize is how many messages the node's
	// endpoint writer packs into one gRPC message (protoactor's default is
	// 1000). Eight consume replies of at most 5 MiB each stay under the
	// 64 MiB a client accepts by default.
	DefaultEndpointWriterBatchSize = 8
	// DefaultRemoteMaxRetryCount is how often protoactor dials an endpoint
	// before it declares it terminated; each failed attempt costs 2 s
	// during which everything queued for that endpoint waits. A client that
	// went away is not worth waiting for.
	DefaultRemoteMaxRetryCount = 1
	// DefaultMaxWait caps a long poll (wait_ms, or wait= over HTTP).
	DefaultMaxWait = actors.DefaultMaxWait
	// DefaultMaxConnsPerPeer bounds the connections one peer host holds on
	// the actor port. A client process uses one per node, a node one per
	// peer; the rest of the headroom is for many processes on one host (a
	// benchmark, the specs on 127.0.0.1).
	DefaultMaxConnsPerPeer = 64
	// DefaultMaxStreamsPerConn bounds the concurrent gRPC streams of one
	// connection; protoactor uses one per connection.
	DefaultMaxStreamsPerConn = 8
	// DefaultHandshakeTimeout bounds the TLS (or HTTP/2) handshake of a
	// connection on the actor port; gRPC's own default is 120 s.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultConnIdleTimeout closes a connection on the actor port that has
	// had no stream for this long.
	DefaultConnIdleTimeout = 5 * time.Minute
)

// Config configures a node. Start from DefaultConfig(); zero fields of a
// hand-built Config take the defaults too, except DataDir, which is
// required.
type Config struct {
	// ID names the node in logs, in ServersResponse and (later) in Consul
	// and raft. Default: the host name.
	ID string
	// DataDir holds everything the node stores; the log's segments live in
	// its "log" subdirectory. It is created if missing and locked against
	// a second node.
	DataDir string
	// ActorAddr is the host:port the actor remote listens on. Port 0 lets
	// the kernel choose; ActorAddr() reports the bound address.
	ActorAddr string
	// AdvertisedActorAddr is the address clients should use to reach the
	// remote, when it differs from the bound one (NAT, containers). Empty
	// means the bound address.
	AdvertisedActorAddr string
	// HTTPAddr is the host:port of the HTTP JSON API; port 0 works as for
	// ActorAddr.
	HTTPAddr string
	// RaftAddr is the host:port of the raft transport; port 0 lets the
	// kernel choose, and the bound port is advertised.
	RaftAddr string
	// AdvertisedRaftAddr is the address other nodes dial for raft, when it
	// differs from the bound one: a stable DNS name (a StatefulSet pod's,
	// a Compose service's) where RaftAddr binds 0.0.0.0 or an address that
	// changes when the node restarts. Raft keeps members by this address,
	// so it must stay the same across restarts. Empty means the bound
	// address, which must then not be 0.0.0.0.
	AdvertisedRaftAddr string
	// GRPCAddr is the host:port of the gRPC Log service (package grpcapi);
	// port 0 works as for ActorAddr. It serves with the node's TLS and
	// policy, and its request limit follows MaxBatchBytes.
	GRPCAddr string
	// AdvertisedGRPCAddr is the gRPC address clients are told (in
	// GetServers, NotLeader and Consul) when it differs from the bound one
	// (NAT, containers). Empty means the bound address.
	AdvertisedGRPCAddr string
	// Bootstrap makes a node without raft state bootstrap a new cluster
	// with itself as the only voter. Ignored when it has state.
	Bootstrap bool
	// Join lists actor addresses of existing members. A node that is not a
	// voter asks them, with backoff, to add it, until it is one or stops.
	Join []string
	// Raft tunes raft (timeouts, snapshots); zero fields take consensus's
	// defaults. Its Logger is set by the node.
	Raft consensus.Config
	// RaftStore picks and tunes the raft log store; zero fields take
	// consensus's defaults. MaxEntryBytes is raised to fit the largest
	// produce request. Sync and SyncInterval are set from Storage: the
	// raft log follows the same fsync policy as the record log.
	RaftStore consensus.StoreConfig
	// DataFormat is the data directory format the node writes (1 or 2; see
	// DataFormat1 and DataFormat2). A directory of format 1 moves up to 2
	// when started with 2; one of format 2 is refused with 1. Format 2
	// needs the segmentstore raft log store. Default DefaultDataFormat.
	DataFormat int
	// Storage configures the segments: size limits, fsync policy and
	// retention. A zero Storage means actors.DefaultStorageConfig(); in a
	// partly filled one, zero fields take segmentstore's defaults, except
	// Sync, whose zero value is SyncNone. Its MaxRecordBytes is raised to
	// MaxRecordBytes when below it.
	Storage actors.StorageConfig
	// MaxRecordBytes and MaxBatchBytes limit one record and one produce
	// request; larger ones are refused with InvalidRequest (HTTP 413).
	MaxRecordBytes uint32
	MaxBatchBytes  uint32
	// RequestTimeout: see DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxWait: see DefaultMaxWait.
	MaxWait time.Duration
	// SessionIdleTimeout ends a client's session after this long without a
	// request and without a subscription. Default
	// actors.DefaultSessionIdleTimeout.
	SessionIdleTimeout time.Duration
	// StabilizationTime is how long a new member (a raft non-voter) must
	// stay caught up and answering before the leader makes it a voter.
	// Default actors.DefaultStabilizationTime.
	StabilizationTime time.Duration
	// MaxSessionsPerIdentity bounds the remote sessions of one identity.
	// Default actors.DefaultMaxSessionsPerIdentity.
	MaxSessionsPerIdentity int
	// MaxSegmentRestarts and SegmentRestartWindow: a segment actor that
	// crashes more than MaxSegmentRestarts times within the window is
	// stopped and the node reports itself unhealthy. Defaults
	// actors.DefaultMaxSegmentRestarts and actors.DefaultRestartWindow.
	MaxSegmentRestarts   int
	SegmentRestartWindow time.Duration
	// GRPCMaxMessageBytes, EndpointWriterBatchSize, RemoteMaxRetryCount:
	// see their Default constants.
	GRPCMaxMessageBytes     int
	EndpointWriterBatchSize int
	RemoteMaxRetryCount     int
	// MaxConnsPerPeer, MaxStreamsPerConn, HandshakeTimeout and
	// ConnIdleTimeout bound what one peer holds on the actor port before
	// any permission is checked: see their Default constants. The gRPC
	// receive limit is not set here: it follows MaxBatchBytes (see
	// grpcMaxRecvBytes).
	MaxConnsPerPeer   int
	MaxStreamsPerConn int
	HandshakeTimeout  time.Duration
	ConnIdleTimeout   time.Duration
	// ConsulAddr is the local Consul agent's HTTP API ("host:port"). When
	// set, the node registers there as service "actorlog" and runs the
	// membership actor (health check, reconcile on the leader). Empty
	// turns discovery off: the node then relies on Bootstrap and Join.
	ConsulAddr string
	// BootstrapExpect, when positive, makes a node without raft state
	// wait until that many nodes pass in Consul; then the one with the
	// lowest id among the first BootstrapExpect (by id) bootstraps raft
	// with all of them and the others are added by it. Requires
	// ConsulAddr; ignored when the node has raft state.
	BootstrapExpect int
	// ReconcileGrace is how long the leader keeps a voter that Consul
	// reports critical before removing it. Default
	// actors.DefaultReconcileGrace.
	ReconcileGrace time.Duration
	// Rejoin lets a data directory that left its cluster (Leave, actorlog
	// leave) start again: its raft log, snapshots, FSM state and record
	// log are dropped and it joins as a new member (through Consul or
	// Join), a non-voter that the leader promotes once it has caught up.
	// Off by default: such a directory refuses to start (ErrLeft), so a
	// node that was taken out never comes back as a voter unasked.
	Rejoin bool
	// FaultInjection enables POST /debug/fault/segment-crash, which makes
	// the active segment actor panic, and POST /debug/fault/diverge, which
	// makes this replica alter one record as it applies it. Off by default:
	// they exist for specs that prove crash recovery and the divergence
	// checker, and must never be on in production.
	FaultInjection bool
	// ChecksumInterval is how often the leader asks every replica to
	// compare the checksum of what it applied with the leader's (see
	// docs/DESIGN.md, "Replicas check each other"). Default
	// actors.DefaultChecksumInterval; negative turns the checks off.
	ChecksumInterval time.Duration
	// ScrubInterval paces the scrubber, which re-reads sealed segments
	// (actors.DefaultScrubBytes every interval) and has a replica with a
	// damaged record rebuilt from a peer (docs/DESIGN.md, "Replicas heal
	// themselves"). Default actors.DefaultScrubInterval; negative turns
	// the scrubber off (reads still find damage).
	ScrubInterval time.Duration
	// UnsafeRaftHeartbeatFastPath lets raft answer heartbeats outside its
	// main loop, as hashicorp/raft does by default. That path can make
	// replicas diverge after a leader pause (consensus.Transport says
	// how); it is off, and exists only to reproduce and measure the race.
	UnsafeRaftHeartbeatFastPath bool
	// TLS, when set, turns mutual TLS on for every channel of the node:
	// the actor remote (served and dialled, clients' dial-back listeners
	// included), the raft transport and the HTTP API. Build it with
	// certs.Load from the node certificate (certs.NodeOU), its key and the
	// CA; peers are verified by that CA, not by host name. Plaintext peers
	// and certificates of another CA are refused. Nil: plaintext, and no
	// authorisation.
	TLS *tls.Config
	// ACLPolicy is the authorisation policy file (package authz) mapping
	// client identities to the actions produce, consume and admin. It
	// needs TLS, which provides the identities. With TLS and no policy,
	// every client identity is denied (node certificates are always
	// allowed), and the node warns at start.
	ACLPolicy string
	// PprofAddr, when set, serves Go's runtime profiles (CPU, heap,
	// allocations, goroutines, execution trace) under /debug/pprof/ on
	// this host:port, a listener of its own, in plaintext and without
	// TLS or authorisation. Empty (the default) serves none: profiles
	// expose internals and cost CPU while they run, so bind it to
	// loopback when it is on. (Block and mutex profiles stay empty: their
	// sampling costs on every contended lock and is off.)
	PprofAddr string
	// Logger receives every log line of the node, protoactor's included.
	// Nil logs to stderr at info level.
	Logger *logrus.Logger
	// Tracing selects the node's span exporter; the zero value turns
	// tracing off. The node owns the provider it builds from it and
	// flushes it on Stop. Ignored when TracerProvider is set.
	Tracing tracing.Config
	// TracerProvider, when set, is the provider the node traces with
	// instead of one built from Tracing; its owner flushes and shuts it
	// down (after Stop).
	TracerProvider trace.TracerProvider
}

// DefaultConfig returns a Config with every default filled in. DataDir is
// left empty: the caller must choose where the data goes.
func DefaultConfig() Config {
	return Config{
		ID:                      defaultID(),
		ActorAddr:               DefaultActorAddr,
		HTTPAddr:                DefaultHTTPAddr,
		RaftAddr:                DefaultRaftAddr,
		GRPCAddr:                DefaultGRPCAddr,
		Raft:                    consensus.DefaultConfig(),
		Storage:                 actors.DefaultStorageConfig(),
		DataFormat:              DefaultDataFormat,
		MaxRecordBytes:          DefaultMaxRecordBytes,
		MaxBatchBytes:           DefaultMaxBatchBytes,
		RequestTimeout:          DefaultRequestTimeout,
		MaxWait:                 DefaultMaxWait,
		SessionIdleTimeout:      actors.DefaultSessionIdleTimeout,
		MaxSessionsPerIdentity:  actors.DefaultMaxSessionsPerIdentity,
		StabilizationTime:       actors.DefaultStabilizationTime,
		MaxSegmentRestarts:      actors.DefaultMaxSegmentRestarts,
		SegmentRestartWindow:    actors.DefaultRestartWindow,
		GRPCMaxMessageBytes:     DefaultGRPCMaxMessageBytes,
		EndpointWriterBatchSize: DefaultEndpointWriterBatchSize,
		RemoteMaxRetryCount:     DefaultRemoteMaxRetryCount,
		ReconcileGrace:          actors.DefaultReconcileGrace,
		MaxConnsPerPeer:         DefaultMaxConnsPerPeer,
		MaxStreamsPerConn:       DefaultMaxStreamsPerConn,
		HandshakeTimeout:        DefaultHandshakeTimeout,
		ConnIdleTimeout:         DefaultConnIdleTimeout,
		ChecksumInterval:        actors.DefaultChecksumInterval,
		ScrubInterval:           actors.DefaultScrubInterval,
	}
}

func defaultID() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "actorlog"
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ID == "" {
		c.ID = d.ID
	}
	if c.ActorAddr == "" {
		c.ActorAddr = d.ActorAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = d.HTTPAddr
	}
	if c.RaftAddr == "" {
		c.RaftAddr = d.RaftAddr
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = d.GRPCAddr
	}
	if c.Storage == (actors.StorageConfig{}) {
		c.Storage = d.Storage
	}
	if c.DataFormat == 0 {
		c.DataFormat = d.DataFormat
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = d.MaxRecordBytes
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = d.MaxBatchBytes
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.MaxWait == 0 {
		c.MaxWait = d.MaxWait
	}
	if c.SessionIdleTimeout == 0 {
		c.SessionIdleTimeout = d.SessionIdleTimeout
	}
	if c.MaxSegmentRestarts == 0 {
		c.MaxSegmentRestarts = d.MaxSegmentRestarts
	}
	if c.SegmentRestartWindow == 0 {
		c.SegmentRestartWindow = d.SegmentRestartWindow
	}
	if c.GRPCMaxMessageBytes == 0 {
		c.GRPCMaxMessageBytes = d.GRPCMaxMessageBytes
	}
	if c.EndpointWriterBatchSize == 0 {
		c.EndpointWriterBatchSize = d.EndpointWriterBatchSize
	}
	if c.ReconcileGrace == 0 {
		c.ReconcileGrace = actors.DefaultReconcileGrace
	}
	if c.RemoteMaxRetryCount == 0 {
		c.RemoteMaxRetryCount = d.RemoteMaxRetryCount
	}
	if c.MaxConnsPerPeer == 0 {
		c.MaxConnsPerPeer = d.MaxConnsPerPeer
	}
	if c.MaxStreamsPerConn == 0 {
		c.MaxStreamsPerConn = d.MaxStreamsPerConn
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.ConnIdleTimeout == 0 {
		c.ConnIdleTimeout = d.ConnIdleTimeout
	}
	if c.ChecksumInterval == 0 {
		c.ChecksumInterval = d.ChecksumInterval
	}
	if c.ScrubInterval == 0 {
		c.ScrubInterval = d.ScrubInterval
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	// The record log stores what raft committed, which the leader
	// checked against its own limits: another node's (a rolling change of
	// --max-record-bytes). Any record that fits a raft entry of the
	// cluster-wide size is taken, so an entry that commits can always be
	// applied here; the API's limits are checked where requests enter
	// (sessions, the raft actor on the leader).
	if need := storeEntryBytes(); c.Storage.MaxRecordBytes != 0 && c.Storage.MaxRecordBytes < need {
		c.Storage.MaxRecordBytes = need
	}
	return c
}

// grpcOverheadBytes is headroom for the envelope, type names and PIDs that
// travel with the messages of one gRPC message.
const grpcOverheadBytes = 1 << 20

// Validate reports the first bad field, wrapped around ErrInvalidConfig.
// Zero fields are valid (they take defaults), except DataDir.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if c.DataDir == "" {
		return bad("DataDir", "required")
	}
	if err := c.Tracing.Validate(); err != nil {
		return bad("Tracing", "%v", err)
	}
	d := c.withDefaults()
	for _, a := range []struct{ field, addr string }{{"ActorAddr", d.ActorAddr}, {"HTTPAddr", d.HTTPAddr}, {"RaftAddr", d.RaftAddr}, {"GRPCAddr", d.GRPCAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return bad(a.field, "%q is not host:port: %v", a.addr, err)
		}
	}
	if c.ConsulAddr != "" {
		if _, _, err := net.SplitHostPort(c.ConsulAddr); err != nil {
			return bad("ConsulAddr", "%q is not host:port: %v", c.ConsulAddr, err)
		}
	}
	if c.AdvertisedGRPCAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertisedGRPCAddr); err != nil {
			return bad("AdvertisedGRPCAddr", "%q is not host:port: %v", c.AdvertisedGRPCAddr, err)
		}
	}
	if c.AdvertisedActorAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertisedActorAddr); err != nil {
			return bad("AdvertisedActorAddr", "%q is not host:port: %v", c.AdvertisedActorAddr, err)
		}
	}
	if c.AdvertisedRaftAddr != "" {
		if _, port, err := net.SplitHostPort(c.AdvertisedRaftAddr); err != nil || port == "0" {
			return bad("AdvertisedRaftAddr", "%q is not host:port with a port", c.AdvertisedRaftAddr)
		}
	}
	switch {
	case c.RequestTimeout < 0:
		return bad("RequestTimeout", "negative (%s)", c.RequestTimeout)
	case c.MaxWait < 0:
		return bad("MaxWait", "negative (%s)", c.MaxWait)
	case c.StabilizationTime < 0:
		return bad("StabilizationTime", "negative (%s)", c.StabilizationTime)
	case c.MaxSessionsPerIdentity < 0:
		return bad("MaxSessionsPerIdentity", "negative (%d)", c.MaxSessionsPerIdentity)
	case c.SessionIdleTimeout < 0:
		return bad("SessionIdleTimeout", "negative (%s)", c.SessionIdleTimeout)
	case c.MaxSegmentRestarts < 0:
		return bad("MaxSegmentRestarts", "negative (%d)", c.MaxSegmentRestarts)
	case c.SegmentRestartWindow < 0:
		return bad("SegmentRestartWindow", "negative (%s)", c.SegmentRestartWindow)
	case c.GRPCMaxMessageBytes < 0:
		return bad("GRPCMaxMessageBytes", "negative (%d)", c.GRPCMaxMessageBytes)
	case c.EndpointWriterBatchSize < 0:
		return bad("EndpointWriterBatchSize", "negative (%d)", c.EndpointWriterBatchSize)
	case c.BootstrapExpect < 0:
		return bad("BootstrapExpect", "negative (%d)", c.BootstrapExpect)
	case c.BootstrapExpect > 0 && c.ConsulAddr == "":
		return bad("BootstrapExpect", "needs ConsulAddr: the nodes find each other in Consul")
	case c.BootstrapExpect > 0 && c.Bootstrap:
		return bad("BootstrapExpect", "conflicts with Bootstrap")
	case c.ReconcileGrace < 0:
		return bad("ReconcileGrace", "negative (%s)", c.ReconcileGrace)
	case c.RemoteMaxRetryCount < 0:
		return bad("RemoteMaxRetryCount", "negative (%d)", c.RemoteMaxRetryCount)
	case c.MaxConnsPerPeer < 0:
		return bad("MaxConnsPerPeer", "negative (%d)", c.MaxConnsPerPeer)
	case c.MaxStreamsPerConn < 0:
		return bad("MaxStreamsPerConn", "negative (%d)", c.MaxStreamsPerConn)
	case c.HandshakeTimeout < 0:
		return bad("HandshakeTimeout", "negative (%s)", c.HandshakeTimeout)
	case c.ConnIdleTimeout < 0:
		return bad("ConnIdleTimeout", "negative (%s)", c.ConnIdleTimeout)
	case d.DataFormat < DataFormat1 || d.DataFormat > LatestDataFormat:
		return bad("DataFormat", "%d is not a data format this build writes (%d to %d)", d.DataFormat, DataFormat1, LatestDataFormat)
	case d.DataFormat >= DataFormat2 && d.RaftStore.Kind != "" && d.RaftStore.Kind != consensus.StoreSegmentstore:
		return bad("DataFormat", "format %d needs the %q raft log store (records refer to its entries), not %q",
			d.DataFormat, consensus.StoreSegmentstore, d.RaftStore.Kind)
	case d.MaxRecordBytes > d.MaxBatchBytes:
		return bad("MaxRecordBytes", "%d exceeds MaxBatchBytes %d", d.MaxRecordBytes, d.MaxBatchBytes)
	case d.MaxBatchBytes > MaxBatchBytesLimit:
		return bad("MaxBatchBytes", "%d exceeds the limit of %d bytes that every node's logs store", d.MaxBatchBytes, MaxBatchBytesLimit)
	}
	if c.TLS != nil && !hasNodeCertificate(c.TLS) {
		return bad("TLS", "the node's certificate is not a node certificate (subject OU %q, as 'actorlog certs' makes them): other nodes would refuse it", certs.NodeOU)
	}
	if c.ACLPolicy != "" && c.TLS == nil {
		return bad("ACLPolicy", "needs TLS: identities come from client certificates (set --tls-cert, --tls-key and --tls-ca)")
	}
	for i, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			return bad(fmt.Sprintf("Join[%d]", i), "%q is not host:port: %v", j, err)
		}
	}
	if err := d.Raft.Validate(); err != nil {
		return bad("Raft", "%v", err)
	}
	if err := d.RaftStore.Validate(); err != nil {
		return bad("RaftStore", "%v", err)
	}
	if err := d.Storage.Validate(); err != nil {
		return bad("Storage", "%v", err)
	}
	// One request of the largest size must fit a gRPC message with room to
	// spare, and so must a packed batch of the largest consume replies.
	if need := uint64(d.MaxBatchBytes) + grpcOverheadBytes; uint64(d.GRPCMaxMessageBytes) < need {
		return bad("GRPCMaxMessageBytes", "%d is below MaxBatchBytes plus overhead (%d)", d.GRPCMaxMessageBytes, need)
	}
	reply := uint64(actors.DefaultMaxReadBytes) + uint64(d.MaxRecordBytes) + grpcOverheadBytes
	if need := uint64(d.EndpointWriterBatchSize) * reply; uint64(d.GRPCMaxMessageBytes) < need {
		return bad("GRPCMaxMessageBytes", "%d is below EndpointWriterBatchSize x the largest reply (%d)", d.GRPCMaxMessageBytes, need)
	}
	return nil
}

// grpcMaxRecvBytes is the largest gRPC message the actor port accepts:
// one produce batch (MaxBatchBytes) or one consume reply (to this node's
// own consistent reads forwarded to the leader), whichever is larger,
// plus framing. gRPC refuses a larger message by its length prefix,
// before it buffers any of it, so no peer makes the node hold more than
// this per stream (README, "Limits"). The send limit stays
// GRPCMaxMessageBytes: the endpoint writer packs several replies to a
// client into one message.
func (c Config) grpcMaxRecvBytes() int {
	reply := uint64(actors.DefaultMaxReadBytes) + uint64(c.MaxRecordBytes)
	n := max(uint64(c.MaxBatchBytes), reply) + grpcOverheadBytes
	return int(min(n, uint64(c.GRPCMaxMessageBytes)))
}

// hasNodeCertificate reports whether the configuration presents a node
// certificate.
func hasNodeCertificate(cfg *tls.Config) bool {
	if len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
		return false
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cfg.Certificates[0].Certificate[0]); err != nil {
			return false
		}
	}
	return certs.IsNode(leaf)
}

// SyncPolicy says when the node fsyncs what it appends (Config.Storage.Sync,
// the --sync flag): the record log and, following it, the raft log.
type SyncPolicy = actors.SyncPolicy

// ParseSyncPolicy parses "none", "interval" or "always" (case-insensitive).
func ParseSyncPolicy(s string) (SyncPolicy, error) { return actors.ParseSyncPolicy(s) }
