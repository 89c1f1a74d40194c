package discovery_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"actorlog/discovery"
	"actorlog/discovery/consultest"
)

func TestDiscovery(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "discovery")
}

// Timings for the specs: a short TTL and backoff keep each spec to a few
// seconds while leaving the refresh interval (TTL/3) far above the time an
// agent on loopback needs to answer.
const (
	specTTL        = time.Second
	specMinBackoff = 20 * time.Millisecond
	specMaxBackoff = 300 * time.Millisecond
)

// shared is one agent for the specs that do not stop or restart it; each
// spec registers under its own service name, so they cannot see each other.
var shared *consultest.Agent

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	shared, err = consultest.Start(ctx, consultest.Options{LogOutput: GinkgoWriter, LogLevel: "warn"})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(shared.Stop)
	SetDefaultEventuallyTimeout(15 * time.Second)
	SetDefaultEventuallyPollingInterval(25 * time.Millisecond)
}, NodeTimeout(time.Minute))

var serviceSeq atomic.Int64

// uniqueService names a service no other spec uses.
func uniqueService() string {
	return fmt.Sprintf("actorlog-spec-%d-%d", GinkgoParallelProcess(), serviceSeq.Add(1))
}

// specLogger logs to GinkgoWriter at debug level and records every entry.
func specLogger(name string) (*logrus.Entry, *logtest.Hook) {
	l := logrus.New()
	l.SetOutput(GinkgoWriter)
	l.SetLevel(logrus.DebugLevel)
	l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "15:04:05.000"})
	return l.WithField("who", name), logtest.NewLocal(l)
}

// countLogs counts the recorded entries at level whose message contains msg.
func countLogs(h *logtest.Hook, level logrus.Level, msg string) func() int {
	return func() int {
		n := 0
		for _, e := range h.AllEntries() {
			if e.Level == level && strings.Contains(e.Message, msg) {
				n++
			}
		}
		return n
	}
}

// nodeConfig is the Config of a node "id" whose addresses are derived from
// n, so every node's Meta is distinct.
func nodeConfig(consulAddr, service, id string, n int) discovery.Config {
	cfg := discovery.DefaultConfig()
	cfg.ConsulAddr = consulAddr
	cfg.Service = service
	cfg.ID = id
	cfg.ActorAddr = fmt.Sprintf("127.0.0.%d:7%03d", n, n)
	cfg.RaftAddr = fmt.Sprintf("127.0.0.%d:8%03d", n, n)
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.%d:9%03d", n, n)
	cfg.TTL = specTTL
	cfg.MinBackoff = specMinBackoff
	cfg.MaxBackoff = specMaxBackoff
	cfg.RequestTimeout = 2 * time.Second
	return cfg
}

// startRegistrar starts a registrar and closes it when the spec ends.
func startRegistrar(cfg discovery.Config) *discovery.Registrar {
	r, err := discovery.NewRegistrar(cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The agent may be gone by now (restart specs); what matters here
		// is that the goroutine stops.
		_ = r.Close(ctx)
	})
	return r
}

func watchConfig(consulAddr, service string) discovery.WatchConfig {
	cfg := discovery.DefaultWatchConfig()
	cfg.ConsulAddr = consulAddr
	cfg.Service = service
	cfg.MinBackoff = specMinBackoff
	cfg.MaxBackoff = specMaxBackoff
	return cfg
}

func startWatcher(cfg discovery.WatchConfig) *discovery.Watcher {
	w, err := discovery.NewWatcher(cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Close)
	return w
}

// consul is a plain consul/api client, independent of the code under test,
// to look at what the agent really holds.
func consul(addr string) *api.Client {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// entries returns every instance of service in the catalog, whatever its
// health.
func entries(addr, service string) func() ([]*api.ServiceEntry, error) {
	return func() ([]*api.ServiceEntry, error) {
		e, _, err := consul(addr).Health().Service(service, "", false, nil)
		return e, err
	}
}

// checkOf returns the catalog's view of a node's TTL check.
func checkOf(addr, service, id string) func() (*api.HealthCheck, error) {
	return func() (*api.HealthCheck, error) {
		checks, _, err := consul(addr).Health().Checks(service, nil)
		if err != nil {
			return nil, err
		}
		for _, c := range checks {
			if c.CheckID == discovery.CheckID(id) {
				return c, nil
			}
		}
		return nil, nil
	}
}

func checkStatus(addr, service, id string) func() (string, error) {
	return func() (string, error) {
		c, err := checkOf(addr, service, id)()
		if c == nil || err != nil {
			return "", err
		}
		return c.Status, nil
	}
}

// ids maps member snapshots to their IDs, for matchers.
func ids(members []discovery.Member) []string {
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = m.ID
	}
	return out
}

// countingProxy forwards to a Consul agent and counts the requests whose
// path starts with prefix: a hot-looping watch shows up as a climbing count.
type countingProxy struct {
	srv        *httptest.Server
	count      atomic.Int64
	closeConns atomic.Bool // answer with "Connection: close"
}

func newCountingProxy(target, prefix string) *countingProxy {
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	// A watch closed mid-query cancels its request; that is no news.
	rp.ErrorLog = log.New(GinkgoWriter, "proxy: ", 0)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) {
			p.count.Add(1)
		}
		if p.closeConns.Load() {
			w.Header().Set("Connection", "close")
		}
		rp.ServeHTTP(w, r)
	}))
	DeferCleanup(p.srv.Close)
	return p
}

func (p *countingProxy) Addr() string { return p.srv.Listener.Addr().String() }

func (p *countingProxy) Count() int64 { return p.count.Load() }

// deadAddr is a loopback address nothing listens on: the kernel picks the
// port, and it is released at once.
func deadAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return addr
}

// patientProxy is a TCP proxy that accepts at once and connects to its
// target only when its gate is open (and the target answers), the way a
// local load balancer or a socket held open by a supervisor behaves: a
// client never sees "connection refused", only a slow connection, while
// the agent behind it restarts. When the target drops a connection, the
// proxy drops the client's side too.
type patientProxy struct {
	ln     net.Listener
	target string
	closed chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	gate  chan struct{} // closed while the gate is open
	conns map[net.Conn]struct{}
}

func newPatientProxy(target string) *patientProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	p := &patientProxy{
		ln: ln, target: target, closed: make(chan struct{}),
		gate: make(chan struct{}), conns: map[net.Conn]struct{}{},
	}
	close(p.gate)
	p.wg.Add(1)
	go p.accept()
	DeferCleanup(p.close)
	return p
}

// hold makes new connections wait before they reach the target.
func (p *patientProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

// release lets the waiting connections through.
func (p *patientProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.gate)
}

func (p *patientProxy) Addr() string { return p.ln.Addr().String() }

func (p *patientProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *patientProxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	select {
	case <-gate:
	case <-p.closed:
		return
	}
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	var up net.Conn
	for {
		var err error
		if up, err = net.DialTimeout("tcp", p.target, time.Second); err == nil {
			break
		}
		select {
		case <-p.closed:
			return
		case <-retry.C:
		}
	}
	p.track(up)
	defer p.untrack(up)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, c)
		_ = up.Close()
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	_ = up.Close()
	<-done
}

func (p *patientProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[c] = struct{}{}
}

func (p *patientProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = c.Close()
	delete(p.conns, c)
}

func (p *patientProxy) close() {
	close(p.closed)
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
