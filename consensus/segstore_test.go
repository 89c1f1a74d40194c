package consensus_test

import (
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
	"actorlog/segmentstore"
)

var _ = Describe("SegmentLogStore", func() {
	var (
		dir   string
		store *consensus.SegmentLogStore
		cfg   consensus.StoreConfig
	)
	open := func() {
		var err error
		store, err = consensus.OpenSegmentLogStore(dir, cfg)
		Expect(err).NotTo(HaveOccurred())
	}
	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "log")
		cfg = consensus.StoreConfig{SegmentBytes: smallSegments}
		open()
		DeferCleanup(func() { Expect(store.Close()).To(Succeed()) })
	})
	segmentFiles := func() []string {
		files, err := filepath.Glob(filepath.Join(dir, "*.store"))
		Expect(err).NotTo(HaveOccurred())
		return files
	}

	It("rejects a gap or an overlap, and keeps the log unchanged", func() {
		Expect(store.StoreLogs(entries(1, 10, 1, 0))).To(Succeed())
		Expect(store.StoreLogs(entries(12, 13, 1, 0))).To(MatchError(consensus.ErrNonMonotonic))
		Expect(store.StoreLogs(entries(10, 11, 1, 0))).To(MatchError(consensus.ErrNonMonotonic))
		Expect(store.StoreLogs([]*raft.Log{entry(11, 1, 0), entry(13, 1, 0)})).To(MatchError(consensus.ErrNonMonotonic))
		expectBounds(store, 1, 10)
	})

	It("refuses to delete from the middle", func() {
		Expect(store.StoreLogs(entries(1, 10, 1, 0))).To(Succeed())
		Expect(store.DeleteRange(3, 5)).To(MatchError(consensus.ErrUnsupportedDeleteRange))
		expectBounds(store, 1, 10)
	})

	It("tells raft it is monotonic", func() {
		Expect(store.IsMonotonic()).To(BeTrue())
	})

	It("reclaims whole segments on a prefix delete while FirstIndex stays exact", func() {
		Expect(store.StoreLogs(entries(1, 300, 1, 0))).To(Succeed())
		before := len(segmentFiles())
		Expect(before).To(BeNumerically(">", 3))
		Expect(store.DeleteRange(1, 200)).To(Succeed())
		Expect(len(segmentFiles())).To(BeNumerically("<", before))
		expectBounds(store, 201, 300)
		expectMissing(store, 200)
		expectEntry(store, entry(201, 1, 0))
	})

	It("rejects an entry larger than MaxEntryBytes and stores nothing of the batch", func() {
		cfg.MaxEntryBytes = 64 << 10
		Expect(store.Close()).To(Succeed())
		open()
		big := &raft.Log{Index: 2, Term: 1, Type: raft.LogCommand, Data: make([]byte, 128<<10)}
		Expect(store.StoreLogs([]*raft.Log{entry(1, 1, 0), big})).To(MatchError(segmentstore.ErrRecordTooLarge))
		expectBounds(store, 0, 0)
	})

	It("ignores a metadata temp file left by a crash", func() {
		Expect(store.StoreLogs(entries(1, 100, 1, 0))).To(Succeed())
		Expect(store.DeleteRange(1, 40)).To(Succeed())
		Expect(store.Close()).To(Succeed())
		Expect(os.WriteFile(dir+".meta.tmp", []byte("half-written"), 0o644)).To(Succeed())
		open()
		expectBounds(store, 41, 100)
		Expect(dir + ".meta.tmp").NotTo(BeAnExistingFile())
	})

	It("reports damaged metadata instead of guessing the first index", func() {
		Expect(store.StoreLogs(entries(1, 100, 1, 0))).To(Succeed())
		Expect(store.DeleteRange(1, 40)).To(Succeed())
		Expect(store.Close()).To(Succeed())
		data, err := os.ReadFile(dir + ".meta")
		Expect(err).NotTo(HaveOccurred())
		data[6] ^= 0xFF
		Expect(os.WriteFile(dir+".meta", data, 0o644)).To(Succeed())
		_, err = consensus.OpenSegmentLogStore(dir, cfg)
		Expect(err).To(MatchError(consensus.ErrCorrupt))
	})

	It("reports a damaged entry instead of serving it", func() {
		Expect(store.StoreLogs(entries(1, 5, 1, 0))).To(Succeed())
		Expect(store.Close()).To(Succeed())
		files := segmentFiles()
		Expect(files).To(HaveLen(1))
		data, err := os.ReadFile(files[0])
		Expect(err).NotTo(HaveOccurred())
		data[len(data)/2] ^= 0x01 // inside the value of entry 3
		Expect(os.WriteFile(files[0], data, 0o644)).To(Succeed())
		open()
		var l raft.Log
		err = store.GetLog(3, &l)
		Expect(err).To(HaveOccurred())
		Expect(err).NotTo(MatchError(raft.ErrLogNotFound))
		expectEntry(store, entry(1, 1, 0))
	})

	It("reads metadata past the end of the log, left by a crash while emptying it, as an empty log", func() {
		Expect(store.StoreLogs(entries(1, 50, 1, 0))).To(Succeed())
		Expect(store.DeleteRange(1, 50)).To(Succeed())
		Expect(store.StoreLogs(entries(10_000, 10_004, 2, 0))).To(Succeed())
		Expect(store.Close()).To(Succeed())
		// As if the crash came after the segments were removed and
		// recreated at index 1, but before any entry was written.
		Expect(os.RemoveAll(dir)).To(Succeed())
		open()
		expectBounds(store, 0, 0)
		Expect(store.StoreLogs(entries(10_000, 10_001, 2, 0))).To(Succeed())
		expectBounds(store, 10_000, 10_001)
	})

	It("returns ErrClosed after Close, and Close is idempotent", func() {
		Expect(store.Close()).To(Succeed())
		Expect(store.Close()).To(Succeed())
		_, err := store.LastIndex()
		Expect(err).To(MatchError(consensus.ErrClosed))
		Expect(store.StoreLogs(entries(1, 1, 1, 0))).To(MatchError(consensus.ErrClosed))
		open()
	})
})

var _ = Describe("FileStableStore", func() {
	var path string
	BeforeEach(func() { path = filepath.Join(GinkgoT().TempDir(), "stable") })

	It("reports a value that SetUint64 did not write", func() {
		s, err := consensus.OpenFileStableStore(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Set([]byte("k"), []byte("abc"))).To(Succeed())
		_, err = s.GetUint64([]byte("k"))
		Expect(err).To(MatchError(consensus.ErrNotUint64))
	})

	It("reports a damaged file", func() {
		s, err := consensus.OpenFileStableStore(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.SetUint64([]byte("CurrentTerm"), 5)).To(Succeed())
		Expect(s.Close()).To(Succeed())
		data, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		data[len(data)-6] ^= 0x10
		Expect(os.WriteFile(path, data, 0o644)).To(Succeed())
		_, err = consensus.OpenFileStableStore(path)
		Expect(err).To(MatchError(consensus.ErrCorrupt))

		By("and a truncated one")
		Expect(os.WriteFile(path, data[:5], 0o644)).To(Succeed())
		_, err = consensus.OpenFileStableStore(path)
		Expect(err).To(MatchError(consensus.ErrCorrupt))
	})

	It("returns ErrClosed after Close", func() {
		s, err := consensus.OpenFileStableStore(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Close()).To(Succeed())
		Expect(s.Set([]byte("k"), nil)).To(MatchError(consensus.ErrClosed))
	})
})
