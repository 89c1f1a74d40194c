package node

import (
	"bytes"
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

// A node whose record log, raft log, raft stable store, raft snapshots and
// state machine files live on faultfs loses power at a random moment while
// clients produce, restarts on what the disk kept, and is checked against
// what it acknowledged before the power went.
var _ = Describe("A node losing power under load", func() {
	run := func(policy segmentstore.SyncPolicy) (acked, lost int, oldestLost time.Duration) {
		seed := GinkgoRandomSeed() + int64(policy)
		rng := rand.New(rand.NewSource(seed))
		fsys := faultfs.New(seed)
		// raft panics when it cannot persist its term: after the power
		// loss its writes vanish instead, and no acknowledgement sent
		// after it is counted.
		fsys.VanishAfterPowerOff()
		cfg := testConfig()
		cfg.Storage.Sync = policy
		cfg.Storage.FS = fsys
		cfg.Storage.MaxStoreBytes = 64 << 10
		cfg.Storage.MaxIndexBytes = 4096 * segmentstore.IndexEntryBytes

		ackedAt := map[uint64][]byte{}    // offset -> value, acknowledged before the power went
		ackTime := map[uint64]time.Time{} // offset -> when the client heard of it
		var lastOff time.Time
		for round := 0; round < powerLossRounds; round++ {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			n, err := Start(ctx, cfg)
			cancel()
			Expect(err).NotTo(HaveOccurred(), "round %d (seed %d): the node must restart after a power loss", round, seed)
			cfg.HTTPAddr, cfg.ActorAddr, cfg.RaftAddr = n.HTTPAddr(), n.ActorAddr(), n.RaftAddr()
			cfg.Bootstrap = false // it has raft state now
			base := "http://" + n.HTTPAddr()

			// Everything acknowledged so far is there, at its offset,
			// and the offsets are dense.
			var got consumeJSON
			if round > 0 {
				// Under --sync always every acknowledged record comes back
				// (the state machine refills the record log from the raft
				// log); otherwise whatever the node holds once it leads.
				Eventually(func(g Gomega) {
					got = consumeJSON{}
					st := nodeStatus(n)
					g.Expect(st.LeaderID).NotTo(BeEmpty())
					// A reply is bounded in bytes: read page by page.
					for uint64(len(got.Records)) < st.NextOffset {
						var page consumeJSON
						g.Expect(getJSON(fmt.Sprintf("%s/v1/records?offset=%d&max=100000", base, len(got.Records)), &page)).To(Equal(http.StatusOK))
						g.Expect(page.Records).NotTo(BeEmpty())
						got.Records = append(got.Records, page.Records...)
					}
					if policy == segmentstore.SyncAlways {
						g.Expect(len(got.Records)).To(BeNumerically(">=", len(ackedAt)))
					}
				}, 30*time.Second, 100*time.Millisecond).Should(Succeed(), "round %d (seed %d)", round, seed)
			}
			for i, r := range got.Records {
				Expect(r.Offset).To(BeEquivalentTo(i), "offsets are dense")
			}
			missing := 0
			for off, v := range ackedAt {
				if off >= uint64(len(got.Records)) || !bytes.Equal(got.Records[off].Value, v) {
					missing++
					if t, ok := ackTime[off]; ok {
						oldestLost = max(oldestLost, lastOff.Sub(t))
					}
				}
			}
			if policy == segmentstore.SyncAlways {
				Expect(missing).To(BeZero(), "round %d (seed %d): acknowledged records lost under --sync always", round, seed)
			}
			lost += missing
			// What survived is the new baseline.
			ackedAt, ackTime = map[uint64][]byte{}, map[uint64]time.Time{}
			for _, r := range got.Records {
				ackedAt[r.Offset] = r.Value
			}

			// Load, and the power cut at a random moment.
			load := startPowerLoad(base, round, 3, 2, func(offs []uint64, vals []string, at time.Time) {
				for k, off := range offs {
					ackedAt[off] = []byte(vals[k])
					ackTime[off] = at
				}
			})
			want := int64(1 + rng.Intn(60))
			Eventually(load.acked, 30*time.Second, 5*time.Millisecond).Should(BeNumerically(">=", want))
			lastOff = load.powerOff()
			fsys.PowerOff()
			acked += load.finish()
			ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
			_ = n.Stop(ctx)
			cancel()
			Expect(fsys.Restart()).To(Succeed())
		}
		return acked, lost, oldestLost
	}

	It("under --sync always loses no acknowledged record and keeps offsets dense", func() {
		acked, lost, _ := run(segmentstore.SyncAlways)
		AddReportEntry("node power loss, sync always", ReportEntryVisibilityAlways,
			fmt.Sprintf("%d rounds, %d acknowledged produces, %d records lost", powerLossRounds, acked, lost))
		Expect(lost).To(BeZero())
	})

	It("under --sync interval and none restarts cleanly every time, offsets dense", func() {
		for _, p := range []segmentstore.SyncPolicy{segmentstore.SyncInterval, segmentstore.SyncNone} {
			acked, lost, oldest := run(p)
			AddReportEntry("node power loss, sync "+p.String(), ReportEntryVisibilityAlways,
				fmt.Sprintf("%d rounds, %d acknowledged produces, %d records lost, the oldest acknowledged %s before the power went",
					powerLossRounds, acked, lost, oldest.Round(time.Millisecond)))
		}
	})
})
