package specs

import (
	"time"

	"actorlog/grpcroute"
	"actorlog/messages"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
)

// routedRound produces one record and reads it back 2×len(followers)
// times through log, and checks, by the requests each running node's
// sessions counted, that the produce was served by leader alone and the
// reads by the followers alone, two each. It fails (for Eventually to try
// again) while the program's balancer has not caught up with the cluster.
func routedRound(g Gomega, c *testCluster, log messages.LogClient, leader *clusterNode, followers []*clusterNode) {
	counts := func() map[string]requestCounts {
		out := map[string]requestCounts{}
		for _, nd := range c.running() {
			out[nd.id] = nd.sessionCounts()
		}
		return out
	}
	ctx := specCtx(20 * time.Second)
	before := counts()
	res, err := log.Produce(ctx, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("routed by the resolver")}}})
	g.Expect(err).NotTo(HaveOccurred())
	off := res.GetOffsets()[0]
	c.waitNext(off + 1)
	for range 2 * len(followers) {
		got, err := log.Consume(ctx, &messages.ConsumeRequest{Offset: off})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.GetRecords()).NotTo(BeEmpty())
	}
	after := counts()
	g.Expect(after[leader.id].Produces-before[leader.id].Produces).To(Equal(uint64(1)), "the produce goes to the leader %s", leader.id)
	g.Expect(after[leader.id].Consumes-before[leader.id].Consumes).To(BeZero(), "no read goes to the leader %s", leader.id)
	for _, f := range followers {
		g.Expect(after[f.id].Produces-before[f.id].Produces).To(BeZero(), "no produce goes to the follower %s", f.id)
		g.Expect(after[f.id].Consumes-before[f.id].Consumes).To(Equal(uint64(2)), "the reads alternate over the followers: %s", f.id)
	}
}

var _ = Describe("A plain grpc-go program with only the actorlog:// resolver and balancer", func() {
	It("finds the members in Consul, sends produces to the leader and reads to the followers, and follows a change of leader and a member's return on the same connection", func() {
		consul := startConsul()
		c := startConsulCluster(consul.Addr(), 3)
		Eventually(func() (int, error) {
			ms, err := consulMembers(consul.Addr())
			n := 0
			for _, m := range ms {
				if m.GRPCAddr != "" {
					n++
				}
			}
			return n, err
		}, 30*time.Second, 200*time.Millisecond).Should(Equal(3), "every member registers its gRPC address")

		// What any grpc-go program does: import grpcroute for its init,
		// dial the actorlog target, use the generated client. No actorlog
		// client, no option beyond the credentials.
		conn, err := grpc.NewClient(grpcroute.Scheme+":///?consul="+consul.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)
		log := messages.NewLogClient(conn)

		leader, followers := c.leader(), c.followers()
		Eventually(func(g Gomega) { routedRound(g, c, log, leader, followers) },
			60*time.Second, 200*time.Millisecond).Should(Succeed())

		By("the leader dies: the produces follow the new leader, the reads the one follower left")
		old := leader
		old.kill9()
		Eventually(c.settled, 60*time.Second, 100*time.Millisecond).Should(Succeed())
		leader = c.leader()
		Expect(leader).NotTo(Equal(old))
		followers = c.followers()
		Expect(followers).To(HaveLen(1))
		// The resolver learns the change on its own (its refresh, or a
		// failed connection); the program neither redials nor asks.
		Eventually(func(g Gomega) { routedRound(g, c, log, leader, followers) },
			60*time.Second, 200*time.Millisecond).Should(Succeed())

		By("the old leader comes back as a follower: the reads spread over both followers again")
		old.start()
		c.waitSettled()
		leader, followers = c.leader(), c.followers()
		Expect(followers).To(ContainElement(old))
		Eventually(func(g Gomega) { routedRound(g, c, log, leader, followers) },
			90*time.Second, 200*time.Millisecond).Should(Succeed())
		Expect(conn.GetState()).NotTo(Equal(connectivity.Shutdown), "the one connection served throughout")
	})
})
