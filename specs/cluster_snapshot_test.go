package specs

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
)

// Raft compacts its log behind a snapshot; a node that was away for longer
// than the trailing logs cover can only come back by installing one
// (docs/DESIGN.md, invariant 4: the FSM restores from it, and replays nothing
// twice).
var _ = Describe("A node that falls behind past the raft log kept by the leader", func() {
	DescribeTable("is brought back by a snapshot, to identical contents", func(sync string) {
		cluster := startCluster(3, "--sync", sync,
			"--raft-snapshot-threshold", "64", "--raft-trailing-logs", "16", "--raft-snapshot-interval", "100ms")
		c := clusterClient(cluster.actorAddrs(), nil)
		produceAll(c, uniqueValues("snap-before", 10))

		f := cluster.followers()[0]
		By("killing follower " + f.id)
		f.kill9()

		By("producing far more raft entries than the leader keeps after a snapshot")
		leader := cluster.leader()
		vals := uniqueValues("snap-away", 400)
		for i := 0; i < len(vals); i += 2 { // one raft entry per request
			produceAll(c, vals[i:i+2])
		}
		next := uint64(10 + len(vals))
		Eventually(leader.session.Err, 30*time.Second).Should(gbytes.Say("snapshot complete up to"),
			"the leader must take a snapshot and compact its log")
		produceAll(c, uniqueValues("snap-after-compaction", 100))
		next += 100

		By("restarting " + f.id)
		f.start()
		Eventually(f.session.Err, 60*time.Second).Should(gbytes.Say("Installed remote snapshot"),
			"the follower must catch up through a snapshot")
		cluster.waitSettled()
		all := cluster.sameLogEverywhere(next)
		Expect(string(all[next-1])).To(Equal("snap-after-compaction-000099"))
	},
		Entry("with --sync always", "always"),
		Entry("with --sync interval (the default)", "interval"),
		Entry("with --sync none", "none"),
	)
})
