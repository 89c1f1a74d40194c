package node

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"time"

	"actorlog/segmentstore"
	"actorlog/segmentstore/faultfs"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Three nodes, each on its own simulated disk (faultfs), lose power at the
// same instant while clients produce through the leader; they restart on
// what their disks kept and must hold every record acknowledged before the
// power went, at its offset, identically on all three (README,
// "Guarantees": --sync always survives a power loss of the whole cluster).
var _ = Describe("A three-node cluster losing power everywhere at once, under --sync always", func() {
	It("loses no acknowledged record, and its replicas stay identical", func() {
		seed := GinkgoRandomSeed()
		rng := rand.New(rand.NewSource(seed))
		ids := []string{"p1", "p2", "p3"}
		fss := make([]*faultfs.FS, 3)
		cfgs := make([]Config, 3)
		for i, id := range ids {
			fss[i] = faultfs.New(seed + int64(i))
			fss[i].VanishAfterPowerOff()
			cfgs[i] = waitingConfig(id)
			cfgs[i].Bootstrap = i == 0
			cfgs[i].Storage.Sync = segmentstore.SyncAlways
			cfgs[i].Storage.FS = fss[i]
			cfgs[i].Storage.MaxStoreBytes = 64 << 10
			cfgs[i].Storage.MaxIndexBytes = 4096 * segmentstore.IndexEntryBytes
		}
		// Every remote starts before the nodes talk to each other (see the
		// in-process cluster spec): the joins go once all three listen.
		start := func() []*Node {
			nodes := make([]*Node, 3)
			for i := range nodes {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				n, err := Start(ctx, cfgs[i])
				cancel()
				Expect(err).NotTo(HaveOccurred(), "seed %d: %s must restart after a power loss", seed, ids[i])
				cfgs[i].HTTPAddr, cfgs[i].ActorAddr, cfgs[i].RaftAddr, cfgs[i].GRPCAddr = n.HTTPAddr(), n.ActorAddr(), n.RaftAddr(), n.GRPCAddr()
				cfgs[i].Bootstrap = false
				nodes[i] = n
			}
			return nodes
		}
		stopAll := func(nodes []*Node) {
			for _, n := range nodes {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				_ = n.Stop(ctx)
				cancel()
			}
		}
		leaderOf := func(nodes []*Node) *Node {
			GinkgoHelper()
			var l *Node
			Eventually(func() bool {
				for _, n := range nodes {
					if st := nodeStatus(n); st.State == "Leader" {
						l = n
						return true
					}
				}
				return false
			}, 30*time.Second, 50*time.Millisecond).Should(BeTrue(), "seed %d: a leader", seed)
			return l
		}

		acked := map[uint64][]byte{} // offset -> value, acknowledged before a power loss
		total := 0
		for round := 0; round < powerLossRounds; round++ {
			nodes := start()
			if round == 0 {
				join(nodes[1], nodes[0])
				join(nodes[2], nodes[0])
			}
			leader := leaderOf(nodes)
			if round == 0 {
				Eventually(func() int {
					n := 0
					for _, s := range nodeServers(leader) {
						if s.Voter {
							n++
						}
					}
					return n
				}, 30*time.Second, 50*time.Millisecond).Should(Equal(3))
			}

			// Every node holds every acknowledged record, and the same log.
			want := 0
			for off := range acked {
				want = max(want, int(off)+1)
			}
			var logs [][]recordJSON
			for _, n := range nodes {
				var got []recordJSON
				Eventually(func() int {
					got = records(n, false)
					return len(got)
				}, 60*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", want),
					"round %d (seed %d): %s lost acknowledged records", round, seed, n.cfg.ID)
				logs = append(logs, got)
			}
			for i, r := range logs[0] {
				Expect(r.Offset).To(BeEquivalentTo(i), "offsets are dense")
			}
			for off, v := range acked {
				Expect(logs[0][off].Value).To(Equal(v), "round %d (seed %d): acknowledged offset %d", round, seed, off)
			}
			// What survived is the new baseline.
			acked = map[uint64][]byte{}
			for _, r := range logs[0] {
				acked[r.Offset] = r.Value
			}
			for i := 1; i < 3; i++ {
				n := min(len(logs[0]), len(logs[i]))
				for k := 0; k < n; k++ {
					Expect(logs[i][k]).To(Equal(logs[0][k]), "round %d (seed %d): %s differs from %s at offset %d", round, seed, ids[i], ids[0], k)
				}
			}

			// Load through the leader, and the power cut at a random moment.
			load := startPowerLoad("http://"+leader.HTTPAddr(), round, 3, 1, func(offs []uint64, vals []string, _ time.Time) {
				acked[offs[0]] = []byte(vals[0])
			})
			Eventually(load.acked, 30*time.Second, 5*time.Millisecond).Should(BeNumerically(">=", int64(1+rng.Intn(40))))
			load.powerOff()
			// A node without power stops at once; here its process runs on
			// with writes vanishing, which to its peers would look like a
			// disk that lies about fsync. So every node is cut off from the
			// others first (its raft transport closed, every connection
			// ended), and only then do the disks lose power.
			for _, n := range nodes {
				_ = n.rp.peer.Disconnect()
			}
			for _, f := range fss {
				f.PowerOff()
			}
			total += load.finish()
			stopAll(nodes)
			for _, f := range fss {
				Expect(f.Restart()).To(Succeed())
			}
		}
		AddReportEntry("3-node power loss, sync always", ReportEntryVisibilityAlways,
			fmt.Sprintf("%d rounds, %d acknowledged produces, 0 lost", powerLossRounds, total))
	})
})

// nodeServers is GET /v1/servers.
func nodeServers(n *Node) []serverJSON {
	GinkgoHelper()
	var out []serverJSON
	Expect(getJSON("http://"+n.HTTPAddr()+"/v1/servers", &out)).To(Equal(http.StatusOK))
	return out
}
