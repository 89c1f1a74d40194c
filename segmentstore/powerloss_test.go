package segmentstore_test

import (
	"math/rand"
	"os"
	"sync"
	"time"

	"actorlog/segmentstore"
	"actorlog/segmentstore/faultfs"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Power loss, simulated by faultfs: a writer appends as fast as it can, the
// power goes off at a random moment (dropping, page by page, what was not
// fsynced, and directory changes not made durable), the log is reopened,
// and what it holds is checked against what was acknowledged. Many rounds
// run on one directory, so damage left by one round meets the next.
var _ = Describe("A log after a power loss", func() {
	type lossStats struct {
		rounds, lossy       int
		lost, maxLost       uint64
		maxLostAge          time.Duration
		pages, lostOrTorn   int
		dirOps, lostDirOps  int
		acknowledged, total uint64
	}

	run := func(policy segmentstore.SyncPolicy) lossStats {
		seed := GinkgoRandomSeed() + int64(policy)
		rng := rand.New(rand.NewSource(seed))
		fsys := faultfs.New(seed)
		dir := fastDir()
		c := testConfig()
		c.FS = fsys
		c.Sync = policy
		c.SyncInterval = 10 * time.Millisecond
		c.MaxStoreBytes = 16 << 10
		c.MaxIndexBytes = 256 * segmentstore.IndexEntryBytes
		c.WriteBufferBytes = 2048

		var st lossStats
		acked := uint64(0)   // every offset below was acknowledged
		durable := uint64(0) // and below this, a Sync returned after it
		for round := 0; round < powerLossRounds; round++ {
			l, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred(), "round %d (seed %d): the log must reopen after a power loss", round, seed)
			next := l.NextOffset()
			Expect(l.Damaged()).To(BeEmpty(), "round %d: a power loss damages no durable record", round)
			Expect(next).To(BeNumerically(">=", durable), "round %d: records fsynced by Sync were lost", round)
			if policy == segmentstore.SyncAlways {
				Expect(next).To(BeNumerically(">=", acked), "round %d (seed %d): acknowledged records were lost under SyncAlways", round, seed)
			}
			var recs []segmentstore.Record
			if next > 0 {
				recs, err = l.ReadRange(0, 0, 0)
				Expect(err).NotTo(HaveOccurred(), "round %d", round)
			}
			Expect(recs).To(HaveLen(int(next)), "round %d: every record from 0 is readable", round)
			for i, r := range recs {
				Expect(r.Offset).To(BeEquivalentTo(i))
				Expect(r.Value).To(Equal(value(uint64(i))), "round %d: offset %d", round, i)
			}
			acked, durable = next, next

			// Load, and the power cut at a random moment.
			var (
				mu      sync.Mutex
				ackedAt = map[uint64]time.Time{}
			)
			done := make(chan struct{})
			wrng := rand.New(rand.NewSource(seed + int64(round)))
			go func() {
				defer GinkgoRecover()
				defer close(done)
				for i := 0; ; i++ {
					n := uint64(1 + wrng.Intn(4))
					from := l.NextOffset()
					first, err := l.Append(records(from, n)...)
					if err != nil {
						return
					}
					Expect(first).To(Equal(from))
					now := time.Now()
					mu.Lock()
					acked = first + n
					ackedAt[acked] = now
					mu.Unlock()
					st.acknowledged += n
					if i%400 == 399 {
						mu.Lock()
						before := acked
						mu.Unlock()
						if l.Sync() == nil {
							durable = before
						}
					}
				}
			}()
			delay := time.Duration(1+rng.Intn(60)) * time.Millisecond
			offAt := make(chan time.Time, 1)
			t := time.AfterFunc(delay, func() {
				now := time.Now()
				s := fsys.PowerOff()
				st.pages += s.DirtyPages
				st.lostOrTorn += s.LostPages + s.TornPages
				st.dirOps += s.PendingDirOps
				st.lostDirOps += s.PendingDirOps - s.KeptDirOps
				offAt <- now
			})
			Eventually(done, 30*time.Second).Should(BeClosed())
			t.Stop()
			off := <-offAt
			_ = l.Close() // fails: the power is off
			Expect(fsys.Restart()).To(Succeed())
			st.rounds++

			// The age of the oldest acknowledged record that the next open
			// will find missing is measured there; remember when each
			// acknowledged end was reached.
			l2, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred(), "round %d (seed %d)", round, seed)
			got := l2.NextOffset()
			Expect(l2.Close()).To(Succeed())
			mu.Lock()
			if got < acked {
				st.lossy++
				st.lost += acked - got
				st.maxLost = max(st.maxLost, acked-got)
			}
			for end, at := range ackedAt {
				if end > got && end <= acked {
					// a record acknowledged at 'at' was lost
					if age := off.Sub(at); age > st.maxLostAge {
						st.maxLostAge = age
					}
				}
			}
			mu.Unlock()
		}
		st.total = acked
		return st
	}

	report := func(policy segmentstore.SyncPolicy, st lossStats) {
		AddReportEntry("power loss under sync "+policy.String(), st)
		GinkgoWriter.Printf("sync %s: %d rounds, %d acknowledged appends, rounds with loss %d, records lost %d (max %d in a round, oldest lost acknowledged %s before the power went), dirty pages %d (lost or torn %d), directory changes pending %d (lost %d)\n",
			policy, st.rounds, st.acknowledged, st.lossy, st.lost, st.maxLost, st.maxLostAge, st.pages, st.lostOrTorn, st.dirOps, st.lostDirOps)
	}

	It("under SyncAlways loses no acknowledged record, and reopens cleanly every time", func() {
		st := run(segmentstore.SyncAlways)
		report(segmentstore.SyncAlways, st)
		Expect(st.lost).To(BeZero())
	})

	It("under SyncInterval reopens cleanly every time and loses only a suffix that was not fsynced", func() {
		report(segmentstore.SyncInterval, run(segmentstore.SyncInterval))
	})

	It("under SyncNone reopens cleanly every time and loses only a suffix that was not fsynced", func() {
		report(segmentstore.SyncNone, run(segmentstore.SyncNone))
	})
})

// fastDir is a temporary directory on tmpfs when the machine has one, so
// that thousands of fsyncs cost nothing: the power loss is simulated.
func fastDir() string {
	GinkgoHelper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "segmentstore-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, d)
		return d
	}
	return GinkgoT().TempDir()
}
