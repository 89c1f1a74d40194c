package specs

import (
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// metricsOf scrapes a cluster node's /metrics.
func (nd *clusterNode) metricOf(series string) func() float64 {
	return (&agent{httpAddr: nd.httpAddr}).metricOf(series)
}

var _ = Describe("Replicas check each other (docs/DESIGN.md, \"Replicas check each other\")", func() {
	const interval = 500 * time.Millisecond

	It("finds a replica that altered a record it applied, and rebuilds it from the leader to identical bytes", func() {
		c := startCluster(3, "--checksum-interval", interval.String(), "--enable-fault-injection")
		cl := clusterClient(c.actorAddrs(), nil)
		produceAll(cl, uniqueValues("before", 20))
		c.sameLogEverywhere(20)

		leader := c.leader()
		victim := c.followers()[0]
		Eventually(victim.metricOf("actorlog_replica_checks_total{result=\"match\"}"), 20*interval, 50*time.Millisecond).Should(BeNumerically(">", 0),
			"the checks run while nothing is wrong")
		Expect(victim.metricOf("actorlog_replica_divergences_total")()).To(BeZero())

		// The victim alters offset 25 as it applies it, behind everyone's
		// back: its log now differs from the leader's there.
		code, body := httpJSON(http.MethodPost, "http://"+victim.httpAddr+"/debug/fault/diverge?offset=25", nil)
		Expect(code).To(Equal(http.StatusOK), "%v", body)
		produceAll(cl, uniqueValues("after", 20))

		By("finding the divergence at the next checkpoint")
		Eventually(victim.metricOf("actorlog_replica_divergences_total"), 20*interval, 50*time.Millisecond).Should(BeNumerically(">=", 1))
		Expect(leader.metricOf("actorlog_replica_divergences_total")()).To(BeZero())

		By("rebuilding the replica from the leader and verifying it")
		Eventually(victim.metricOf("actorlog_replica_repairs_total"), 90*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 1))
		Expect(victim.metricOf("actorlog_replica_repairing")()).To(BeZero())
		log := c.sameLogEverywhere(40)
		Expect(string(log[25])).To(Equal("after-000005"))

		By("making the rebuilt replica a voter again, so the cluster survives losing another node")
		Eventually(func() error {
			srv, err := leader.servers()
			if err != nil {
				return err
			}
			for _, s := range srv {
				if s.ID == victim.id {
					return nil
				}
			}
			return fmt.Errorf("%s is not in the configuration", victim.id)
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
		Eventually(victim.metricOf("actorlog_replica_checks_total{result=\"match\"}"), 20*interval, 50*time.Millisecond).Should(BeNumerically(">", 0))
		other := c.followers()
		for _, nd := range other {
			if nd != victim {
				nd.kill9()
			}
		}
		// With the third node gone, the leader and the rebuilt replica are
		// a majority only if the replica votes again.
		produceAll(cl, uniqueValues("later", 5))
	})
})

var _ = Describe("A leader whose records differ from its followers'", func() {
	const interval = 500 * time.Millisecond

	It("hands leadership over and is rebuilt from the new leader, so the majority's records win", func() {
		c := startCluster(3, "--checksum-interval", interval.String(), "--enable-fault-injection")
		cl := clusterClient(c.actorAddrs(), nil)
		produceAll(cl, uniqueValues("before", 10))
		c.sameLogEverywhere(10)

		leader := c.leader()
		code, body := httpJSON(http.MethodPost, "http://"+leader.httpAddr+"/debug/fault/diverge?offset=12", nil)
		Expect(code).To(Equal(http.StatusOK), "%v", body)
		produceAll(cl, uniqueValues("after", 10))

		By("the old leader finding, as a follower, that it diverged, and repairing itself")
		Eventually(leader.metricOf("actorlog_replica_repairs_total"), 120*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 1))
		Expect(c.leader()).NotTo(Equal(leader))
		log := c.sameLogEverywhere(20)
		Expect(string(log[12])).To(Equal("after-000002"))

		By("every replica serving reads again")
		for _, nd := range c.running() {
			Eventually(nd.metricOf("actorlog_replica_repairing"), 30*time.Second, 100*time.Millisecond).Should(BeZero())
		}
	})
})
