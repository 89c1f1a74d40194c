package consensus_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing/iotest"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
)

// errPowerCut stands for the process dying while it reads a snapshot.
var errPowerCut = errors.New("the power went during the install")

// Data format 2: a snapshot holds the FSM's state and not the records,
// which are in the node's logs; it gets them only when it is sent.
var _ = Describe("Snapshots of records that stay in the log (data format 2)", func() {
	var (
		dir string
		log *fileLog
	)
	open := func(log *fileLog, dir string) *consensus.FSM {
		GinkgoHelper()
		f, err := consensus.NewFSM(consensus.FSMConfig{Log: log, StatePath: filepath.Join(dir, "fsm.state"),
			ValuesInRaftLog: true, SyncValues: func() error { return nil }, Logger: testLogger("fsm")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		return f
	}
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		log = openFileLog(filepath.Join(dir, "log"))
	})
	take := func(f *consensus.FSM, store raft.SnapshotStore, index uint64) string {
		GinkgoHelper()
		snap, err := f.Snapshot()
		Expect(err).NotTo(HaveOccurred())
		sink, err := store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(snap.Persist(sink)).To(Succeed())
		snap.Release()
		return sink.ID()
	}

	It("writes no record into the snapshot, and a follower that gets it sent gets every retained record", func() {
		f := open(log, dir)
		for i := uint64(1); i <= 40; i++ {
			f.Apply(produceEntry(i, "p", i, fmt.Sprint("v", i), fmt.Sprintf("%0500d", i)))
		}
		want := log.values()
		inner := raft.NewInmemSnapshotStore()
		var expanded atomic.Uint64
		store := consensus.ExpandSnapshots(inner, log, GinkgoT().TempDir(), &expanded)
		id := take(f, store, 40)

		_, raw, err := inner.Open(id)
		Expect(err).NotTo(HaveOccurred())
		b, err := io.ReadAll(raw)
		Expect(err).NotTo(HaveOccurred())
		Expect(len(b)).To(BeNumerically("<", 2000), "the state alone, not 40 KiB of records")

		meta, rc, err := store.Open(id)
		Expect(err).NotTo(HaveOccurred())
		full, err := io.ReadAll(rc)
		Expect(err).NotTo(HaveOccurred())
		Expect(rc.Close()).To(Succeed())
		Expect(int64(len(full))).To(Equal(meta.Size), "raft sends exactly meta.Size bytes")
		Expect(expanded.Load()).To(Equal(uint64(meta.Size)))

		By("restoring it on a follower whose log holds something else")
		otherDir := GinkgoT().TempDir()
		other := openFileLog(filepath.Join(otherDir, "log"))
		g := open(other, otherDir)
		g.Apply(produceEntry(1, "", 0, "stale"))
		Expect(g.Restore(io.NopCloser(bytes.NewReader(full)))).To(Succeed())
		Expect(other.values()).To(Equal(want))
		dup := result(g.Apply(produceEntry(41, "p", 40, "v40", "x")))
		Expect(dup.Duplicate).To(BeTrue())
		Expect(result(g.Apply(produceEntry(42, "q", 1, "new"))).Offsets()).To(Equal([]uint64{80}))
	})

	It("restores a snapshot again after an install that stopped half-way, and ends with the leader's records", func() {
		f := open(log, dir)
		// More records than one snapshot chunk holds, so that a cut
		// install has appended some of them.
		const entries = 2500
		for i := uint64(1); i <= entries; i++ {
			f.Apply(produceEntry(i, "p", i, fmt.Sprint("v", i)))
		}
		want := log.values()
		store := consensus.ExpandSnapshots(raft.NewInmemSnapshotStore(), log, GinkgoT().TempDir(), nil)
		id := take(f, store, entries)
		_, rc, err := store.Open(id)
		Expect(err).NotTo(HaveOccurred())
		full, err := io.ReadAll(rc)
		Expect(err).NotTo(HaveOccurred())
		Expect(rc.Close()).To(Succeed())

		By("a follower whose install stops two thirds of the way through")
		otherDir := GinkgoT().TempDir()
		other := openFileLog(filepath.Join(otherDir, "log"))
		g := open(other, otherDir)
		g.Apply(produceEntry(1, "", 0, "stale"))
		before := g.StateIndex()
		cut := io.MultiReader(bytes.NewReader(full[:len(full)*2/3]), iotest.ErrReader(errPowerCut))
		Expect(g.Restore(io.NopCloser(cut))).NotTo(Succeed())
		partial := other.values()
		Expect(partial).NotTo(BeEmpty(), "the install wrote some records before it stopped")
		Expect(partial).NotTo(Equal(want))

		By("restarting on what it left: the state file is still the old one, so the snapshot is restored again")
		g.Close()
		other.close()
		other = openFileLog(filepath.Join(otherDir, "log"))
		g = open(other, otherDir)
		Expect(g.StateIndex()).To(Equal(before), "nothing claims the half-installed snapshot")
		Expect(g.Restore(io.NopCloser(bytes.NewReader(full)))).To(Succeed())
		Expect(other.values()).To(Equal(want))
		Expect(g.StateIndex()).To(BeEquivalentTo(entries))
		Expect(result(g.Apply(produceEntry(entries+1, "p", entries, "again"))).Duplicate).To(BeTrue())
		Expect(result(g.Apply(produceEntry(entries+2, "q", 1, "new"))).Offsets()).To(Equal([]uint64{entries}))
	})

	It("restores its own snapshot in place, and refuses one whose records its log does not hold", func() {
		f := open(log, dir)
		for i := uint64(1); i <= 10; i++ {
			f.Apply(produceEntry(i, "p", i, fmt.Sprint("v", i)))
		}
		inner := raft.NewInmemSnapshotStore()
		id := take(f, inner, 10)
		_, rc, err := inner.Open(id)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Restore(rc)).To(Succeed())
		Expect(log.values()).To(HaveLen(10))
		Expect(result(f.Apply(produceEntry(11, "p", 11, "v11"))).Offsets()).To(Equal([]uint64{10}))

		otherDir := GinkgoT().TempDir()
		g := open(openFileLog(filepath.Join(otherDir, "log")), otherDir)
		_, rc, err = inner.Open(id)
		Expect(err).NotTo(HaveOccurred())
		Expect(g.Restore(rc)).To(MatchError(consensus.ErrCorrupt))
	})

	It("passes a snapshot with its records through as it is", func() {
		f, err := consensus.NewFSM(consensus.FSMConfig{Log: log, StatePath: filepath.Join(dir, "fsm.state"), Logger: testLogger("fsm")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		for i := uint64(1); i <= 5; i++ {
			f.Apply(produceEntry(i, "", 0, fmt.Sprint("v", i)))
		}
		inner := raft.NewInmemSnapshotStore()
		id := take(f, inner, 5)
		_, raw, err := inner.Open(id)
		Expect(err).NotTo(HaveOccurred())
		want, err := io.ReadAll(raw)
		Expect(err).NotTo(HaveOccurred())
		meta, rc, err := consensus.ExpandSnapshots(inner, log, GinkgoT().TempDir(), nil).Open(id)
		Expect(err).NotTo(HaveOccurred())
		got, err := io.ReadAll(rc)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(want))
		Expect(meta.Size).To(Equal(int64(len(want))))
	})
})
