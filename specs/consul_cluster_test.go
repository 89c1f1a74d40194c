package specs

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"actorlog/client"
	"actorlog/discovery"
	"actorlog/discovery/consultest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// DESIGN.md, "Consensus and discovery": nodes find each other in a real
// Consul agent. The specs share one agent and one cluster and run in
// order; each leaves the cluster settled and knows the log's length.
var _ = Describe("A cluster discovered through Consul", Ordered, func() {
	var (
		consul  *consultest.Agent
		cluster *testCluster
		next    uint64
	)

	// viaConsul connects a client that finds the nodes in Consul only.
	viaConsul := func() *client.Client {
		GinkgoHelper()
		return clusterClient(nil, func(cfg *client.Config) { cfg.Consul = consul.Addr() })
	}
	produce := func(c *client.Client, prefix string, n int) {
		GinkgoHelper()
		offs := produceAll(c, uniqueValues(prefix, n))
		Expect(offs[0]).To(Equal(next))
		next += uint64(n)
	}

	BeforeAll(func() {
		consul = startConsul()
		cluster = startConsulCluster(consul.Addr(), 3)
	})

	It("forms one cluster with one leader from three nodes started at once with --bootstrap-expect 3, all passing in Consul", func() {
		leader := cluster.leader()
		for _, nd := range cluster.nodes {
			ids, err := nd.serverIDs()
			Expect(err).NotTo(HaveOccurred())
			Expect(ids).To(ConsistOf("k1", "k2", "k3"))
			st, err := nd.status()
			Expect(err).NotTo(HaveOccurred())
			Expect(st.LeaderID).To(Equal(leader.id))
			Eventually(nd.consulState).Should(Equal("registered"))
		}
		Eventually(consulStatuses(consul.Addr()), 20*time.Second).Should(Equal(allPassing(cluster.nodes...)))
		ms, err := consulMembers(consul.Addr())
		Expect(err).NotTo(HaveOccurred())
		for _, nd := range cluster.nodes {
			Expect(ms[nd.id].ActorAddr).To(Equal(nd.actorAddr))
			Expect(ms[nd.id].RaftAddr).To(Equal(nd.raftAddr))
			Expect(ms[nd.id].HTTPAddr).To(Equal(nd.httpAddr))
		}
		produce(viaConsul(), "boot", 50)
		cluster.sameLogEverywhere(next)
	})

	It("adds a fourth node that registers in Consul, without --join, as a voter that catches up", func() {
		c := viaConsul()
		produce(c, "before-k4", 50)
		k4 := &clusterNode{id: "k4", dataDir: nodeDir(), args: []string{"--consul-addr", consul.Addr()}}
		k4.start()
		cluster.nodes = append(cluster.nodes, k4)
		cluster.waitSettled()
		produce(c, "after-k4", 50)
		cluster.sameLogEverywhere(next)
		Eventually(consulStatuses(consul.Addr()), 20*time.Second).Should(Equal(allPassing(cluster.nodes...)))
	})

	It("removes a gracefully stopped node from raft and from Consul", func() {
		k4 := cluster.byID("k4")
		k4.session.Signal(syscall.SIGINT)
		Eventually(k4.session, 40*time.Second).Should(gexec.Exit(0))
		cluster.nodes = without(cluster.nodes, k4)
		Eventually(consulStatuses(consul.Addr()), 20*time.Second).Should(Equal(allPassing(cluster.nodes...)))
		Eventually(func() ([]string, error) { return cluster.leader().serverIDs() }, 40*time.Second).
			Should(ConsistOf("k1", "k2", "k3"))
		cluster.waitSettled()
		produce(viaConsul(), "after-leave", 20)
		cluster.sameLogEverywhere(next)
	})

	It("marks a killed node critical in Consul, keeps taking writes, and catches the node up when it restarts", func() {
		victim := cluster.followers()[0]
		victim.kill9()
		Eventually(func() (discovery.Status, error) {
			ms, err := consulMembers(consul.Addr())
			return ms[victim.id].Status, err
		}, 30*time.Second).Should(Equal(discovery.StatusCritical))
		c := clusterClient(cluster.actorAddrs(), nil)
		produce(c, "while-down", 50)

		victim.start()
		Eventually(consulStatuses(consul.Addr()), 30*time.Second).Should(Equal(allPassing(cluster.nodes...)))
		cluster.waitSettled()
		cluster.sameLogEverywhere(next)
	})

	It("re-registers every node when the Consul agent restarts, and clients keep working", func() {
		c := viaConsul()
		produce(c, "before-consul-restart", 20)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		Expect(consul.Restart(ctx)).To(Succeed())
		Eventually(consulStatuses(consul.Addr()), 30*time.Second).Should(Equal(allPassing(cluster.nodes...)))
		for _, nd := range cluster.nodes {
			Eventually(nd.consulState, 20*time.Second).Should(Equal("registered"))
		}
		produce(c, "after-consul-restart", 20)
		produce(viaConsul(), "new-client-after-restart", 20)
		cluster.waitSettled()
		Expect(cluster.leader().serverIDs()).To(ConsistOf("k1", "k2", "k3"))
		cluster.sameLogEverywhere(next)
		res, err := c.Consume(context.Background(), 0, client.ConsumeOptions{MaxRecords: 10})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Records).NotTo(BeEmpty())
		Expect(string(res.Records[0].Value)).To(Equal(fmt.Sprintf("boot-%06d", 0)))
	})

	It("sends one client's produces to the leader and spreads its consumes over the followers", func() {
		c := viaConsul()
		cluster.waitSettled()
		leader, followers := cluster.leader(), cluster.followers()
		Expect(followers).To(HaveLen(2))
		before := map[string]requestCounts{}
		for _, nd := range cluster.nodes {
			before[nd.id] = nd.requestCounts()
		}
		const n = 40
		for i := range n {
			produce(c, fmt.Sprintf("balance-%d", i), 1)
		}
		for range n {
			res, err := c.Consume(context.Background(), 0, client.ConsumeOptions{MaxRecords: 1})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Records).To(HaveLen(1))
		}
		delta := func(nd *clusterNode) requestCounts {
			now := nd.requestCounts()
			return requestCounts{Produces: now.Produces - before[nd.id].Produces, Consumes: now.Consumes - before[nd.id].Consumes}
		}
		Expect(delta(leader).Produces).To(BeNumerically(">=", n))
		Expect(delta(leader).Consumes).To(BeZero())
		for _, f := range followers {
			d := delta(f)
			Expect(d.Produces).To(BeZero(), f.id)
			Expect(d.Consumes).To(BeNumerically(">=", n/4), f.id)
		}
		cluster.sameLogEverywhere(next)
	})

	It("reports warning in Consul while a node knows no raft leader, and passing again once quorum is back", func() {
		survivor := cluster.leader()
		down := without(cluster.nodes, survivor)
		for _, nd := range down {
			nd.kill9()
		}
		Eventually(func() (discovery.Status, error) {
			ms, err := consulMembers(consul.Addr())
			return ms[survivor.id].Status, err
		}, 30*time.Second).Should(Equal(discovery.StatusWarning))
		for _, nd := range down {
			nd.start()
		}
		Eventually(consulStatuses(consul.Addr()), 30*time.Second).Should(Equal(allPassing(cluster.nodes...)))
		cluster.waitSettled()
		produce(viaConsul(), "after-quorum-back", 10)
		cluster.sameLogEverywhere(next)
	})
})
