package consensus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
)

// recordingFSM is the smallest FSM that shows replication: it keeps every
// applied command in order.
type recordingFSM struct {
	mu      sync.Mutex
	applied []string
}

func (f *recordingFSM) Apply(l *raft.Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, string(l.Data))
	return len(f.applied)
}

func (f *recordingFSM) Applied() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.applied...)
}

func (f *recordingFSM) Snapshot() (raft.FSMSnapshot, error) { return noopSnapshot{}, nil }
func (f *recordingFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type noopSnapshot struct{}

func (noopSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (noopSnapshot) Release()                             {}

type testNode struct {
	id    string
	raft  *raft.Raft
	trans *consensus.Transport
	fsm   *recordingFSM
}

func (n *testNode) server() raft.Server {
	return raft.Server{ID: raft.ServerID(n.id), Address: n.trans.LocalAddr()}
}

// startNode runs a raft server on real stores in a temp dir and a TCP
// transport on a kernel-chosen loopback port.
func startNode(id string, kind consensus.StoreKind, tlsCfg *tls.Config) *testNode {
	dir := GinkgoT().TempDir()
	cfg := consensus.LoopbackConfig()
	cfg.Logger = testLogger(id)

	logs, stable, closer, err := consensus.OpenStores(dir, consensus.StoreConfig{Kind: kind, Logger: cfg.Logger})
	Expect(err).NotTo(HaveOccurred())
	snaps, err := consensus.NewSnapshotStore(dir, cfg, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(filepath.Join(dir, "raft", "snapshots")).To(BeADirectory())
	trans, err := consensus.NewTCPTransport("127.0.0.1:0", nil, consensus.TransportConfig{TLS: tlsCfg, Logger: cfg.Logger})
	Expect(err).NotTo(HaveOccurred())

	rc := consensus.RaftConfig(id, cfg)
	Expect(raft.ValidateConfig(rc)).To(Succeed())
	fsm := &recordingFSM{}
	r, err := raft.NewRaft(rc, fsm, logs, stable, snaps, trans)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		// Shutdown also closes the transport; the stores close after.
		Expect(r.Shutdown().Error()).To(Succeed())
		Expect(closer.Close()).To(Succeed())
	})
	return &testNode{id: id, raft: r, trans: trans, fsm: fsm}
}

func leaderOf(nodes ...*testNode) *testNode {
	for _, n := range nodes {
		if n.raft.State() == raft.Leader {
			return n
		}
	}
	return nil
}

// testPKI is a throwaway CA and the node certificates it signed.
type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	pool  *x509.CertPool
}

func newTestPKI(name string) *testPKI {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	ca, err := x509.ParseCertificate(der)
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, pool: pool}
}

var serial int64 = 100

// nodeTLS issues a certificate for a node that both serves and dials on
// 127.0.0.1, and returns a mutual-TLS config around it.
func (p *testPKI) nodeTLS(node string) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: node},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	Expect(err).NotTo(HaveOccurred())
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      p.pool,
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

var _ = Describe("Raft over the TCP transport", func() {
	// formCluster bootstraps a and b together, waits for a leader and
	// applies one entry that must reach both FSMs.
	formCluster := func(a, b *testNode) {
		Expect(a.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{a.server(), b.server()}}).Error()).To(Succeed())
		Eventually(func() *testNode { return leaderOf(a, b) }).WithTimeout(20 * time.Second).ShouldNot(BeNil())
		leader := leaderOf(a, b)
		Expect(leader).NotTo(BeNil(), "leadership moved right after the election")
		Expect(leader.raft.Apply([]byte("hello"), 5*time.Second).Error()).To(Succeed())
		Eventually(a.fsm.Applied).WithTimeout(10 * time.Second).Should(Equal([]string{"hello"}))
		Eventually(b.fsm.Applied).WithTimeout(10 * time.Second).Should(Equal([]string{"hello"}))
	}

	It("binds port 0 to a real port and advertises it", func() {
		trans, err := consensus.NewTCPTransport("127.0.0.1:0", nil, consensus.TransportConfig{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(trans.Close)
		host, port, err := net.SplitHostPort(string(trans.LocalAddr()))
		Expect(err).NotTo(HaveOccurred())
		Expect(host).To(Equal("127.0.0.1"))
		Expect(port).NotTo(Equal("0"))

		By("an advertise address with port 0 takes the bound port")
		adv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
		trans2, err := consensus.NewTCPTransport("127.0.0.1:0", adv, consensus.TransportConfig{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(trans2.Close)
		_, port2, _ := net.SplitHostPort(string(trans2.LocalAddr()))
		Expect(string(trans2.LocalAddr())).To(HavePrefix("127.0.0.2:"))
		Expect(port2).NotTo(Equal("0"))
	})

	It("refuses a wildcard bind address without an advertise address", func() {
		_, err := consensus.NewTCPTransport("0.0.0.0:0", nil, consensus.TransportConfig{})
		Expect(err).To(MatchError(consensus.ErrNotAdvertisable))
	})

	It("forms a two-node plaintext cluster, elects a leader and replicates an entry to both", func() {
		a := startNode("a", consensus.StoreWAL, nil)
		b := startNode("b", consensus.StoreSegmentstore, nil)
		formCluster(a, b)
	})

	It("forms a cluster with mutual TLS on both sides", func() {
		pki := newTestPKI("actorlog test CA")
		a := startNode("a", consensus.StoreWAL, pki.nodeTLS("a"))
		b := startNode("b", consensus.StoreSegmentstore, pki.nodeTLS("b"))
		formCluster(a, b)
	})

	It("keeps a plaintext peer out of a TLS cluster", func() {
		pki := newTestPKI("actorlog test CA")
		a := startNode("a", consensus.StoreWAL, pki.nodeTLS("a"))
		plain := startNode("plain", consensus.StoreWAL, nil)

		By("a single TLS node elects itself and commits")
		Expect(a.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{a.server()}}).Error()).To(Succeed())
		Eventually(a.raft.State).WithTimeout(10 * time.Second).Should(Equal(raft.Leader))
		Expect(a.raft.Apply([]byte("secret"), 5*time.Second).Error()).To(Succeed())

		By("the plaintext peer is added, but nothing is replicated to it")
		// A non-voter does not count for quorum, so the TLS leader keeps
		// committing while it tries, and fails, to reach the peer.
		Expect(a.raft.AddNonvoter(raft.ServerID(plain.id), plain.trans.LocalAddr(), 0, 5*time.Second).Error()).To(Succeed())
		Expect(a.raft.Apply([]byte("more"), 5*time.Second).Error()).To(Succeed())
		Consistently(plain.fsm.Applied).WithTimeout(time.Second).Should(BeEmpty())
		Expect(plain.raft.Leader()).To(BeEmpty())
		Expect(a.raft.State()).To(Equal(raft.Leader))

		By("and its own RPCs to the TLS node fail")
		var resp raft.RequestVoteResponse
		err := plain.trans.RequestVote(raft.ServerID(a.id), a.trans.LocalAddr(), &raft.RequestVoteRequest{
			RPCHeader: raft.RPCHeader{ID: []byte(plain.id), Addr: []byte(plain.trans.LocalAddr())},
			Term:      99,
		}, &resp)
		Expect(err).To(HaveOccurred())
		Expect(resp.Granted).To(BeFalse())
	})

	It("refuses a TLS peer whose certificate another CA signed", func() {
		pki := newTestPKI("actorlog test CA")
		rogue := newTestPKI("rogue CA")
		a := startNode("a", consensus.StoreWAL, pki.nodeTLS("a"))
		r, err := consensus.NewTCPTransport("127.0.0.1:0", nil, consensus.TransportConfig{TLS: rogue.nodeTLS("rogue")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(r.Close)
		var resp raft.RequestVoteResponse
		err = r.RequestVote(raft.ServerID(a.id), a.trans.LocalAddr(), &raft.RequestVoteRequest{Term: 1}, &resp)
		Expect(err).To(HaveOccurred())
	})

	It("ends every connection goroutine when the transports close", func() {
		pki := newTestPKI("actorlog test CA")
		before := goroutines()
		x, err := consensus.NewTCPTransport("127.0.0.1:0", nil, consensus.TransportConfig{TLS: pki.nodeTLS("x")})
		Expect(err).NotTo(HaveOccurred())
		y, err := consensus.NewTCPTransport("127.0.0.1:0", nil, consensus.TransportConfig{TLS: pki.nodeTLS("y")})
		Expect(err).NotTo(HaveOccurred())

		// Answer y's RPCs so a pooled connection stays open on both ends.
		stop := make(chan struct{})
		served := make(chan struct{})
		go func() {
			defer close(served)
			for {
				select {
				case rpc := <-y.Consumer():
					rpc.Respond(&raft.RequestVoteResponse{Granted: true}, nil)
				case <-stop:
					return
				}
			}
		}()
		for i := 0; i < 3; i++ {
			var resp raft.RequestVoteResponse
			Expect(x.RequestVote("y", y.LocalAddr(), &raft.RequestVoteRequest{Term: uint64(i)}, &resp)).To(Succeed())
			Expect(resp.Granted).To(BeTrue())
		}
		close(stop)
		<-served
		Expect(x.Close()).To(Succeed())
		Expect(y.Close()).To(Succeed())
		Eventually(goroutines).WithTimeout(5 * time.Second).Should(BeNumerically("<=", before))
	})
})

func goroutines() int { return runtime.NumGoroutine() }
