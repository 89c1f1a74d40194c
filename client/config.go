package client

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config. A zero field in a Config passed to New is replaced by
// the matching default, so callers only set what they care about.
const (
	// DefaultServer is where a node listens when started with `make run`.
	DefaultServer = "127.0.0.1:7400"
	// DefaultListenAddr is the fallback listener when no route to the first
	// server tells which local address nodes can reach. Port 0 lets the
	// kernel pick: replies are dialled back to the client, so it needs a
	// listener of its own, but nobody has to know its port in advance.
	DefaultListenAddr = "127.0.0.1:0"
	// DefaultTimeout bounds an operation whose context has no deadline,
	// retries included.
	DefaultTimeout = 30 * time.Second
	// DefaultAttemptTimeout bounds one request/reply exchange. It is short
	// so that a lost request or a dead node is retried quickly instead of
	// eating the whole operation deadline.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the (jittered,
	// exponential) pause between retries.
	DefaultMinBackoff = 25 * time.Millisecond
	DefaultMaxBackoff = time.Second
	// DefaultMaxInFlight is how many produce requests one Client keeps in
	// flight at once. Remote request/reply is latency bound (a few hundred
	// microseconds a round trip), so throughput needs several at once.
	DefaultMaxInFlight = 8
	// DefaultMaxBatchRecords caps the records of one ProduceRequest, on top
	// of the byte limit the session announces.
	DefaultMaxBatchRecords = 1000
	// DefaultMaxBatchBytes caps the bytes of one ProduceRequest when the
	// session allows more. A megabyte already amortises the round trip;
	// bigger requests only make the gRPC messages that the endpoint writer
	// packs from several of them risk the node's receive limit.
	DefaultMaxBatchBytes = 1 << 20
	// DefaultMaxMessageBytes is the largest gRPC message the client's
	// listener accepts and its dialler sends. gRPC's own default (4 MiB) is
	// smaller than a batch of consume replies packed by a node's endpoint
	// writer, and an oversized message kills the whole stream silently.
	DefaultMaxMessageBytes = 64 << 20
	// DefaultEndpointWriterBatchSize is how many messages the client's
	// endpoint writer packs into one gRPC message (protoactor's default is
	// 1000, which multiplied by a large produce batch exceeds any sane
	// receive limit on the node).
	DefaultEndpointWriterBatchSize = 4
	// DefaultSubscribeBuffer is the number of records a subscription may
	// hold unread: the credit it grants the node.
	DefaultSubscribeBuffer = 1024
	// DefaultHeartbeat is how often an idle subscription checks that its
	// session still exists, so a restarted node is noticed.
	DefaultHeartbeat = 2 * time.Second
	// DefaultRefreshInterval is how often an active client asks for the
	// member list when nothing prompts it (a NotLeader reply, a timeout or
	// a lost node refresh it at once), so members that joined are used.
	DefaultRefreshInterval = 10 * time.Second
	// DefaultClientName names the client in the node's logs.
	DefaultClientName = "actorlog-client"
)

// Config configures a Client. Start from DefaultConfig, or leave fields zero
// to get their defaults.
type Config struct {
	// Servers are the actor addresses (host:port) of nodes: any of them
	// is enough to find the rest. The client learns the members and the
	// leader from a node's server list, sends produce requests to the
	// leader and spreads reads over the other members; it moves to another
	// node on failure, and to the leader a node names in a NotLeader reply.
	Servers []string
	// Consul is the HTTP API ("host:port") of a Consul agent that knows
	// the nodes. When set, New looks up the passing instances of
	// ConsulService there and tries them before Servers (which may then be
	// empty); the members and the leader are learnt from them as usual.
	// When no node the client knows answers, it looks them up again.
	Consul string
	// ConsulService is the service name the nodes register. Default
	// "actorlog".
	ConsulService string
	// ListenAddr is the client's own remote listener (host:port). Nodes
	// dial replies and subscription pushes back to it, so its host must be
	// an address the nodes can reach. Empty means: the local address this
	// host uses to reach Servers[0] (127.0.0.1 for a node on this machine),
	// port 0.
	ListenAddr string
	// AdvertisedAddr is the address nodes should dial back, when it differs
	// from the listener's (NAT, containers). Empty means the listener's.
	AdvertisedAddr string
	// TLS, when set, speaks mutual TLS to the nodes and on the client's
	// own listener (which nodes dial back with their certificates). Build
	// it with certs.Load from a client certificate, its key and the CA
	// that signed the nodes; the certificate's Common Name is the identity
	// the nodes authorise. Nil: plaintext, which a node with TLS refuses
	// (New then fails with ErrTLSRequired).
	TLS *tls.Config
	// Transport selects the actor remote (TransportActor, the default) or
	// the gRPC Log service (TransportGRPC; Servers are then --grpc-addr
	// addresses, and Consul's instances are dialled at their grpc_addr).
	// ListenAddr, AdvertisedAddr and EndpointWriterBatchSize apply to the
	// actor remote only.
	Transport Transport
	// Name identifies the client in the node's logs and metrics only.
	Name string

	// Timeout bounds an operation whose context has no deadline.
	Timeout time.Duration
	// AttemptTimeout bounds one request/reply exchange; a long-poll
	// Consume adds its Wait on top.
	AttemptTimeout time.Duration
	// MinBackoff and MaxBackoff bound the pause between retries.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// RefreshInterval is how often an active client refreshes its view of
	// the cluster (members, leader) when no failure prompts it.
	RefreshInterval time.Duration

	// MaxInFlight is the number of produce requests in flight at once.
	MaxInFlight int
	// MaxBatchRecords caps the records in one ProduceRequest.
	MaxBatchRecords int
	// MaxBatchBytes caps the bytes of one ProduceRequest; the session's
	// own limit applies when it is lower.
	MaxBatchBytes int

	// MaxMessageBytes caps a gRPC message in both directions on the
	// client's remote.
	MaxMessageBytes int
	// EndpointWriterBatchSize is the number of actor messages packed into
	// one gRPC message by the client's endpoint writer.
	EndpointWriterBatchSize int

	// Logger receives the client's and protoactor's logs. Nil means a
	// logger that discards everything: a library writes nothing unless
	// asked to.
	Logger *logrus.Logger

	// TracerProvider, when set, traces every Produce and Consume call
	// (spans actorlog.produce and actorlog.consume) and sends the trace
	// context to the node with each request. Nil traces nothing and sends
	// no trace headers. See the tracing package.
	TracerProvider trace.TracerProvider
	// Registerer, when set, gets the RequestDurationMetric histogram.
	// Clients sharing one registry share the histogram. Nil records none.
	Registerer prometheus.Registerer
}

// DefaultConfig returns a Config with every default filled in, talking to
// DefaultServer. ListenAddr is left empty, so that it follows Servers (see
// ListenAddr).
func DefaultConfig() Config {
	c := Config{Servers: []string{DefaultServer}}
	c.setDefaults()
	c.ListenAddr = ""
	return c
}

// setDefaults fills every zero field with its default.
func (c *Config) setDefaults() {
	if c.ListenAddr == "" {
		c.ListenAddr = listenAddrFor(c.Servers)
	}
	if c.Name == "" {
		c.Name = DefaultClientName
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxBatchRecords == 0 {
		c.MaxBatchRecords = DefaultMaxBatchRecords
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.EndpointWriterBatchSize == 0 {
		c.EndpointWriterBatchSize = DefaultEndpointWriterBatchSize
	}
}

// listenAddrFor picks the local address on the route to the first server.
// A UDP "connection" only asks the kernel for the route; nothing is sent.
func listenAddrFor(servers []string) string {
	if len(servers) == 0 {
		return DefaultListenAddr
	}
	conn, err := net.Dial("udp", servers[0])
	if err != nil {
		return DefaultListenAddr
	}
	defer conn.Close()
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || ua.IP.IsUnspecified() {
		return DefaultListenAddr
	}
	return net.JoinHostPort(ua.IP.String(), "0")
}

// Validate reports the first field that cannot work, as a
// *InvalidRequestError naming it. It expects defaults to be filled in
// (DefaultConfig, or New, does that).
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &InvalidRequestError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch c.Transport {
	case "", TransportActor, TransportGRPC:
	default:
		return bad("Transport", "%q is neither %q nor %q", c.Transport, TransportActor, TransportGRPC)
	}
	if len(c.Servers) == 0 && !(c.Transport == TransportGRPC && c.Consul != "") {
		if c.Consul != "" {
			return bad("Consul", "no passing actorlog node is registered at %s", c.Consul)
		}
		return bad("Servers", "at least one server address is required")
	}
	for i, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return bad(fmt.Sprintf("Servers[%d]", i), "%q is not host:port: %v", s, err)
		}
	}
	if c.ListenAddr != "" { // empty: chosen by New, see ListenAddr
		if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
			return bad("ListenAddr", "%q is not host:port: %v", c.ListenAddr, err)
		}
	}
	if c.AdvertisedAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertisedAddr); err != nil {
			return bad("AdvertisedAddr", "%q is not host:port: %v", c.AdvertisedAddr, err)
		}
	}
	switch {
	case c.Timeout < 0:
		return bad("Timeout", "must not be negative")
	case c.AttemptTimeout < 0:
		return bad("AttemptTimeout", "must not be negative")
	case c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff:
		return bad("MaxBackoff", "need 0 <= MinBackoff <= MaxBackoff")
	case c.RefreshInterval < 0:
		return bad("RefreshInterval", "must not be negative")
	case c.MaxInFlight < 1:
		return bad("MaxInFlight", "must be at least 1")
	case c.MaxBatchRecords < 1:
		return bad("MaxBatchRecords", "must be at least 1")
	case c.MaxBatchBytes < 1024:
		return bad("MaxBatchBytes", "must be at least 1 KiB")
	case c.MaxMessageBytes < 1<<20:
		return bad("MaxMessageBytes", "must be at least 1 MiB")
	case c.EndpointWriterBatchSize < 1:
		return bad("EndpointWriterBatchSize", "must be at least 1")
	}
	return nil
}
