package segmentstore_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Log", func() {
	var (
		dir string
		c   segmentstore.Config
	)

	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		c = testConfig()
	})

	It("starts empty at InitialOffset and creates its directory", func() {
		c.InitialOffset = 1000
		l := mustOpen(filepath.Join(dir, "a", "b"), c)
		Expect(l.LowestOffset()).To(BeEquivalentTo(1000))
		Expect(l.NextOffset()).To(BeEquivalentTo(1000))
		_, ok := l.HighestOffset()
		Expect(ok).To(BeFalse())
		off, err := l.Append(segmentstore.Record{Value: value(1000), Term: 2000})
		Expect(err).NotTo(HaveOccurred())
		Expect(off).To(BeEquivalentTo(1000))
		h, ok := l.HighestOffset()
		Expect(ok).To(BeTrue())
		Expect(h).To(BeEquivalentTo(1000))
		expectRecord(l, 1000)
	})

	It("ignores InitialOffset when segments exist", func() {
		l, err := segmentstore.Open(dir, c)
		Expect(err).NotTo(HaveOccurred())
		appendN(l, 5)
		Expect(l.Close()).To(Succeed())
		c.InitialOffset = 77
		l = mustOpen(dir, c)
		Expect(l.LowestOffset()).To(BeZero())
		Expect(l.NextOffset()).To(BeEquivalentTo(5))
	})

	It("appends a batch with dense offsets and an empty batch as a no-op", func() {
		l := mustOpen(dir, c)
		first, err := l.Append(records(0, 10)...)
		Expect(err).NotTo(HaveOccurred())
		Expect(first).To(BeZero())
		first, err = l.Append()
		Expect(err).NotTo(HaveOccurred())
		Expect(first).To(BeEquivalentTo(10))
		for off := uint64(0); off < 10; off++ {
			expectRecord(l, off)
		}
	})

	It("rolls over when the store reaches MaxStoreBytes and seals the old segment", func() {
		l := mustOpen(dir, c)
		appendN(l, 200)
		segs := l.Segments()
		Expect(len(segs)).To(BeNumerically(">", 2))
		for i, s := range segs {
			Expect(s.Path).To(Equal(storePath(dir, s.BaseOffset)))
			if i < len(segs)-1 {
				Expect(s.Sealed).To(BeTrue())
				Expect(s.NextOffset).To(Equal(segs[i+1].BaseOffset))
				Expect(s.Size).To(BeNumerically("<=", int64(c.MaxStoreBytes)))
				Expect(fileSize(indexPath(dir, s.BaseOffset))).To(BeEquivalentTo((s.NextOffset - s.BaseOffset + 1) * segmentstore.IndexEntryBytes))
			} else {
				Expect(s.Sealed).To(BeFalse())
			}
		}
		for off := uint64(0); off < 200; off++ {
			expectRecord(l, off)
		}
	})

	It("rolls over when the index reaches MaxIndexBytes", func() {
		c.MaxStoreBytes = 1 << 20
		c.MaxIndexBytes = 10 * segmentstore.IndexEntryBytes
		l := mustOpen(dir, c)
		appendN(l, 35)
		segs := l.Segments()
		Expect(segs).To(HaveLen(4))
		Expect(segs[1].BaseOffset).To(BeEquivalentTo(10))
		Expect(segs[3].BaseOffset).To(BeEquivalentTo(30))
	})

	It("spreads one large batch over several segments", func() {
		c.MaxIndexBytes = 16 * segmentstore.IndexEntryBytes
		l := mustOpen(dir, c)
		first, err := l.Append(records(0, 100)...)
		Expect(err).NotTo(HaveOccurred())
		Expect(first).To(BeZero())
		Expect(len(l.Segments())).To(BeNumerically(">=", 7))
		recs, err := l.ReadRange(0, 0, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(HaveLen(100))
		for i, r := range recs {
			Expect(r.Offset).To(BeEquivalentTo(i))
			Expect(r.Value).To(Equal(value(uint64(i))))
		}
	})

	It("rejects a batch with an oversized record, writing none of it", func() {
		l := mustOpen(dir, c)
		appendN(l, 3)
		batch := records(3, 50)
		batch[49].Value = make([]byte, c.MaxRecordBytes+1)
		_, err := l.Append(batch...)
		Expect(err).To(MatchError(segmentstore.ErrRecordTooLarge))
		Expect(l.NextOffset()).To(BeEquivalentTo(3))
		Expect(l.Segments()).To(HaveLen(1))
	})

	It("stores a record larger than MaxStoreBytes alone in its own segment", func() {
		c.MaxRecordBytes = 8 << 10
		l := mustOpen(dir, c)
		appendN(l, 3)
		big := bytes.Repeat([]byte("B"), 6<<10)
		off, err := l.Append(segmentstore.Record{Value: big})
		Expect(err).NotTo(HaveOccurred())
		appendN(l, 1)
		r, err := l.Read(off)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Value).To(Equal(big))
	})

	Describe("reads", func() {
		var l *segmentstore.Log
		BeforeEach(func() {
			l = mustOpen(dir, c)
			appendN(l, 150)
		})

		It("crosses segments in ReadRange up to maxRecords", func() {
			segs := l.Segments()
			from := segs[1].BaseOffset - 3
			recs, err := l.ReadRange(from, 10, 0)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(10))
			for i, r := range recs {
				Expect(r.Offset).To(Equal(from + uint64(i)))
			}
		})

		It("stops at maxBytes across segments, returning at least one record", func() {
			segs := l.Segments()
			from := segs[1].BaseOffset - 1
			limit := len(value(from)) + len(value(from+1)) + len(value(from+2))
			recs, err := l.ReadRange(from, 0, limit)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(3))
			recs, err = l.ReadRange(from, 0, 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(1))
		})

		It("gives an OffsetOutOfRangeError with the log's bounds", func() {
			_, err := l.Read(150)
			Expect(err).To(MatchError(segmentstore.ErrOffsetOutOfRange))
			Expect(err).To(Equal(&segmentstore.OffsetOutOfRangeError{Offset: 150, Low: 0, Next: 150}))
			_, err = l.ReadRange(1<<63, 1, 0)
			Expect(err).To(MatchError(segmentstore.ErrOffsetOutOfRange))
		})
	})

	Describe("TruncatePrefix", func() {
		It("deletes whole sealed segments below the offset and keeps the active one", func() {
			l := mustOpen(dir, c)
			appendN(l, 200)
			segs := l.Segments()
			Expect(l.TruncatePrefix(segs[2].BaseOffset + 1)).To(Succeed())
			Expect(l.LowestOffset()).To(Equal(segs[2].BaseOffset))
			Expect(storePath(dir, segs[0].BaseOffset)).NotTo(BeAnExistingFile())
			Expect(indexPath(dir, segs[1].BaseOffset)).NotTo(BeAnExistingFile())
			_, err := l.Read(segs[2].BaseOffset - 1)
			Expect(err).To(MatchError(segmentstore.ErrOffsetOutOfRange))
			expectRecord(l, segs[2].BaseOffset)

			Expect(l.TruncatePrefix(1 << 62)).To(Succeed())
			Expect(l.Segments()).To(HaveLen(1))
			Expect(l.NextOffset()).To(BeEquivalentTo(200))
			appendN(l, 1)
		})

		It("survives a reopen", func() {
			l, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred())
			appendN(l, 200)
			segs := l.Segments()
			Expect(l.TruncatePrefix(segs[1].NextOffset)).To(Succeed())
			Expect(l.Close()).To(Succeed())
			l = mustOpen(dir, c)
			Expect(l.LowestOffset()).To(Equal(segs[2].BaseOffset))
			Expect(l.NextOffset()).To(BeEquivalentTo(200))
		})
	})

	Describe("TruncateSuffix", func() {
		var segs []segmentstore.SegmentInfo
		var l *segmentstore.Log
		BeforeEach(func() {
			var err error
			l, err = segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { _ = l.Close() })
			appendN(l, 200)
			segs = l.Segments()
		})

		It("cuts inside a sealed segment, deletes the later ones and appends from there", func() {
			from := segs[1].BaseOffset + 2
			Expect(l.TruncateSuffix(from)).To(Succeed())
			Expect(l.NextOffset()).To(Equal(from))
			Expect(l.Segments()).To(HaveLen(2))
			Expect(storePath(dir, segs[2].BaseOffset)).NotTo(BeAnExistingFile())
			_, err := l.Read(from)
			Expect(err).To(MatchError(segmentstore.ErrOffsetOutOfRange))
			appendN(l, 300-from)
			Expect(l.Close()).To(Succeed())
			l = mustOpen(dir, c)
			Expect(l.NextOffset()).To(BeEquivalentTo(300))
			for off := uint64(0); off < 300; off++ {
				expectRecord(l, off)
			}
		})

		It("cuts at a segment boundary", func() {
			Expect(l.TruncateSuffix(segs[2].BaseOffset)).To(Succeed())
			Expect(l.NextOffset()).To(Equal(segs[2].BaseOffset))
			appendN(l, 5)
		})

		It("empties the log when cutting at or below the lowest offset", func() {
			Expect(l.TruncateSuffix(0)).To(Succeed())
			Expect(l.NextOffset()).To(BeZero())
			Expect(l.LowestOffset()).To(BeZero())
			Expect(l.Segments()).To(HaveLen(1))
			appendN(l, 3)
			expectRecord(l, 2)
		})

		It("ignores offsets past the end", func() {
			Expect(l.TruncateSuffix(1000)).To(Succeed())
			Expect(l.NextOffset()).To(BeEquivalentTo(200))
		})
	})

	Describe("retention", func() {
		It("deletes sealed segments from the front until the log fits RetentionBytes", func() {
			c.RetentionBytes = 3 * c.MaxStoreBytes
			l := mustOpen(dir, c)
			appendN(l, 600)
			var total int64
			for _, s := range l.Segments() {
				total += s.Size
			}
			Expect(total).To(BeNumerically("<=", int64(c.RetentionBytes)), "applied at roll-over")
			Expect(l.LowestOffset()).To(BeNumerically(">", 0))
			expectRecord(l, l.LowestOffset())
			expectRecord(l, 599)
		})

		It("deletes sealed segments whose newest record is older than RetentionAge", func() {
			c.RetentionAge = time.Hour
			l := mustOpen(dir, c)
			old := time.Now().Add(-2 * time.Hour).UnixNano()
			for i := 0; i < 150; i++ {
				_, err := l.Append(segmentstore.Record{Value: value(uint64(i)), Timestamp: old})
				Expect(err).NotTo(HaveOccurred())
			}
			appendN(l, 150)
			segs := l.Segments()
			Expect(segs[0].BaseOffset).To(BeNumerically(">", 0), "old segments went at roll-over")
			Expect(l.LowestOffset()).To(BeNumerically("<=", 150))
			// Nothing is older than the age any more.
			n, err := l.ApplyRetention()
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(BeZero())
		})

		It("never deletes the active segment", func() {
			c.RetentionBytes = 1
			c.RetentionAge = time.Nanosecond
			l := mustOpen(dir, c)
			appendN(l, 300)
			_, err := l.ApplyRetention()
			Expect(err).NotTo(HaveOccurred())
			segs := l.Segments()
			Expect(segs).To(HaveLen(1))
			Expect(segs[0].Sealed).To(BeFalse())
			Expect(l.NextOffset()).To(BeEquivalentTo(300))
			expectRecord(l, 299)
		})

		It("keeps everything when retention is unlimited", func() {
			l := mustOpen(dir, c)
			appendN(l, 300)
			n, err := l.ApplyRetention()
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(BeZero())
			Expect(l.LowestOffset()).To(BeZero())
		})
	})

	Describe("snapshots", func() {
		It("restores the frames of Reader into a new log with offsets, terms and timestamps", func() {
			c.InitialOffset = 40
			l := mustOpen(dir, c)
			appendN(l, 200)
			Expect(l.TruncatePrefix(100)).To(Succeed())
			low := l.LowestOffset()
			var snap bytes.Buffer
			_, err := io.Copy(&snap, l.Reader())
			Expect(err).NotTo(HaveOccurred())

			restored, err := segmentstore.Restore(GinkgoT().TempDir(), c, bytes.NewReader(snap.Bytes()))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(restored.Close)
			Expect(restored.LowestOffset()).To(Equal(low))
			Expect(restored.NextOffset()).To(BeEquivalentTo(240))
			for off := low; off < 240; off++ {
				a, err := l.Read(off)
				Expect(err).NotTo(HaveOccurred())
				b, err := restored.Read(off)
				Expect(err).NotTo(HaveOccurred())
				Expect(b).To(Equal(a))
			}
		})

		It("includes records still in the write buffer", func() {
			c.WriteBufferBytes = 1 << 20
			l := mustOpen(dir, c)
			appendN(l, 5)
			restored, err := segmentstore.Restore(GinkgoT().TempDir(), c, l.Reader())
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(restored.Close)
			Expect(restored.NextOffset()).To(BeEquivalentTo(5))
		})

		It("replaces a log's content with Log.Restore", func() {
			src := mustOpen(dir, c)
			appendN(src, 120)
			other := mustOpen(GinkgoT().TempDir(), c)
			appendN(other, 7)
			Expect(other.Restore(src.Reader())).To(Succeed())
			Expect(other.NextOffset()).To(BeEquivalentTo(120))
			for off := uint64(0); off < 120; off++ {
				expectRecord(other, off)
			}
			appendN(other, 1)
		})

		It("restores an empty stream as an empty log at InitialOffset", func() {
			c.InitialOffset = 9
			l, err := segmentstore.Restore(GinkgoT().TempDir(), c, bytes.NewReader(nil))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(l.Close)
			Expect(l.NextOffset()).To(BeEquivalentTo(9))
		})

		It("refuses a stream whose records exceed the target's MaxRecordBytes", func() {
			l := mustOpen(dir, c)
			_, err := l.Append(segmentstore.Record{Value: make([]byte, 1000)})
			Expect(err).NotTo(HaveOccurred())
			small := c
			small.MaxRecordBytes = 500
			_, err = segmentstore.Restore(GinkgoT().TempDir(), small, l.Reader())
			Expect(err).To(MatchError(segmentstore.ErrRecordTooLarge))
		})

		It("refuses a directory that already holds segments", func() {
			l, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred())
			Expect(l.Close()).To(Succeed())
			_, err = segmentstore.Restore(dir, c, bytes.NewReader(nil))
			Expect(err).To(MatchError(segmentstore.ErrNotEmpty))
		})

		It("refuses a truncated stream or one with a gap in offsets", func() {
			l := mustOpen(dir, c)
			appendN(l, 10)
			var snap bytes.Buffer
			_, err := io.Copy(&snap, l.Reader())
			Expect(err).NotTo(HaveOccurred())
			b := snap.Bytes()

			target := GinkgoT().TempDir()
			_, err = segmentstore.Restore(target, c, bytes.NewReader(b[:len(b)-3]))
			Expect(err).To(MatchError(segmentstore.ErrCorrupt))
			bases, err := segmentstore.ListSegments(target)
			Expect(err).NotTo(HaveOccurred())
			Expect(bases).To(BeEmpty(), "a failed restore leaves nothing behind")

			_, n0, err := segmentstore.DecodeFrame(b)
			Expect(err).NotTo(HaveOccurred())
			_, n1, err := segmentstore.DecodeFrame(b[n0:])
			Expect(err).NotTo(HaveOccurred())
			gap := append(append([]byte{}, b[:n0]...), b[n0+n1:]...) // frame 1 left out
			_, err = segmentstore.Restore(GinkgoT().TempDir(), c, bytes.NewReader(gap))
			Expect(err).To(MatchError(segmentstore.ErrCorrupt))
			Expect(err.Error()).To(ContainSubstring("jumps from offset 0 to 2"))
		})
	})

	It("is held by one Log at a time", func() {
		l := mustOpen(dir, c)
		_, err := segmentstore.Open(dir, c)
		Expect(err).To(MatchError(segmentstore.ErrLocked))
		Expect(l.Close()).To(Succeed())
		l2 := mustOpen(dir, c)
		Expect(l2.NextOffset()).To(BeZero())
	})

	It("closes idempotently and then answers ErrClosed", func() {
		c.Sync = segmentstore.SyncInterval
		c.SyncInterval = time.Millisecond
		l, err := segmentstore.Open(dir, c)
		Expect(err).NotTo(HaveOccurred())
		appendN(l, 10)
		Expect(l.Close()).To(Succeed())
		Expect(l.Close()).To(Succeed())
		_, err = l.Append(segmentstore.Record{Value: []byte("x")})
		Expect(err).To(MatchError(segmentstore.ErrClosed))
		_, err = l.Read(0)
		Expect(err).To(MatchError(segmentstore.ErrClosed))
		_, err = l.ReadRange(0, 1, 0)
		Expect(err).To(MatchError(segmentstore.ErrClosed))
		Expect(l.Sync()).To(MatchError(segmentstore.ErrClosed))
		Expect(l.TruncatePrefix(1)).To(MatchError(segmentstore.ErrClosed))
		Expect(l.TruncateSuffix(1)).To(MatchError(segmentstore.ErrClosed))
		_, err = l.ApplyRetention()
		Expect(err).To(MatchError(segmentstore.ErrClosed))
		_, err = io.ReadAll(l.Reader())
		Expect(err).To(MatchError(segmentstore.ErrClosed))
	})

	It("removes its files and directory", func() {
		sub := filepath.Join(dir, "log")
		l, err := segmentstore.Open(sub, c)
		Expect(err).NotTo(HaveOccurred())
		appendN(l, 200)
		Expect(l.Remove()).To(Succeed())
		Expect(sub).NotTo(BeADirectory())
	})

	It("keeps a directory that holds other files on Remove", func() {
		l, err := segmentstore.Open(dir, c)
		Expect(err).NotTo(HaveOccurred())
		appendN(l, 10)
		Expect(os.WriteFile(filepath.Join(dir, "keep.txt"), nil, 0o644)).To(Succeed())
		Expect(l.Remove()).To(Succeed())
		Expect(filepath.Join(dir, "keep.txt")).To(BeAnExistingFile())
		bases, err := segmentstore.ListSegments(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(bases).To(BeEmpty())
	})

	It("leaves no goroutine behind after Close", func() {
		c.Sync = segmentstore.SyncInterval
		c.SyncInterval = time.Millisecond
		// Count the fsync goroutines by their stacks: the total goroutine
		// count also moves with whatever else the process is doing.
		syncers := func() int {
			buf := make([]byte, 1<<20)
			return strings.Count(string(buf[:runtime.Stack(buf, true)]), "segmentstore.startSyncer.func1(")
		}
		Eventually(syncers).Should(BeZero())
		l, err := segmentstore.Open(dir, c)
		Expect(err).NotTo(HaveOccurred())
		s, err := segmentstore.OpenSegment(GinkgoT().TempDir(), 0, c)
		Expect(err).NotTo(HaveOccurred())
		Expect(syncers()).To(Equal(2))
		appendN(l, 10)
		Expect(l.Close()).To(Succeed())
		Expect(s.Close()).To(Succeed())
		Expect(syncers()).To(BeZero(), "Close returns only once its goroutine has exited")
	})

	It("syncs in the background under SyncInterval", func() {
		c.Sync = segmentstore.SyncInterval
		c.SyncInterval = 2 * time.Millisecond
		c.WriteBufferBytes = 1 << 20
		l := mustOpen(dir, c)
		appendN(l, 3)
		size := l.Segments()[0].Size
		Eventually(func() int64 { return fileSize(storePath(dir, 0)) }).Should(Equal(size))
	})

	It("has every record on disk when Append returns under SyncAlways", func() {
		c.Sync = segmentstore.SyncAlways
		l := mustOpen(dir, c)
		appendN(l, 100)
		for _, s := range l.Segments() {
			Expect(fileSize(s.Path)).To(Equal(s.Size))
		}
	})
})
