package raftmux

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/yamux"
)

// hello opens every connection a Mux dials.
const hello = "actorlog-raftmux/1\n"

// Limits of the wire.
const (
	// MaxNameBytes bounds a group name and a listen address on the wire.
	MaxNameBytes = 512
	// DefaultHandshakeTimeout bounds reading a connection's hello and a
	// stream's group name.
	DefaultHandshakeTimeout = 5 * time.Second
)

var (
	// ErrClosed is returned by a closed Mux or Group.
	ErrClosed = errors.New("raftmux: closed")
	// ErrGroupOpen is returned by Group for a name already open.
	ErrGroupOpen = errors.New("raftmux: group already open")
	// ErrBadHandshake is wrapped when a peer's hello or a stream's group
	// name does not decode.
	ErrBadHandshake = errors.New("raftmux: bad handshake")
)

// Config configures a Mux.
type Config struct {
	// Listener accepts peers' connections (TLS already wrapped, if any).
	// The Mux owns it and closes it on Close. Required.
	Listener net.Listener
	// Advertise is the address peers dial to reach this node. Default
	// the listener's address.
	Advertise string
	// Dial connects to a peer (with TLS, if any). Default net.Dialer.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// HandshakeTimeout: default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// KeepAlive is the interval of yamux pings on idle sessions, which
	// find a dead peer behind a silent connection. Default 10 s.
	KeepAlive time.Duration
	// Log receives yamux's own messages. Default discarded.
	Log io.Writer
}

// Mux multiplexes raft groups over one listener and one connection per
// peer. Its goroutines are owned by it and end with Close.
type Mux struct {
	cfg  Config
	addr net.Addr
	ymx  *yamux.Config

	mu       sync.Mutex
	closed   bool
	sessions map[string]*yamux.Session // by peer listen address
	groups   map[string]*Group
	conns    map[io.Closer]struct{} // accepted, before their hello

	done chan struct{}
	wg   sync.WaitGroup
}

// New starts a Mux accepting on cfg.Listener.
func New(cfg Config) (*Mux, error) {
	if cfg.Listener == nil {
		return nil, errors.New("raftmux: Config.Listener is required")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 10 * time.Second
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	addr := cfg.Listener.Addr()
	if cfg.Advertise == "" {
		cfg.Advertise = addr.String()
	}
	ymx := yamux.DefaultConfig()
	ymx.LogOutput = cfg.Log
	ymx.KeepAliveInterval = cfg.KeepAlive
	// A stream the peer never acknowledges fails the session, so the next
	// dial starts over on a new connection.
	ymx.StreamOpenTimeout = 2 * cfg.HandshakeTimeout
	// raft's InstallSnapshot streams many MiB; a larger window keeps one
	// snapshot from crawling behind the per-stream flow control.
	ymx.MaxStreamWindowSize = 4 << 20
	m := &Mux{cfg: cfg, addr: addr, ymx: ymx, sessions: map[string]*yamux.Session{},
		groups: map[string]*Group{}, conns: map[io.Closer]struct{}{}, done: make(chan struct{})}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Addr is the listener's address.
func (m *Mux) Addr() net.Addr { return m.addr }

// Sessions is the number of open sessions (one per connected peer, two
// for a pair that dialled each other at once).
func (m *Mux) Sessions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.sessions {
		if !s.IsClosed() {
			n++
		}
	}
	return n
}

// Close stops accepting, closes every session and group, and waits for
// the Mux's goroutines. It is idempotent.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.wg.Wait()
		return nil
	}
	m.closed = true
	close(m.done)
	err := m.cfg.Listener.Close()
	for _, s := range m.sessions {
		_ = s.Close()
	}
	for c := range m.conns {
		_ = c.Close()
	}
	for _, g := range m.groups {
		g.closeLocked()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return err
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	for {
		c, err := m.cfg.Listener.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (out of file descriptors): back
			// off a little rather than spin.
			select {
			case <-m.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !m.track(c) {
			_ = c.Close()
			return
		}
		m.wg.Add(1)
		go m.serveConn(c)
	}
}

// track registers c to be closed by Close, or says the Mux is closed.
func (m *Mux) track(c io.Closer) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *Mux) untrack(c io.Closer) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// serveConn reads an accepted connection's hello and runs its session.
func (m *Mux) serveConn(c net.Conn) {
	defer m.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	br := bufio.NewReaderSize(c, 64)
	peer, err := readHello(br)
	if err != nil {
		m.untrack(c)
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	s, err := yamux.Server(&bufferedConn{Conn: c, r: br}, m.ymx)
	m.untrack(c)
	if err != nil {
		_ = c.Close()
		return
	}
	if !m.adopt(peer, s) {
		_ = s.Close()
		return
	}
	m.serveSession(peer, s)
}

// adopt keeps s as the session of peer unless one is open already, and
// says whether the Mux is still open. A spare session still serves the
// streams the peer opens on it.
func (m *Mux) adopt(peer string, s *yamux.Session) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	if old, ok := m.sessions[peer]; !ok || old.IsClosed() {
		m.sessions[peer] = s
	} else {
		m.conns[s] = struct{}{} // closed by Close all the same
	}
	return true
}

// serveSession hands each stream the peer opens to its group, until the
// session ends.
func (m *Mux) serveSession(peer string, s *yamux.Session) {
	defer func() {
		m.mu.Lock()
		if m.sessions[peer] == s {
			delete(m.sessions, peer)
		}
		delete(m.conns, s)
		m.mu.Unlock()
		_ = s.Close()
	}()
	for {
		st, err := s.AcceptStream()
		if err != nil {
			return
		}
		m.wg.Add(1)
		go m.route(st)
	}
}

// route reads a stream's group name and queues it for that group's Accept.
func (m *Mux) route(st *yamux.Stream) {
	defer m.wg.Done()
	_ = st.SetReadDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	name, err := readString(st)
	if err != nil {
		_ = st.Close()
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	m.mu.Lock()
	g := m.groups[name]
	m.mu.Unlock()
	if g == nil {
		_ = st.Close()
		return
	}
	select {
	case g.accepts <- st:
	case <-g.done:
		_ = st.Close()
	case <-m.done:
		_ = st.Close()
	}
}

// session returns the open session to addr, dialling one if needed.
func (m *Mux) session(ctx context.Context, addr string) (*yamux.Session, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if s, ok := m.sessions[addr]; ok && !s.IsClosed() {
		m.mu.Unlock()
		return s, nil
	}
	m.mu.Unlock()

	c, err := m.cfg.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if _, err := c.Write(appendString([]byte(hello), m.cfg.Advertise)); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	s, err := yamux.Client(c, m.ymx)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = s.Close()
		return nil, ErrClosed
	}
	if old, ok := m.sessions[addr]; ok && !old.IsClosed() {
		// Another dial, or the peer's own, won the race: use that one.
		m.mu.Unlock()
		_ = s.Close()
		return old, nil
	}
	m.sessions[addr] = s
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		m.serveSession(addr, s)
	}()
	return s, nil
}

// Group opens the stream layer of one raft group. Build the group's
// transport on it (raft.NewNetworkTransportWithConfig with Stream set);
// closing that transport closes the Group.
func (m *Mux) Group(name string) (*Group, error) {
	if name == "" || len(name) > MaxNameBytes {
		return nil, fmt.Errorf("raftmux: group name of %d bytes (use 1 to %d)", len(name), MaxNameBytes)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if _, ok := m.groups[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrGroupOpen, name)
	}
	g := &Group{m: m, name: name, accepts: make(chan net.Conn), done: make(chan struct{})}
	m.groups[name] = g
	return g, nil
}

// Group is one raft group's raft.StreamLayer on a Mux.
type Group struct {
	m       *Mux
	name    string
	accepts chan net.Conn
	done    chan struct{}
	once    sync.Once
}

var _ raft.StreamLayer = (*Group)(nil)

// Accept returns the next stream a peer opened to this group.
func (g *Group) Accept() (net.Conn, error) {
	select {
	case c := <-g.accepts:
		return c, nil
	case <-g.done:
		return nil, ErrClosed
	}
}

// Close stops the group's Accept; streams already handed out stay open
// until raft closes them. The name can be opened again.
func (g *Group) Close() error {
	g.m.mu.Lock()
	defer g.m.mu.Unlock()
	g.closeLocked()
	return nil
}

func (g *Group) closeLocked() {
	g.once.Do(func() {
		close(g.done)
		if g.m.groups[g.name] == g {
			delete(g.m.groups, g.name)
		}
	})
}

// Addr is the Mux's advertised address: every group of a node shares it.
func (g *Group) Addr() net.Addr { return advertised(g.m.cfg.Advertise) }

// Dial opens a stream to the group of the same name on the node at
// address.
func (g *Group) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	select {
	case <-g.done:
		return nil, ErrClosed
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := g.m.session(ctx, string(address))
	if err != nil {
		return nil, fmt.Errorf("raftmux: dial %s for group %q: %w", address, g.name, err)
	}
	st, err := s.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("raftmux: open a stream to %s for group %q: %w", address, g.name, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetWriteDeadline(dl)
	}
	if _, err := st.Write(appendString(nil, g.name)); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("raftmux: open a stream to %s for group %q: %w", address, g.name, err)
	}
	_ = st.SetWriteDeadline(time.Time{})
	return st, nil
}

type advertised string

func (a advertised) Network() string { return "tcp" }
func (a advertised) String() string  { return string(a) }

// bufferedConn serves what the hello's reader buffered before the conn.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readHello(r *bufio.Reader) (string, error) {
	magic := make([]byte, len(hello))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != hello {
		return "", fmt.Errorf("%w: not a raftmux peer", ErrBadHandshake)
	}
	return readString(r)
}

func readString(r io.Reader) (string, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = byteReader{r}
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n == 0 || n > MaxNameBytes {
		return "", fmt.Errorf("%w: name length", ErrBadHandshake)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("%w: name: %v", ErrBadHandshake, err)
	}
	return string(b), nil
}

type byteReader struct{ r io.Reader }

func (b byteReader) ReadByte() (byte, error) {
	var p [1]byte
	_, err := io.ReadFull(b.r, p[:])
	return p[0], err
}
