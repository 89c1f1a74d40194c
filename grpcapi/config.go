package grpcapi

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/credentials"
)

// Defaults of Config.
const (
	// DefaultRequestTimeout bounds the wait for a session's answer when
	// the call's own deadline is later or absent. Past it the call fails
	// Unavailable (retry: the node did not answer), not DeadlineExceeded,
	// which is reserved for the caller's deadline.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultStreamWindow is how many requests of one ProduceStream may be
	// in flight at once; the stream stops reading past it.
	DefaultStreamWindow = 128
	// DefaultStreamCredit is how many records one ConsumeStream may have
	// pushed to the node's inbox and not yet handed to gRPC: the bound of
	// what a slow reader costs the node (times the record size).
	DefaultStreamCredit = 512
	// DefaultStreamMaxBytes bounds one ConsumeStream response when the
	// request leaves max_bytes at zero.
	DefaultStreamMaxBytes = 1 << 20
	// DefaultMaxRecvBytes is the largest request accepted; the node sets
	// it from --max-batch-bytes.
	DefaultMaxRecvBytes = 8 << 20
	// DefaultMaxSendBytes is the largest response sent; a read answers at
	// most 4 MiB plus one record.
	DefaultMaxSendBytes = 64 << 20
	// DefaultWindowBytes and DefaultConnWindowBytes are the HTTP/2 flow
	// control windows of one stream and of one connection. gRPC's 64 KiB
	// default makes every produce request of 100 KiB wait a round trip
	// for a window update; a ConsumeStream is still bounded by them.
	DefaultWindowBytes     = 1 << 20
	DefaultConnWindowBytes = 4 << 20
	// DefaultHealthInterval is how often grpc.health.v1 is brought up to
	// date with Config.Ready.
	DefaultHealthInterval = time.Second
	// DefaultKeepaliveTime and DefaultKeepaliveTimeout: the server pings
	// a connection idle this long and closes it when the ping is not
	// answered within the timeout, so a vanished client (NAT timeout,
	// pulled cable) does not hold a stream and its session forever.
	DefaultKeepaliveTime    = 30 * time.Second
	DefaultKeepaliveTimeout = 10 * time.Second
	// DefaultKeepaliveMinTime is the shortest client ping interval
	// accepted; faster pingers are disconnected (gRPC's "too_many_pings").
	DefaultKeepaliveMinTime = 10 * time.Second
)

// Config configures a Server. Zero fields take the Default* constants.
type Config struct {
	// System is the node's actor system, and Sessions its session
	// acceptor. Required.
	System   *actor.ActorSystem
	Sessions *actor.PID
	// TLS, when set, makes the server require a client certificate
	// verified by the configuration's CA (the node's mutual TLS) for every
	// method but grpc.health.v1's Check, which probes without a
	// certificate may call; the certificate's identity is then what the sessions
	// authorise. Nil serves plaintext, trusting every peer as the other
	// channels do.
	TLS *tls.Config
	// Creds, when set, replaces the credentials built from TLS (the node
	// passes credentials that log refused handshakes); they should be
	// built from ServerTLS(TLS). TLS must still be set for identities to
	// be read and certificates to be required.
	Creds credentials.TransportCredentials
	// Ready reports whether the node can serve; grpc.health.v1 answers
	// SERVING while it returns nil. Nil: always SERVING.
	Ready func() error
	// Logger receives the server's logs. Nil discards them.
	Logger *logrus.Entry

	RequestTimeout   time.Duration
	StreamWindow     int
	StreamCredit     uint32
	StreamMaxBytes   uint32
	MaxRecvBytes     int
	MaxSendBytes     int
	WindowBytes      int32
	ConnWindowBytes  int32
	HealthInterval   time.Duration
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	KeepaliveMinTime time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		c.Logger = logrus.NewEntry(l)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.StreamWindow == 0 {
		c.StreamWindow = DefaultStreamWindow
	}
	if c.StreamCredit == 0 {
		c.StreamCredit = DefaultStreamCredit
	}
	if c.StreamMaxBytes == 0 {
		c.StreamMaxBytes = DefaultStreamMaxBytes
	}
	if c.MaxRecvBytes == 0 {
		c.MaxRecvBytes = DefaultMaxRecvBytes
	}
	if c.MaxSendBytes == 0 {
		c.MaxSendBytes = DefaultMaxSendBytes
	}
	if c.WindowBytes == 0 {
		c.WindowBytes = DefaultWindowBytes
	}
	if c.ConnWindowBytes == 0 {
		c.ConnWindowBytes = DefaultConnWindowBytes
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.KeepaliveTime == 0 {
		c.KeepaliveTime = DefaultKeepaliveTime
	}
	if c.KeepaliveTimeout == 0 {
		c.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if c.KeepaliveMinTime == 0 {
		c.KeepaliveMinTime = DefaultKeepaliveMinTime
	}
	return c
}

// Validate reports the first bad field, wrapped around ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.System == nil:
		return bad("System", "required")
	case c.Sessions == nil:
		return bad("Sessions", "required")
	case c.RequestTimeout < 0:
		return bad("RequestTimeout", "negative (%s)", c.RequestTimeout)
	case c.StreamWindow < 0:
		return bad("StreamWindow", "negative (%d)", c.StreamWindow)
	case c.MaxRecvBytes < 0:
		return bad("MaxRecvBytes", "negative (%d)", c.MaxRecvBytes)
	case c.MaxSendBytes < 0:
		return bad("MaxSendBytes", "negative (%d)", c.MaxSendBytes)
	case c.HealthInterval < 0:
		return bad("HealthInterval", "negative (%s)", c.HealthInterval)
	case c.KeepaliveTime < 0:
		return bad("KeepaliveTime", "negative (%s)", c.KeepaliveTime)
	case c.KeepaliveTimeout < 0:
		return bad("KeepaliveTimeout", "negative (%s)", c.KeepaliveTimeout)
	case c.KeepaliveMinTime < 0:
		return bad("KeepaliveMinTime", "negative (%s)", c.KeepaliveMinTime)
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
