package discovery_test

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"

	"actorlog/discovery"
)

var _ = Describe("Registrar", func() {
	var service string

	BeforeEach(func() {
		service = uniqueService()
	})

	It("registers the node passing, with its Address, Port and Meta, and keeps it passing past the TTL", func(ctx SpecContext) {
		cfg := nodeConfig(shared.Addr(), service, "node-1", 1)
		r := startRegistrar(cfg)

		Eventually(r.State).Should(Equal(discovery.StateRegistered))
		Eventually(func() ([]*api.ServiceEntry, error) {
			e, _, err := consul(shared.Addr()).Health().Service(service, "", true, nil)
			return e, err
		}).Should(ConsistOf(PointTo(MatchFields(IgnoreExtras, Fields{
			"Service": PointTo(MatchFields(IgnoreExtras, Fields{
				"ID":      Equal("node-1"),
				"Service": Equal(service),
				"Address": Equal("127.0.0.1"),
				"Port":    Equal(7001),
				"Meta": Equal(map[string]string{
					discovery.MetaNodeID:   "node-1",
					discovery.MetaRaftAddr: "127.0.0.1:8001",
					discovery.MetaHTTPAddr: "127.0.0.1:9001",
				}),
			})),
		}))))
		check, err := checkOf(shared.Addr(), service, "node-1")()
		Expect(err).NotTo(HaveOccurred())
		Expect(check).NotTo(BeNil())
		Expect(check.Type).To(Equal("ttl"))

		// Three TTLs: without refreshes the check would be critical by now.
		Consistently(checkStatus(shared.Addr(), service, "node-1")).
			WithTimeout(3 * specTTL).WithPolling(100 * time.Millisecond).
			Should(Equal(api.HealthPassing))
		Expect(r.State()).To(Equal(discovery.StateRegistered))
	}, SpecTimeout(time.Minute))

	It("reports warning and critical with a note, which lookups honour", func(ctx SpecContext) {
		r := startRegistrar(nodeConfig(shared.Addr(), service, "node-1", 1))
		startRegistrar(nodeConfig(shared.Addr(), service, "node-2", 2))
		Eventually(discovery.LookupActorAddrs).WithContext(ctx).WithArguments(shared.Addr(), service).
			Should(Equal([]string{"127.0.0.1:7001", "127.0.0.2:7002"}))

		Expect(r.UpdateTTL(ctx, discovery.StatusWarning, "catching up: 1200 entries behind")).To(Succeed())
		Eventually(checkOf(shared.Addr(), service, "node-1")).Should(PointTo(MatchFields(IgnoreExtras, Fields{
			"Status": Equal(api.HealthWarning),
			"Output": Equal("catching up: 1200 entries behind"),
		})))
		Expect(discovery.LookupActorAddrs(ctx, shared.Addr(), service)).To(Equal([]string{"127.0.0.2:7002"}))
		Expect(discovery.Members(ctx, shared.Addr(), service, discovery.PassingOnly)).To(HaveExactElements(
			MatchFields(IgnoreExtras, Fields{"ID": Equal("node-2"), "Status": Equal(discovery.StatusPassing)})))
		Expect(discovery.Members(ctx, shared.Addr(), service, discovery.AnyStatus)).To(HaveExactElements(
			Equal(discovery.Member{
				ID: "node-1", ActorAddr: "127.0.0.1:7001", RaftAddr: "127.0.0.1:8001", HTTPAddr: "127.0.0.1:9001",
				Status: discovery.StatusWarning, Node: shared.NodeName(),
			}),
			MatchFields(IgnoreExtras, Fields{"ID": Equal("node-2"), "Status": Equal(discovery.StatusPassing)}),
		))

		Expect(r.UpdateTTL(ctx, discovery.StatusCritical, "segment store read-only")).To(Succeed())
		Eventually(checkStatus(shared.Addr(), service, "node-1")).Should(Equal(api.HealthCritical))
		// The refreshes keep the owner's status: it does not drift back.
		Consistently(checkStatus(shared.Addr(), service, "node-1")).
			WithTimeout(2 * specTTL).WithPolling(100 * time.Millisecond).
			Should(Equal(api.HealthCritical))
		Expect(r.State()).To(Equal(discovery.StateRegistered))

		Expect(r.UpdateTTL(ctx, discovery.StatusPassing, "")).To(Succeed())
		Eventually(discovery.LookupActorAddrs).WithContext(ctx).WithArguments(shared.Addr(), service).
			Should(Equal([]string{"127.0.0.1:7001", "127.0.0.2:7002"}))

		Expect(r.UpdateTTL(ctx, discovery.Status("fine"), "")).To(MatchError(discovery.ErrInvalidStatus))
	}, SpecTimeout(time.Minute))

	It("turns critical when its TTL lapses, and stays listed until Consul reaps it", func(ctx SpecContext) {
		cfg := nodeConfig(shared.Addr(), service, "node-1", 1)
		cfg.SkipLeaveOnClose = true
		r := startRegistrar(cfg)
		Eventually(checkStatus(shared.Addr(), service, "node-1")).Should(Equal(api.HealthPassing))

		// Close with SkipLeaveOnClose stops the refreshes and nothing else:
		// what a node that dies or freezes looks like to Consul.
		Expect(r.Close(ctx)).To(Succeed())
		Expect(r.State()).To(Equal(discovery.StateClosed))
		Eventually(checkStatus(shared.Addr(), service, "node-1")).
			WithTimeout(specTTL + 5*time.Second).Should(Equal(api.HealthCritical))
		Expect(discovery.Members(ctx, shared.Addr(), service, discovery.AnyStatus)).To(HaveExactElements(
			MatchFields(IgnoreExtras, Fields{"ID": Equal("node-1"), "Status": Equal(discovery.StatusCritical)})))
		Expect(discovery.LookupActorAddrs(ctx, shared.Addr(), service)).To(BeEmpty())
	}, SpecTimeout(time.Minute))

	It("deregisters on a graceful Close, which is idempotent and ends updates", func(ctx SpecContext) {
		r := startRegistrar(nodeConfig(shared.Addr(), service, "node-1", 1))
		Eventually(entries(shared.Addr(), service)).Should(HaveLen(1))

		Expect(r.Close(ctx)).To(Succeed())
		Expect(r.State()).To(Equal(discovery.StateClosed))
		// Gone from the agent at once, and from the catalog right after.
		services, err := consul(shared.Addr()).Agent().Services()
		Expect(err).NotTo(HaveOccurred())
		Expect(services).NotTo(HaveKey("node-1"))
		Eventually(entries(shared.Addr(), service)).Should(BeEmpty())

		Expect(r.Close(ctx)).To(Succeed())
		Expect(r.UpdateTTL(ctx, discovery.StatusPassing, "")).To(MatchError(discovery.ErrClosed))
		// Nothing comes back: the loop is really gone.
		Consistently(entries(shared.Addr(), service)).WithTimeout(2 * specTTL).Should(BeEmpty())
	}, SpecTimeout(time.Minute))

	It("reports an unreachable agent on Close only if it had registered", func(ctx SpecContext) {
		cfg := nodeConfig(deadAddr(), service, "node-1", 1)
		r := startRegistrar(cfg)
		Eventually(r.State).Should(Equal(discovery.StateUnavailable))
		err := r.UpdateTTL(ctx, discovery.StatusWarning, "starting")
		Expect(err).To(MatchError(discovery.ErrUnavailable))
		Expect(r.Close(ctx)).To(Succeed())
	}, SpecTimeout(time.Minute))
})

var _ = Describe("Config", func() {
	valid := func() discovery.Config {
		return discovery.Config{ID: "node-1", ActorAddr: "10.0.0.1:7000"}
	}

	It("fills every default in, so ID and ActorAddr are all a node must give", func() {
		Expect(valid().Validate()).To(Succeed())
		d := discovery.DefaultConfig()
		Expect(d.ConsulAddr).To(Equal("127.0.0.1:8500"))
		Expect(d.Service).To(Equal("actorlog"))
		Expect(d.TTL).To(Equal(discovery.DefaultTTL))
		Expect(d.DeregisterCriticalServiceAfter).To(Equal(time.Minute))
		Expect(discovery.DefaultWatchConfig().Validate()).To(Succeed())
		Expect(discovery.WatchConfig{}.Validate()).To(Succeed())
	})

	DescribeTable("names the bad field",
		func(field string, mutate func(*discovery.Config)) {
			cfg := valid()
			mutate(&cfg)
			err := cfg.Validate()
			Expect(err).To(MatchError(discovery.ErrInvalidConfig))
			var ce *discovery.ConfigError
			Expect(err).To(BeAssignableToTypeOf(ce))
			Expect(err.(*discovery.ConfigError).Field).To(Equal(field))
			_, err = discovery.NewRegistrar(cfg)
			Expect(err).To(MatchError(discovery.ErrInvalidConfig))
		},
		Entry("no ID", "ID", func(c *discovery.Config) { c.ID = "" }),
		Entry("an ID that breaks URLs", "ID", func(c *discovery.Config) { c.ID = "a/b" }),
		Entry("no ActorAddr", "ActorAddr", func(c *discovery.Config) { c.ActorAddr = "" }),
		Entry("an ActorAddr without a port", "ActorAddr", func(c *discovery.Config) { c.ActorAddr = "10.0.0.1" }),
		Entry("an ActorAddr with port 0", "ActorAddr", func(c *discovery.Config) { c.ActorAddr = "10.0.0.1:0" }),
		Entry("a wildcard ActorAddr", "ActorAddr", func(c *discovery.Config) { c.ActorAddr = "0.0.0.0:7000" }),
		Entry("a bad RaftAddr", "RaftAddr", func(c *discovery.Config) { c.RaftAddr = "raft" }),
		Entry("a bad HTTPAddr", "HTTPAddr", func(c *discovery.Config) { c.HTTPAddr = ":http" }),
		Entry("a bad ConsulAddr", "ConsulAddr", func(c *discovery.Config) { c.ConsulAddr = "localhost" }),
		Entry("a Service that breaks URLs", "Service", func(c *discovery.Config) { c.Service = "a?b" }),
		Entry("a TTL below the minimum", "TTL", func(c *discovery.Config) { c.TTL = 500 * time.Millisecond }),
		Entry("a reap time Consul would raise", "DeregisterCriticalServiceAfter",
			func(c *discovery.Config) { c.DeregisterCriticalServiceAfter = 30 * time.Second }),
		Entry("a negative RequestTimeout", "RequestTimeout", func(c *discovery.Config) { c.RequestTimeout = -1 }),
		Entry("a MaxBackoff below MinBackoff", "MaxBackoff",
			func(c *discovery.Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }),
	)

	DescribeTable("names the bad watch field",
		func(field string, mutate func(*discovery.WatchConfig)) {
			cfg := discovery.DefaultWatchConfig()
			mutate(&cfg)
			err := cfg.Validate()
			Expect(err).To(MatchError(discovery.ErrInvalidConfig))
			Expect(err.(*discovery.ConfigError).Field).To(Equal(field))
			_, err = discovery.NewWatcher(cfg)
			Expect(err).To(MatchError(discovery.ErrInvalidConfig))
		},
		Entry("a WaitTime Consul would cut", "WaitTime", func(c *discovery.WatchConfig) { c.WaitTime = 11 * time.Minute }),
		Entry("an unknown Filter", "Filter", func(c *discovery.WatchConfig) { c.Filter = 7 }),
		Entry("a negative MinQueryInterval", "MinQueryInterval", func(c *discovery.WatchConfig) { c.MinQueryInterval = -1 }),
		Entry("a bad ConsulAddr", "ConsulAddr", func(c *discovery.WatchConfig) { c.ConsulAddr = "nohost" }),
	)

	It("makes one-shot lookups check their arguments and report an unreachable agent", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := discovery.Members(ctx, "no-port", "", discovery.PassingOnly)
		Expect(err).To(MatchError(discovery.ErrInvalidConfig))
		_, err = discovery.LookupActorAddrs(ctx, deadAddr(), "actorlog")
		Expect(err).To(MatchError(discovery.ErrUnavailable))
	})
})
