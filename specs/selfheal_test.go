package specs

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
)

// flipByte flips every bit of one byte of a file in place, as bit rot
// would; the running node reads it through the page cache it shares.
func flipByte(path string, at int64) {
	GinkgoHelper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, at)
	Expect(err).NotTo(HaveOccurred())
	b[0] ^= 0xff
	_, err = f.WriteAt(b, at)
	Expect(err).NotTo(HaveOccurred())
}

var _ = Describe("Replicas heal themselves (docs/DESIGN.md, \"Replicas heal themselves\")", func() {
	DescribeTable("a replica with a flipped byte in a sealed segment is rebuilt from a peer to identical bytes, with no operator",
		func(onLeader bool) {
			c := startCluster(3, "--segment-bytes", "4096", "--checksum-interval", "500ms", "--scrub-interval", "20ms")
			cl := clusterClient(c.actorAddrs(), nil)
			vals := uniqueValues("rot", 120) // 28 records of 100-odd bytes fill a 4 KiB segment
			for i := 0; i < len(vals); i += 10 {
				produceAll(cl, vals[i:i+10])
			}
			want := c.sameLogEverywhere(uint64(len(vals)))

			victim := c.followers()[0]
			if onLeader {
				victim = c.leader()
			}
			store := filepath.Join(victim.dataDir, "log", fmt.Sprintf("%020d.store", 0))
			fi, err := os.Stat(store)
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Size()).To(BeNumerically(">", 2048), "segment 0 is sealed and full")
			start := time.Now()
			By("flipping a byte in the middle of sealed segment 0 on " + victim.id)
			flipByte(store, fi.Size()/2)

			By("finding the damage without a client reading it (the scrubber)")
			// The counter lives as long as the node; the repair restarts it
			// in place, so its log line is what proves the scrubber found it.
			Eventually(victim.session.Err, 30*time.Second).Should(gbytes.Say(`damaged record found; it is never served`))

			By("rebuilding the replica from a peer and verifying it")
			Eventually(victim.metricOf("actorlog_replica_repairs_total"), 90*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 1))
			got := c.sameLogEverywhere(uint64(len(vals)))
			Expect(got).To(Equal(want))
			AddReportEntry("time to heal", time.Since(start).Round(time.Millisecond).String())
			GinkgoWriter.Printf("healed %s in %s\n", victim.id, time.Since(start).Round(time.Millisecond))

			By("taking writes on every node afterwards")
			produceAll(cl, uniqueValues("after", 5))
			c.sameLogEverywhere(uint64(len(vals) + 5))
		},
		Entry("on a follower", false),
		Entry("on the leader, which hands leadership over first", true),
	)

	It("rebuilds a replica whose sealed segment lost its tail while it was down, found when the segment is opened", func() {
		c := startCluster(3, "--segment-bytes", "4096", "--checksum-interval", "500ms", "--scrub-interval", "20ms")
		cl := clusterClient(c.actorAddrs(), nil)
		vals := uniqueValues("cut", 120)
		for i := 0; i < len(vals); i += 10 {
			produceAll(cl, vals[i:i+10])
		}
		want := c.sameLogEverywhere(uint64(len(vals)))
		victim := c.followers()[0]
		victim.kill9()
		store := filepath.Join(victim.dataDir, "log", fmt.Sprintf("%020d.store", 0))
		fi, err := os.Stat(store)
		Expect(err).NotTo(HaveOccurred())
		By("cutting the last 1 KiB of sealed segment 0 of " + victim.id + " while it is down")
		Expect(os.Truncate(store, fi.Size()-1024)).To(Succeed())
		victim.start()
		Eventually(victim.session.Err, 30*time.Second).Should(gbytes.Say(`damaged record found; it is never served`))
		Eventually(victim.metricOf("actorlog_replica_repairs_total"), 90*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 1))
		Expect(c.sameLogEverywhere(uint64(len(vals)))).To(Equal(want))
	})
})
