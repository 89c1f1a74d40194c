package consensus

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"actorlog/internal/logbridge"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Defaults for TransportConfig.
const (
	// DefaultTransportMaxPool is how many idle outbound connections are
	// kept per peer. Raft uses one for the pipeline, one for heartbeats and
	// one or two for other RPCs, so three avoids redialling (and a TLS
	// handshake) on every RPC.
	DefaultTransportMaxPool = 3
	// DefaultTransportTimeout is raft's usual I/O deadline for one RPC.
	// InstallSnapshot scales it with the snapshot size.
	DefaultTransportTimeout = 10 * time.Second
	// DefaultTLSHandshakeTimeout bounds how long an accepted connection may
	// take to finish its TLS handshake, so a silent or plaintext peer does
	// not hold a goroutine until shutdown. Without TLS it bounds the wait
	// for an accepted connection's first byte.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultConnIdleTimeout closes an accepted connection that has sent
	// nothing for this long. Raft's own connections carry heartbeats or
	// go back to the peer's pool, which redials a closed one.
	DefaultConnIdleTimeout = 5 * time.Minute
	// DefaultMaxConnsPerPeer bounds the accepted connections of one peer
	// host: raft keeps a pipeline, a heartbeat and a few pooled
	// connections per peer (MaxPool), and several nodes may share a host.
	DefaultMaxConnsPerPeer = 32
)

// TransportConfig configures the raft transport (PeerConfig.Transport).
// Zero fields take defaults.
type TransportConfig struct {
	// TLS, when set, is used both to serve accepted connections and to
	// dial peers, so it should carry the node certificate (Certificates or
	// GetCertificate/GetClientCertificate), the CA to trust (RootCAs and
	// ClientCAs) and ClientAuth (tls.RequireAndVerifyClientCert for mutual
	// TLS). Nil means plaintext TCP.
	TLS *tls.Config
	// MaxPool is the number of idle outbound connections kept per peer.
	// Default DefaultTransportMaxPool.
	MaxPool int
	// Timeout is the I/O deadline of one RPC. Default
	// DefaultTransportTimeout.
	Timeout time.Duration
	// HandshakeTimeout bounds the TLS handshake of accepted connections.
	// Default DefaultTLSHandshakeTimeout. Unused without TLS.
	HandshakeTimeout time.Duration
	// MaxRPCsInFlight is raft's pipelining depth; 0 keeps raft's default
	// (2), which raft measured as best under batching.
	MaxRPCsInFlight int
	// IdleTimeout closes an accepted connection silent for this long.
	// Default DefaultConnIdleTimeout.
	IdleTimeout time.Duration
	// MaxConnsPerPeer bounds the accepted connections of one peer host.
	// Default DefaultMaxConnsPerPeer.
	MaxConnsPerPeer int
	// PeerAllowed, when set with TLS, is asked after each accepted
	// handshake whether the peer certificate's identity (its Common Name)
	// may speak raft here; an error closes the connection. The node lets
	// in the current members only (or anyone while it is in no cluster
	// yet, to be added).
	PeerAllowed func(identity string) error
	// Logger receives the transport's logs. Nil discards them.
	Logger *logrus.Entry
	// UnsafeHeartbeatFastPath lets raft answer heartbeats on the
	// transport's goroutine, as hashicorp/raft does by default. Off by
	// default because that fast path can make replicas diverge (see
	// Transport); it exists to reproduce and measure that race.
	UnsafeHeartbeatFastPath bool
}

func (c TransportConfig) withDefaults() TransportConfig {
	if c.MaxPool == 0 {
		c.MaxPool = DefaultTransportMaxPool
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTransportTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultConnIdleTimeout
	}
	if c.MaxConnsPerPeer == 0 {
		c.MaxConnsPerPeer = DefaultMaxConnsPerPeer
	}
	return c
}

// Validate reports a negative field as a *ConfigError.
func (c TransportConfig) Validate() error {
	switch {
	case c.MaxPool < 0:
		return &ConfigError{Field: "MaxPool", Reason: "negative"}
	case c.Timeout < 0:
		return &ConfigError{Field: "Timeout", Reason: "negative"}
	case c.HandshakeTimeout < 0:
		return &ConfigError{Field: "HandshakeTimeout", Reason: "negative"}
	case c.MaxRPCsInFlight < 0:
		return &ConfigError{Field: "MaxRPCsInFlight", Reason: "negative"}
	case c.IdleTimeout < 0:
		return &ConfigError{Field: "IdleTimeout", Reason: "negative"}
	case c.MaxConnsPerPeer < 0:
		return &ConfigError{Field: "MaxConnsPerPeer", Reason: "negative"}
	}
	return nil
}

// Transport is raft's NetworkTransport over this package's stream layer,
// without raft's heartbeat fast path.
//
// Why: hashicorp/raft answers a heartbeat on the transport's goroutine
// when a handler is registered, and that handler raises the current term
// while the leader loop may still be dispatching logs it accepted as
// leader. A leader that was paused (GC, SIGSTOP, a stalled disk) and comes
// back then writes its queued entries stamped with the newer term, a term
// it never led; another node already holds different entries at the same
// (index, term), so raft never repairs them and the replicas diverge for
// good (hashicorp/raft issue 695, still open, with an unmerged fix in pull
// request 701). docs/DESIGN.md ("Raft's heartbeat fast path") has what it
// costs and when to drop this.
//
// With SetHeartbeatHandler a no-op, a heartbeat is an ordinary
// AppendEntries handled by raft's main loop, in order with everything else.
type Transport struct {
	*raft.NetworkTransport
	fastPath bool
}

// SetHeartbeatHandler drops raft's heartbeat fast path unless the
// transport was built with UnsafeHeartbeatFastPath.
func (t *Transport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	if t.fastPath {
		t.NetworkTransport.SetHeartbeatHandler(cb)
	}
}

// newTCPTransport listens on bindAddr and returns a Transport over a
// stream layer of this package, which speaks TLS when cfg.TLS is set and
// plaintext TCP otherwise.
//
// bindAddr may use port 0; the transport's LocalAddr then reports the port
// the kernel chose. advertise is the address peers dial; nil means the bound
// address, which must then not be 0.0.0.0 or [::] (ErrNotAdvertisable). An
// advertise address with port 0 takes the bound port.
//
// Closing the transport closes the listener and every connection it
// accepted or dialled, so no connection goroutine outlives it.
func newTCPTransport(bindAddr string, advertise net.Addr, cfg TransportConfig) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	stream, err := newStreamLayer(bindAddr, advertise, cfg.TLS, cfg.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	stream.SetLimits(cfg.IdleTimeout, cfg.MaxConnsPerPeer, cfg.PeerAllowed, cfg.Logger)
	nt := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:          stream,
		MaxPool:         cfg.MaxPool,
		MaxRPCsInFlight: cfg.MaxRPCsInFlight,
		Timeout:         cfg.Timeout,
		Logger:          logbridge.NewHCLogger(cfg.Logger, "raft-net"),
	})
	return &Transport{NetworkTransport: nt, fastPath: cfg.UnsafeHeartbeatFastPath}, nil
}

// streamLayer is a raft.StreamLayer over TCP with optional TLS. It tracks
// every connection it hands out so that Close really ends them: raft's
// NetworkTransport closes only the listener, which would leave the goroutines
// serving accepted connections (and peers' pooled connections) running.
type streamLayer struct {
	ln               net.Listener
	advertise        net.Addr
	tls              *tls.Config
	handshakeTimeout time.Duration

	// Limits on accepted connections (SetLimits).
	idleTimeout time.Duration
	maxPerPeer  int
	peerAllowed func(identity string) error
	log         *logrus.Entry

	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	perPeer map[string]int // accepted connections by peer host
	closed  bool
	lastLog map[string]time.Time
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// newStreamLayer listens on bindAddr. See newTCPTransport for advertise and
// tlsCfg; handshakeTimeout 0 means DefaultTLSHandshakeTimeout.
func newStreamLayer(bindAddr string, advertise net.Addr, tlsCfg *tls.Config, handshakeTimeout time.Duration) (*streamLayer, error) {
	if handshakeTimeout <= 0 {
		handshakeTimeout = DefaultTLSHandshakeTimeout
	}
	ln, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, fmt.Errorf("consensus: raft transport listen on %q: %w", bindAddr, err)
	}
	bound := ln.Addr().(*net.TCPAddr)
	if advertise == nil {
		if bound.IP == nil || bound.IP.IsUnspecified() {
			_ = ln.Close()
			return nil, fmt.Errorf("%w: bound to %s", ErrNotAdvertisable, bound)
		}
		advertise = bound
	} else if ta, ok := advertise.(*net.TCPAddr); ok && ta.Port == 0 {
		c := *ta
		c.Port = bound.Port
		advertise = &c
	}
	if ta, ok := advertise.(*net.TCPAddr); ok && (ta.IP == nil || ta.IP.IsUnspecified()) {
		_ = ln.Close()
		return nil, fmt.Errorf("%w: advertise %s", ErrNotAdvertisable, advertise)
	}
	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone()
	}
	return &streamLayer{
		ln:               ln,
		advertise:        advertise,
		tls:              tlsCfg,
		handshakeTimeout: handshakeTimeout,
		idleTimeout:      DefaultConnIdleTimeout,
		conns:            make(map[*trackedConn]struct{}),
		perPeer:          make(map[string]int),
		lastLog:          make(map[string]time.Time),
	}, nil
}

// SetLimits sets the limits on accepted connections (see TransportConfig;
// zero idle means none, zero maxPerPeer no bound). Call it before the
// layer accepts.
func (s *streamLayer) SetLimits(idle time.Duration, maxPerPeer int, peerAllowed func(string) error, log *logrus.Entry) {
	s.idleTimeout, s.maxPerPeer, s.peerAllowed, s.log = idle, maxPerPeer, peerAllowed, log
}

// Accept waits for the next inbound connection. With TLS the handshake is
// not done here, where it would stall every other peer, but on the
// connection's first read, bounded by the handshake timeout; without TLS
// the first byte is awaited as long. A peer host that already holds
// MaxConnsPerPeer connections has its new one closed at once.
func (s *streamLayer) Accept() (net.Conn, error) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return nil, err
		}
		host := peerHost(c.RemoteAddr())
		if !s.admit(host) {
			s.logPeer(host, "refused a raft connection: the peer holds too many already")
			_ = c.Close()
			continue
		}
		var sc net.Conn = c
		if s.tls != nil {
			sc = &serverTLSConn{Conn: tls.Server(c, s.tls), timeout: s.handshakeTimeout, allowed: s.peerAllowed}
		}
		tc, err := s.track(&deadlineConn{Conn: sc, first: s.handshakeTimeout, idle: s.idleTimeout})
		if err != nil {
			s.release(host)
			return nil, err
		}
		tc.(*trackedConn).peer = host
		return tc, nil
	}
}

func peerHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return a.String()
}

func (s *streamLayer) admit(host string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxPerPeer > 0 && s.perPeer[host] >= s.maxPerPeer {
		return false
	}
	s.perPeer[host]++
	return true
}

func (s *streamLayer) release(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perPeer[host]--; s.perPeer[host] <= 0 {
		delete(s.perPeer, host)
	}
}

// logPeer logs about a peer host at most once a second.
func (s *streamLayer) logPeer(host, msg string) {
	if s.log == nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	if t, ok := s.lastLog[host]; ok && now.Sub(t) < time.Second {
		s.mu.Unlock()
		return
	}
	if len(s.lastLog) > 4096 {
		clear(s.lastLog)
	}
	s.lastLog[host] = now
	s.mu.Unlock()
	s.log.WithField("peer", host).Warn(msg)
}

// Dial connects to a peer, completing the TLS handshake (when configured)
// within timeout.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var (
		c   net.Conn
		err error
	)
	if s.tls != nil {
		d := tls.Dialer{Config: s.tls}
		c, err = d.DialContext(ctx, "tcp", string(address))
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", string(address))
	}
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

// Addr is the advertised address, which peers dial.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// BoundAddr is the address the listener is bound to (the real port when
// bindAddr used port 0).
func (s *streamLayer) BoundAddr() net.Addr { return s.ln.Addr() }

// Close closes the listener and every tracked connection. It is idempotent.
func (s *streamLayer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()

	err := s.ln.Close()
	for c := range conns {
		_ = c.Conn.Close()
	}
	return err
}

// deadlineConn bounds every read of an accepted connection: the first by
// the handshake timeout, the others by the idle timeout, so that a silent
// peer (plaintext too) holds nothing for long.
type deadlineConn struct {
	net.Conn
	first, idle time.Duration
	started     bool
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	d := c.idle
	if !c.started {
		d = c.first
	}
	if d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.started = true
	}
	return n, err
}

func (s *streamLayer) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, owner: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

func (s *streamLayer) untrack(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if c.peer != "" {
		if s.perPeer[c.peer]--; s.perPeer[c.peer] <= 0 {
			delete(s.perPeer, c.peer)
		}
	}
}

type trackedConn struct {
	net.Conn
	owner *streamLayer
	once  sync.Once
	peer  string // the peer host of an accepted connection
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.owner.untrack(c) })
	return err
}

// serverTLSConn finishes the server handshake under a deadline on first use.
type serverTLSConn struct {
	*tls.Conn
	timeout time.Duration
	allowed func(identity string) error
	once    sync.Once
	err     error
}

func (c *serverTLSConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("consensus: raft transport TLS handshake with %s: %w", c.RemoteAddr(), err)
			return
		}
		if c.allowed == nil {
			return
		}
		id := ""
		if pc := c.ConnectionState().PeerCertificates; len(pc) > 0 {
			id = pc[0].Subject.CommonName
		}
		if err := c.allowed(id); err != nil {
			c.err = fmt.Errorf("consensus: raft transport peer %s (%q): %w", c.RemoteAddr(), id, err)
			_ = c.Conn.Close()
		}
	})
	return c.err
}

func (c *serverTLSConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *serverTLSConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
