package segmentstore_test

import (
	"os"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Recovery cuts only a torn tail: bytes that nothing valid follows, in an
// active segment, after a crash. Each spec here damages records that were
// acknowledged and fsynced and checks that recovery reports them and keeps
// every other record.
var _ = Describe("Recovery never cuts past a valid later frame", func() {
	var (
		dir string
		c   segmentstore.Config
	)

	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		c = testConfig()
		c.MaxStoreBytes = 1 << 20
		c.MaxIndexBytes = 4096 * segmentstore.IndexEntryBytes
		c.Sync = segmentstore.SyncAlways
	})

	// expectOnlyDamaged checks that every record of [0, n) but bad reads
	// back as written and that bad is reported, not served.
	expectOnlyDamaged := func(r interface {
		Read(uint64) (segmentstore.Record, error)
		NextOffset() uint64
	}, path string, n, bad uint64) {
		GinkgoHelper()
		Expect(r.NextOffset()).To(Equal(n), "records after the damaged one are kept")
		for off := uint64(0); off < n; off++ {
			if off == bad {
				_, err := r.Read(off)
				expectCorruptAt(err, path, off)
				continue
			}
			expectRecord(r, off)
		}
	}

	Context("one flipped bit in a frame's length field, after a crash under SyncAlways", func() {
		// 50 records, each appended (written and fsynced) on its own, and
		// the process killed: the index is left preallocated, so the open
		// rebuilds it by scanning the store.
		var crashed string
		BeforeEach(func() {
			s := mustOpenSegment(dir, 0, c)
			for i := uint64(0); i < 50; i++ {
				_, err := s.Append(records(i, 1))
				Expect(err).NotTo(HaveOccurred())
			}
			crashed = crashCopy(dir)
		})

		It("keeps records 11-49 and reports record 10, for every one of the 32 bits", func() {
			positions := framePositions(storePath(crashed, 0))
			Expect(positions).To(HaveLen(50))
			size := fileSize(storePath(crashed, 0))
			for bit := uint(0); bit < 32; bit++ {
				d := copyDir(crashed)
				flipBit(storePath(d, 0), positions[10]+int64(bit/8), bit%8)
				s, err := segmentstore.OpenSegment(d, 0, c)
				Expect(err).NotTo(HaveOccurred(), "bit %d", bit)
				expectOnlyDamaged(s, storePath(d, 0), 50, 10)
				Expect(fileSize(storePath(d, 0))).To(Equal(size), "bit %d: the store was cut", bit)
				Expect(s.Close()).To(Succeed())
			}
		})

		It("keeps them through a Log as well", func() {
			positions := framePositions(storePath(crashed, 0))
			for bit := uint(0); bit < 32; bit++ {
				d := copyDir(crashed)
				flipBit(storePath(d, 0), positions[10]+int64(bit/8), bit%8)
				l, err := segmentstore.Open(d, c)
				Expect(err).NotTo(HaveOccurred(), "bit %d", bit)
				expectOnlyDamaged(l, storePath(d, 0), 50, 10)
				Expect(l.Close()).To(Succeed())
			}
		})
	})

	Context("a CRC mismatch in the last record of a sealed segment", func() {
		var (
			segs []segmentstore.SegmentInfo
			path string
			last uint64
			size int64
		)
		BeforeEach(func() {
			c.MaxStoreBytes = segmentstore.MinMaxStoreBytes
			l, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred())
			appendN(l, 200)
			segs = l.Segments()
			Expect(len(segs)).To(BeNumerically(">=", 3))
			Expect(l.Close()).To(Succeed())
			path = storePath(dir, segs[0].BaseOffset)
			positions := framePositions(path)
			last = segs[0].NextOffset - 1
			flipBit(path, positions[len(positions)-1]+segmentstore.FrameOverhead+1, 2)
			size = fileSize(path)
		})

		expectSegment0 := func(r interface {
			Read(uint64) (segmentstore.Record, error)
		}) {
			GinkgoHelper()
			for off := segs[0].BaseOffset; off < last; off++ {
				expectRecord(r, off)
			}
			_, err := r.Read(last)
			expectCorruptAt(err, path, last)
			Expect(fileSize(path)).To(Equal(size), "the sealed segment was cut")
		}

		It("is reported, not cut, by a read-only open that does not know the segment's range", func() {
			for i := 0; i < 2; i++ { // and again: nothing was rewritten to hide it
				s, err := segmentstore.OpenSealedSegment(dir, segs[0].BaseOffset, c)
				Expect(err).NotTo(HaveOccurred())
				Expect(s.NextOffset()).To(Equal(segs[0].NextOffset))
				expectSegment0(s)
				Expect(s.Close()).To(Succeed())
			}
		})

		It("is reported, not cut, by a writable open of the cleanly closed segment", func() {
			s, err := segmentstore.OpenSegment(dir, segs[0].BaseOffset, c)
			Expect(err).NotTo(HaveOccurred())
			Expect(s.NextOffset()).To(Equal(segs[0].NextOffset))
			expectSegment0(s)
			Expect(s.Close()).To(Succeed())
		})

		It("is reported, not cut, by a Log across restarts", func() {
			for i := 0; i < 2; i++ {
				l, err := segmentstore.Open(dir, c)
				Expect(err).NotTo(HaveOccurred())
				Expect(l.NextOffset()).To(BeEquivalentTo(200))
				expectSegment0(l)
				expectRecord(l, last+1)
				Expect(l.Close()).To(Succeed())
			}
		})
	})

	Context("a CRC mismatch in the last record of a cleanly closed active segment", func() {
		It("is reported, not cut", func() {
			s, err := segmentstore.OpenSegment(dir, 0, c)
			Expect(err).NotTo(HaveOccurred())
			_, err = s.Append(records(0, 32))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Close()).To(Succeed())
			positions := framePositions(storePath(dir, 0))
			flipBit(storePath(dir, 0), positions[31]+segmentstore.FrameOverhead, 0)
			size := fileSize(storePath(dir, 0))
			s = mustOpenSegment(dir, 0, c)
			expectOnlyDamaged(s, storePath(dir, 0), 32, 31)
			Expect(fileSize(storePath(dir, 0))).To(Equal(size))
		})
	})

	Context("a read-only open", func() {
		It("never truncates the store, even after a crash left a torn tail", func() {
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 10))
			Expect(err).NotTo(HaveOccurred())
			crashed := crashCopy(dir)
			f, err := os.OpenFile(storePath(crashed, 0), os.O_WRONLY|os.O_APPEND, 0)
			Expect(err).NotTo(HaveOccurred())
			_, err = f.Write([]byte{0x30, 0, 0, 0, 1, 2, 3})
			Expect(err).NotTo(HaveOccurred())
			Expect(f.Close()).To(Succeed())
			size := fileSize(storePath(crashed, 0))
			ro, err := segmentstore.OpenSealedSegment(crashed, 0, c)
			Expect(err).NotTo(HaveOccurred())
			Expect(ro.NextOffset()).To(BeEquivalentTo(10))
			expectRecord(ro, 9)
			Expect(ro.Close()).To(Succeed())
			Expect(fileSize(storePath(crashed, 0))).To(Equal(size))
		})
	})
})

// copyDir copies the regular files of dir into a fresh directory.
func copyDir(dir string) string {
	GinkgoHelper()
	return crashCopy(dir)
}
