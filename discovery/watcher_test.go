package discovery_test

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	"github.com/sirupsen/logrus"

	"actorlog/discovery"
	"actorlog/discovery/consultest"
)

// receiveIDs waits for a snapshot whose member IDs are exactly want,
// skipping snapshots of other shapes on the way.
func receiveIDs(w *discovery.Watcher, want ...string) []discovery.Member {
	GinkgoHelper()
	var got []discovery.Member
	Eventually(func(g Gomega) {
		g.Expect(w.Updates()).To(Receive(&got))
		g.Expect(ids(got)).To(Equal(want))
	}).Should(Succeed())
	return got
}

var _ = Describe("Watcher", func() {
	var service string

	BeforeEach(func() {
		service = uniqueService()
	})

	It("delivers the members, then each join and leave, only on change and without polling", func(ctx SpecContext) {
		healthPath := "/v1/health/service/" + service
		proxy := newCountingProxy(shared.Addr(), healthPath)
		a := startRegistrar(nodeConfig(shared.Addr(), service, "node-a", 1))
		Eventually(a.State).Should(Equal(discovery.StateRegistered))

		w := startWatcher(watchConfig(proxy.Addr(), service))
		var first []discovery.Member
		Eventually(w.Updates()).Should(Receive(&first))
		// The first answer may predate the catalog sync of node-a.
		if len(first) == 0 {
			first = receiveIDs(w, "node-a")
		}
		Expect(first).To(Equal([]discovery.Member{{
			ID: "node-a", ActorAddr: "127.0.0.1:7001", RaftAddr: "127.0.0.1:8001", HTTPAddr: "127.0.0.1:9001",
			Status: discovery.StatusPassing, Node: shared.NodeName(),
		}}))

		b := startRegistrar(nodeConfig(shared.Addr(), service, "node-b", 2))
		joined := receiveIDs(w, "node-a", "node-b")
		Expect(joined[1]).To(MatchFields(IgnoreExtras, Fields{
			"ActorAddr": Equal("127.0.0.2:7002"), "Status": Equal(discovery.StatusPassing),
		}))

		// Nothing changes now, although both nodes refresh their TTL three
		// times a second: no snapshot, and the watch sits in one blocking
		// query instead of asking again and again (a poll every
		// MinQueryInterval would be about twenty queries here; a late
		// catalog sync of node-b's check may wake it once).
		queries := proxy.Count()
		Consistently(w.Updates()).WithTimeout(2 * time.Second).ShouldNot(Receive())
		Expect(proxy.Count()).To(BeNumerically("<=", queries+2))

		// An instance that never passes moves the service's index each time
		// its status changes: the watch wakes up, but what it delivers (the
		// passing members) is the same, so it delivers nothing.
		queries = proxy.Count()
		ghost := "ghost-" + service
		DeferCleanup(func() error {
			_, err := consul(shared.Addr()).Catalog().Deregister(&api.CatalogDeregistration{Node: ghost}, nil)
			return err
		})
		for _, status := range []string{api.HealthCritical, api.HealthWarning, api.HealthCritical} {
			_, err := consul(shared.Addr()).Catalog().Register(&api.CatalogRegistration{
				Node: ghost, Address: "127.0.0.8",
				Service: &api.AgentService{ID: ghost, Service: service, Port: 1},
				Check:   &api.AgentCheck{Node: ghost, CheckID: ghost, Name: ghost, ServiceID: ghost, Status: status},
			}, nil)
			Expect(err).NotTo(HaveOccurred())
		}
		Eventually(proxy.Count).Should(BeNumerically(">", queries))
		Consistently(w.Updates()).WithTimeout(time.Second).ShouldNot(Receive())

		Expect(b.Close(ctx)).To(Succeed())
		receiveIDs(w, "node-a")

		w.Close()
		Eventually(w.Updates()).Should(BeClosed())
		w.Close()
	}, SpecTimeout(time.Minute))

	It("keeps blocking, not polling, behind a server that closes every connection", func(ctx SpecContext) {
		proxy := newCountingProxy(shared.Addr(), "/v1/health/service/"+service)
		proxy.closeConns.Store(true)
		startRegistrar(nodeConfig(shared.Addr(), service, "node-a", 1))
		w := startWatcher(watchConfig(proxy.Addr(), service))
		receiveIDs(w, "node-a")

		// Every query arrives on a new connection here. The watch re-reads
		// once without blocking, then trusts the index it got. A late
		// catalog sync of node-a's check may cost one more such round (3
		// queries); polling would be about twenty.
		queries := proxy.Count()
		Consistently(w.Updates()).WithTimeout(2 * time.Second).ShouldNot(Receive())
		Expect(proxy.Count()).To(BeNumerically("<=", queries+4))
	}, SpecTimeout(time.Minute))

	It("with AnyStatus, shows a member whose TTL lapsed as critical instead of dropping it", func(ctx SpecContext) {
		cfg := nodeConfig(shared.Addr(), service, "node-a", 1)
		cfg.SkipLeaveOnClose = true
		a := startRegistrar(cfg)
		wcfg := watchConfig(shared.Addr(), service)
		wcfg.Filter = discovery.AnyStatus
		w := startWatcher(wcfg)
		Eventually(func(g Gomega) {
			var got []discovery.Member
			g.Expect(w.Updates()).To(Receive(&got))
			g.Expect(got).To(HaveExactElements(MatchFields(IgnoreExtras, Fields{
				"ID": Equal("node-a"), "Status": Equal(discovery.StatusPassing),
			})))
		}).Should(Succeed())

		Expect(a.Close(ctx)).To(Succeed())
		Eventually(func(g Gomega) {
			var got []discovery.Member
			g.Expect(w.Updates()).To(Receive(&got))
			g.Expect(got).To(HaveExactElements(MatchFields(IgnoreExtras, Fields{
				"ID": Equal("node-a"), "Status": Equal(discovery.StatusCritical),
			})))
		}).Should(Succeed())
	}, SpecTimeout(time.Minute))
})

var _ = Describe("Consul agent restarts", func() {
	It("the registrar registers again by itself, and the watcher resumes", func(ctx SpecContext) {
		agent, err := consultest.Start(ctx, consultest.Options{LogOutput: GinkgoWriter, LogLevel: "warn"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agent.Stop)
		service := uniqueService()

		regLog, regHook := specLogger("registrar")
		cfg := nodeConfig(agent.Addr(), service, "node-a", 1)
		cfg.Logger = regLog
		a := startRegistrar(cfg)
		watchLog, watchHook := specLogger("watcher")
		wcfg := watchConfig(agent.Addr(), service)
		wcfg.Logger = watchLog
		w := startWatcher(wcfg)
		receiveIDs(w, "node-a")
		bumpIndex(agent.Addr(), service)
		receiveIDs(w, "bump", "node-a")

		Expect(agent.Restart(ctx)).To(Succeed())

		// The new agent starts empty: node-a is back only because the
		// registrar noticed and registered again.
		Eventually(checkStatus(agent.Addr(), service, "node-a")).Should(Equal("passing"))
		Eventually(a.State).Should(Equal(discovery.StateRegistered))
		// Once, whether the registrar first found the agent gone or already
		// back (and ignorant of node-a). The catalog may show node-a before
		// the registrar's own request has returned, hence Eventually.
		reregistered := func() int {
			return countLogs(regHook, logrus.InfoLevel, "registered again")() +
				countLogs(regHook, logrus.InfoLevel, "available again")()
		}
		Eventually(reregistered).Should(Equal(1))

		// The watch survived: it sees a node that joins after the restart.
		startRegistrar(nodeConfig(agent.Addr(), service, "node-b", 2))
		receiveIDs(w, "node-a", "node-b")
		// If a query failed with the old agent (rather than the watch
		// noticing the new connection first): one warning for the outage
		// and one notice when it resumed, however many retries in between.
		warnings := countLogs(watchHook, logrus.WarnLevel, "watching Consul failed")()
		Expect(warnings).To(BeNumerically("<=", 1))
		Expect(countLogs(watchHook, logrus.InfoLevel, "watching Consul again")()).To(Equal(warnings))
		Expect(reregistered()).To(Equal(1))
	}, SpecTimeout(time.Minute))
})

var _ = Describe("Consul agent restarts behind a connection that never refuses", func() {
	// Go's HTTP client replays a GET whose kept-alive connection died
	// before the answer began, on a new connection and without a word. A
	// blocking query in flight when the agent dies is thus asked again of
	// whatever answers next, with the old index. Here the proxy holds the
	// replay until the restarted agent is up and has the node back, so the
	// replay reaches an agent whose index is far lower: a watch that
	// trusted its index would hang for its whole WaitTime.
	It("the watcher starts over on the new connection instead of waiting on the old index", func(ctx SpecContext) {
		agent, err := consultest.Start(ctx, consultest.Options{LogOutput: GinkgoWriter, LogLevel: "warn"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agent.Stop)
		service := uniqueService()
		proxy := newPatientProxy(agent.Addr())

		a := startRegistrar(nodeConfig(agent.Addr(), service, "node-a", 1))
		Eventually(a.State).Should(Equal(discovery.StateRegistered))
		watchLog, watchHook := specLogger("watcher")
		wcfg := watchConfig(proxy.Addr(), service)
		wcfg.Logger = watchLog
		w := startWatcher(wcfg)
		receiveIDs(w, "node-a")
		bumpIndex(agent.Addr(), service)
		receiveIDs(w, "bump", "node-a")

		proxy.hold()
		Expect(agent.Restart(ctx)).To(Succeed())
		Eventually(checkStatus(agent.Addr(), service, "node-a")).Should(Equal("passing"))
		proxy.release()

		startRegistrar(nodeConfig(agent.Addr(), service, "node-b", 2))
		receiveIDs(w, "node-a", "node-b")
		// The proxy never refused, so no query failed: the watch saw the
		// new connection and read again without blocking.
		Expect(countLogs(watchHook, logrus.DebugLevel, "new connection to the agent")()).To(BeNumerically(">=", 1))
		Expect(countLogs(watchHook, logrus.WarnLevel, "watching Consul failed")()).To(BeZero())
	}, SpecTimeout(time.Minute))
})

var _ = Describe("Consul agent down at start", func() {
	It("the registrar retries with backoff, logs the outage once, and registers when the agent comes up", func(ctx SpecContext) {
		agent, err := consultest.New(consultest.Options{LogOutput: GinkgoWriter, LogLevel: "warn"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agent.Stop)
		service := uniqueService()

		log, hook := specLogger("registrar")
		cfg := nodeConfig(agent.Addr(), service, "node-a", 1)
		cfg.Logger = log
		a := startRegistrar(cfg)
		w := startWatcher(watchConfig(agent.Addr(), service))

		Eventually(a.State).Should(Equal(discovery.StateUnavailable))
		// Several attempts, one warning.
		Eventually(countLogs(hook, logrus.DebugLevel, "registration attempt failed")).Should(BeNumerically(">=", 3))
		Expect(countLogs(hook, logrus.WarnLevel, "unavailable")()).To(Equal(1))
		Expect(w.Updates()).NotTo(Receive())
		// The owner can still report its status; it is kept for later.
		Expect(a.UpdateTTL(ctx, discovery.StatusWarning, "waiting for peers")).To(MatchError(discovery.ErrUnavailable))

		Expect(agent.Start(ctx)).To(Succeed())

		Eventually(a.State).Should(Equal(discovery.StateRegistered))
		Eventually(checkStatus(agent.Addr(), service, "node-a")).Should(Equal("warning"))
		// The note went with the status; the agent holds it at once (the
		// catalog copies an output that changes without its status only
		// every check_update_interval).
		Expect(consul(agent.Addr()).Agent().Checks()).To(HaveKeyWithValue(discovery.CheckID("node-a"),
			PointTo(MatchFields(IgnoreExtras, Fields{"Status": Equal("warning"), "Output": Equal("waiting for peers")}))))
		Expect(countLogs(hook, logrus.WarnLevel, "unavailable")()).To(Equal(1))
		Expect(countLogs(hook, logrus.InfoLevel, "available again")()).To(Equal(1))

		Expect(a.UpdateTTL(ctx, discovery.StatusPassing, "")).To(Succeed())
		receiveIDs(w, "node-a")

		closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		Expect(a.Close(closeCtx)).To(Succeed())
		Eventually(entries(agent.Addr(), service)).Should(BeEmpty())
	}, SpecTimeout(time.Minute))
})

// bumpIndex pushes the service's index on the agent well past anything a
// fresh agent reaches in a spec, by registering a catalog-only instance
// "bump" a hundred times: a watch that kept waiting on this index after a
// restart would block for its whole WaitTime instead of resuming. Catalog
// writes for the service move its index; other writes (KV) would not.
func bumpIndex(addr, service string) {
	GinkgoHelper()
	catalog := consul(addr).Catalog()
	for port := 1; port <= 100; port++ {
		_, err := catalog.Register(&api.CatalogRegistration{
			Node: "bump", Address: "127.0.0.9",
			Service: &api.AgentService{ID: "bump", Service: service, Port: port},
		}, nil)
		Expect(err).NotTo(HaveOccurred())
	}
}
