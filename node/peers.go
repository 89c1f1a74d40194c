package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// peerLogInterval is how often at most the node logs about one peer: a
// peer that sends garbage or fails its handshakes in a loop must not turn
// into a log flood (README, "Limits").
const peerLogInterval = time.Second

// peerLimiter bounds, per peer host, the connections open on the actor
// port, and rate-limits the logs about a peer. The key is the host of the
// peer's address: a peer that opens connections from many ports is still
// one peer.
type peerLimiter struct {
	maxConns int // 0: unbounded

	mu      sync.Mutex
	conns   map[string]int
	lastLog map[string]time.Time
}

func newPeerLimiter(maxConns int) *peerLimiter {
	return &peerLimiter{maxConns: maxConns, conns: map[string]int{}, lastLog: map[string]time.Time{}}
}

func peerHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// acquire counts one more connection of the peer at addr, or reports
// false when it already has maxConns.
func (l *peerLimiter) acquire(addr string) (release func(), ok bool) {
	host := peerHost(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxConns > 0 && l.conns[host] >= l.maxConns {
		return nil, false
	}
	l.conns[host]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.conns[host]--; l.conns[host] <= 0 {
				delete(l.conns, host)
			}
		})
	}, true
}

// allowLog reports whether a line about the peer at addr may be logged
// now (at most one per peerLogInterval and peer).
func (l *peerLimiter) allowLog(addr string) bool {
	host := peerHost(addr)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.lastLog[host]; ok && now.Sub(t) < peerLogInterval {
		return false
	}
	if len(l.lastLog) >= 4096 {
		// Forget the peers that are quiet; the map stays small however
		// many hosts come and go.
		for h, t := range l.lastLog {
			if now.Sub(t) >= peerLogInterval {
				delete(l.lastLog, h)
			}
		}
		if len(l.lastLog) >= 4096 {
			return false
		}
	}
	l.lastLog[host] = now
	return true
}

// guardCreds are the actor remote's server credentials: the TLS (or
// plaintext) handshake of every accepted connection, after a check of the
// peer's connection count, and a log line (at most once a second per peer)
// for each refusal, so an operator sees why a peer gets nowhere; gRPC
// itself closes such connections silently. gRPC bounds the handshake
// itself (grpc.ConnectionTimeout).
type guardCreds struct {
	credentials.TransportCredentials
	tls   bool
	peers *peerLimiter
	log   *logrus.Entry
}

func newGuardCreds(inner credentials.TransportCredentials, tls bool, peers *peerLimiter, log *logrus.Entry) credentials.TransportCredentials {
	if inner == nil {
		inner = insecure.NewCredentials()
	}
	return guardCreds{TransportCredentials: inner, tls: tls, peers: peers, log: log}
}

func (c guardCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	addr := conn.RemoteAddr().String()
	release, ok := c.peers.acquire(addr)
	if !ok {
		if c.peers.allowLog(addr) {
			c.log.WithFields(logrus.Fields{"peer": addr, "max_conns_per_peer": c.peers.maxConns}).Warn("refused a connection: the peer holds too many already")
		}
		_ = conn.Close()
		return nil, nil, fmt.Errorf("%w (%d)", ErrTooManyConnections, c.peers.maxConns)
	}
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		release()
		if c.tls {
			c.logRefused(addr, err)
		}
		return nil, nil, err
	}
	return &releasingConn{Conn: out, release: release}, info, nil
}

func (c guardCreds) Clone() credentials.TransportCredentials {
	return guardCreds{TransportCredentials: c.TransportCredentials.Clone(), tls: c.tls, peers: c.peers, log: c.log}
}

func (c guardCreds) logRefused(peer string, err error) {
	if errors.Is(err, io.EOF) {
		// Connected and hung up before saying anything: a TCP health
		// check or a port scan, not a peer that was refused.
		c.log.WithField("peer", peer).Debug("a connection closed before its TLS handshake")
		return
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("no TLS handshake within the connection timeout: %w", err)
	}
	if !c.peers.allowLog(peer) {
		return
	}
	c.log.WithFields(logrus.Fields{"peer": peer, "error": err.Error()}).Warn("refused a connection: " + requireTLSReason)
}

// releasingConn gives its peer's connection slot back when it closes.
type releasingConn struct {
	net.Conn
	release func()
}

func (c *releasingConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// isMemberActorAddr reports whether addr is the actor address of a server
// of the raft configuration (from the member table). Without TLS it tells
// a node's stream from a client's (see guard.isMember). Non-voters count:
// a member that joined forwards its clients' requests to the leader
// before it is promoted. (Without TLS anyone may join; README, "TLS and
// authorisation".)
func (n *Node) isMemberActorAddr(addr string) bool {
	if n.raft == nil || n.fsm == nil {
		return false
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if m, ok := n.fsm.Member(string(s.ID)); ok && m.GetActorAddress() == addr {
			return true
		}
	}
	return false
}

// raftPeerAllowed lets a node certificate speak raft on this node only when
// its name (the member id) is in the raft configuration, which holds the
// members and the joins in progress (the leader adds a member as a
// non-voter before it replicates to it). A node that is in no cluster yet
// accepts any node certificate of its CA: that is how it is added, or
// bootstrapped by another.
func (n *Node) raftPeerAllowed(identity string) error {
	if n.raft == nil {
		return nil
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return f.Error()
	}
	servers := f.Configuration().Servers
	if len(servers) == 0 {
		return nil
	}
	for _, s := range servers {
		if string(s.ID) == identity {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrNotAMember, identity)
}
