package raftmux_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus/raftmux"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

func newMux() (*raftmux.Mux, *countingListener) {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	cl := &countingListener{Listener: ln}
	m, err := raftmux.New(raftmux.Config{Listener: cl, HandshakeTimeout: time.Second})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(m.Close)
	return m, cl
}

func group(m *raftmux.Mux, name string) *raftmux.Group {
	GinkgoHelper()
	g, err := m.Group(name)
	Expect(err).NotTo(HaveOccurred())
	return g
}

// echo answers every stream g accepts with what it reads, upper-cased
// by prefixing the group's name, until g closes.
func echo(g *raftmux.Group, name string) {
	go func() {
		for {
			c, err := g.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 64)
				n, err := c.Read(b)
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(name + ":" + string(b[:n])))
			}()
		}
	}()
}

func ask(g *raftmux.Group, to net.Addr, msg string) (string, error) {
	c, err := g.Dial(raft.ServerAddress(to.String()), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

var _ = Describe("A raft mux", func() {
	It("carries every group between two nodes, both ways, over one TCP connection", func() {
		a, la := newMux()
		b, lb := newMux()
		a1, a2 := group(a, "orders/0"), group(a, "orders/1")
		b1, b2 := group(b, "orders/0"), group(b, "orders/1")
		echo(b1, "b1")
		echo(b2, "b2")
		echo(a1, "a1")
		echo(a2, "a2")

		for i := 0; i < 5; i++ {
			Expect(ask(a1, b.Addr(), fmt.Sprint("x", i))).To(Equal(fmt.Sprint("b1:x", i)))
			Expect(ask(a2, b.Addr(), "y")).To(Equal("b2:y"))
		}
		By("the other way, over the connection the first node dialled")
		Expect(ask(b1, a.Addr(), "z")).To(Equal("a1:z"))
		Expect(ask(b2, a.Addr(), "w")).To(Equal("a2:w"))

		Expect(lb.accepted.Load()).To(BeEquivalentTo(1))
		Expect(la.accepted.Load()).To(BeZero())
		Expect(a.Sessions()).To(Equal(1))
		Expect(b.Sessions()).To(Equal(1))
	})

	It("closes a stream to a group that is not open there, and serves the others", func() {
		a, _ := newMux()
		b, _ := newMux()
		a1, a2 := group(a, "g1"), group(a, "g2")
		echo(group(b, "g1"), "b1")
		_, err := ask(a2, b.Addr(), "hello")
		Expect(err).To(Or(HaveOccurred(), Succeed())) // closed: empty answer or an error
		got, _ := ask(a2, b.Addr(), "hello")
		Expect(got).To(BeEmpty())
		Expect(ask(a1, b.Addr(), "still")).To(Equal("b1:still"))
	})

	It("drops a connection that does not say hello, and keeps serving", func() {
		a, _ := newMux()
		b, _ := newMux()
		c, err := net.Dial("tcp", b.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		_, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(c)
		Expect(err).NotTo(HaveOccurred(), "the mux closes it")
		_ = c.Close()
		echo(group(b, "g"), "b")
		Expect(ask(group(a, "g"), b.Addr(), "ok")).To(Equal("b:ok"))
	})

	It("dials again after the peer restarts", func() {
		a, _ := newMux()
		b, _ := newMux()
		addr := b.Addr().String()
		ga := group(a, "g")
		echo(group(b, "g"), "b")
		Expect(ask(ga, b.Addr(), "1")).To(Equal("b:1"))
		Expect(b.Close()).To(Succeed())

		ln, err := net.Listen("tcp", addr)
		Expect(err).NotTo(HaveOccurred())
		b2, err := raftmux.New(raftmux.Config{Listener: ln})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(b2.Close)
		echo(group(b2, "g"), "b2")
		Eventually(func() (string, error) { return ask(ga, b2.Addr(), "2") }, 10*time.Second, 50*time.Millisecond).Should(Equal("b2:2"))
	})

	It("refuses a group name twice, and frees it on close", func() {
		m, _ := newMux()
		g := group(m, "g")
		_, err := m.Group("g")
		Expect(err).To(MatchError(raftmux.ErrGroupOpen))
		Expect(g.Close()).To(Succeed())
		group(m, "g")
		Expect(m.Close()).To(Succeed())
		_, err = m.Group("h")
		Expect(err).To(MatchError(raftmux.ErrClosed))
	})

	It("runs real raft groups: three nodes, four groups, at most one connection each way between two nodes, no goroutine left", func() {
		before := runtime.NumGoroutine()
		const nodes, groups = 3, 4
		type member struct {
			mux *raftmux.Mux
			ln  *countingListener
		}
		var ms []member
		for i := 0; i < nodes; i++ {
			m, ln := newMux()
			ms = append(ms, member{m, ln})
		}
		var rafts [][]*raft.Raft
		var fsms [][]*countFSM
		var closers []func()
		for g := 0; g < groups; g++ {
			var conf raft.Configuration
			for i := range ms {
				conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: raft.ServerAddress(ms[i].mux.Addr().String())})
			}
			var rs []*raft.Raft
			var fs []*countFSM
			for i, m := range ms {
				layer := group(m.mux, fmt.Sprint("t/", g))
				trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: layer, MaxPool: 2, Timeout: 5 * time.Second, Logger: nil})
				cfg := raft.DefaultConfig()
				cfg.LocalID = raft.ServerID(fmt.Sprint("n", i))
				cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 200*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond
				cfg.LogOutput = GinkgoWriter
				store := raft.NewInmemStore()
				snaps := raft.NewInmemSnapshotStore()
				Expect(raft.BootstrapCluster(cfg, store, store, snaps, trans, conf)).To(Succeed())
				f := &countFSM{}
				r, err := raft.NewRaft(cfg, f, store, store, snaps, trans)
				Expect(err).NotTo(HaveOccurred())
				rs, fs = append(rs, r), append(fs, f)
				closers = append(closers, func() { _ = r.Shutdown().Error(); _ = trans.Close() })
			}
			rafts, fsms = append(rafts, rs), append(fsms, fs)
		}
		leaderOf := func(rs []*raft.Raft) *raft.Raft {
			for _, r := range rs {
				if r.State() == raft.Leader {
					return r
				}
			}
			return nil
		}
		for g := 0; g < groups; g++ {
			Eventually(func() *raft.Raft { return leaderOf(rafts[g]) }, 20*time.Second, 20*time.Millisecond).ShouldNot(BeNil(), "group %d elects a leader", g)
			for k := 0; k < 10*(g+1); k++ {
				Eventually(func() error {
					l := leaderOf(rafts[g])
					if l == nil {
						return raft.ErrNotLeader
					}
					return l.Apply([]byte("x"), 5*time.Second).Error()
				}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
			}
		}
		// An Apply that timed out under load may have committed all the
		// same and been retried: every replica of a group holds the same
		// entries, at least as many as were acknowledged.
		for g := 0; g < groups; g++ {
			Eventually(func(gm Gomega) {
				for i := range fsms[g] {
					gm.Expect(fsms[g][i].count()).To(Equal(fsms[g][0].count()), "group %d node %d", g, i)
				}
				gm.Expect(fsms[g][0].count()).To(BeNumerically(">=", 10*(g+1)))
			}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
		}
		var accepted int64
		for _, m := range ms {
			accepted += m.ln.accepted.Load()
		}
		// One per pair, or two when both dialled at the same moment: never
		// one per group.
		Expect(accepted).To(BeNumerically("<=", nodes*(nodes-1)), "connections between %d nodes carrying %d groups", nodes, groups)

		for _, c := range closers {
			c()
		}
		for _, m := range ms {
			Expect(m.mux.Close()).To(Succeed())
		}
		Eventually(runtime.NumGoroutine, 10*time.Second, 50*time.Millisecond).Should(BeNumerically("<=", before+2))
	})
})

type countFSM struct {
	mu sync.Mutex
	n  int
}

func (f *countFSM) Apply(*raft.Log) any { f.mu.Lock(); f.n++; f.mu.Unlock(); return nil }
func (f *countFSM) count() int          { f.mu.Lock(); defer f.mu.Unlock(); return f.n }
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) {
	return nil, fmt.Errorf("countFSM takes no snapshots")
}
func (f *countFSM) Restore(io.ReadCloser) error { return nil }
