package segmentstore_test

import (
	"errors"
	"os"
	"time"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Segment", func() {
	var (
		dir string
		c   segmentstore.Config
	)

	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		c = testConfig()
	})

	It("names its files after the base offset in 20 digits", func() {
		s := mustOpenSegment(dir, 42, c)
		Expect(s.Path()).To(Equal(storePath(dir, 42)))
		Expect(storePath(dir, 42)).To(HaveSuffix("00000000000000000042.store"))
		Expect(indexPath(dir, 42)).To(BeAnExistingFile())
	})

	It("assigns dense offsets from the base and reads records back", func() {
		s := mustOpenSegment(dir, 100, c)
		Expect(s.BaseOffset()).To(BeEquivalentTo(100))
		Expect(s.NextOffset()).To(BeEquivalentTo(100))
		first, err := s.Append([]segmentstore.Record{{Value: value(100), Term: 1100}, {Value: value(101), Term: 1101, Offset: 7}})
		Expect(err).NotTo(HaveOccurred())
		Expect(first).To(BeEquivalentTo(100))
		first, err = s.Append(records(102, 3))
		Expect(err).NotTo(HaveOccurred())
		Expect(first).To(BeEquivalentTo(102))
		Expect(s.NextOffset()).To(BeEquivalentTo(105))
		Expect(s.Len()).To(BeEquivalentTo(5))
		for off := uint64(100); off < 105; off++ {
			expectRecord(s, off)
		}
	})

	It("stamps a zero timestamp with the current time and keeps a given one", func() {
		s := mustOpenSegment(dir, 0, c)
		before := time.Now().UnixNano()
		_, err := s.Append([]segmentstore.Record{{Value: []byte("a")}, {Value: []byte("b"), Timestamp: 12345}})
		Expect(err).NotTo(HaveOccurred())
		r, err := s.Read(0)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Timestamp).To(BeNumerically(">=", before))
		r, err = s.Read(1)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Timestamp).To(BeEquivalentTo(12345))
		Expect(s.LastAppendTime()).To(Equal(time.Unix(0, 12345)))
	})

	It("reads records that are still in the write buffer", func() {
		c.WriteBufferBytes = 1 << 20
		s := mustOpenSegment(dir, 0, c)
		_, err := s.Append(records(0, 10))
		Expect(err).NotTo(HaveOccurred())
		Expect(fileSize(storePath(dir, 0))).To(BeZero(), "nothing written yet")
		for off := uint64(0); off < 10; off++ {
			expectRecord(s, off)
		}
		Expect(s.Sync()).To(Succeed())
		Expect(fileSize(storePath(dir, 0))).To(Equal(s.Size()))
	})

	It("returns an OffsetOutOfRangeError outside [base, next)", func() {
		s := mustOpenSegment(dir, 10, c)
		_, err := s.Append(records(10, 2))
		Expect(err).NotTo(HaveOccurred())
		for _, off := range []uint64{0, 9, 12, 1 << 62} {
			_, err := s.Read(off)
			Expect(err).To(MatchError(segmentstore.ErrOffsetOutOfRange))
			var oe *segmentstore.OffsetOutOfRangeError
			Expect(errors.As(err, &oe)).To(BeTrue())
			Expect(*oe).To(Equal(segmentstore.OffsetOutOfRangeError{Offset: off, Low: 10, Next: 12}))
		}
	})

	It("rejects an oversized record without writing any of the batch", func() {
		s := mustOpenSegment(dir, 0, c)
		batch := records(0, 3)
		batch[2].Value = make([]byte, c.MaxRecordBytes+1)
		_, err := s.Append(batch)
		Expect(err).To(MatchError(segmentstore.ErrRecordTooLarge))
		Expect(s.NextOffset()).To(BeZero())
		Expect(s.Size()).To(BeZero())
	})

	It("returns ErrSegmentFull for a batch that does not fit, writing nothing", func() {
		s := mustOpenSegment(dir, 0, c)
		big := make([]byte, 1500)
		_, err := s.Append([]segmentstore.Record{{Value: big}, {Value: big}})
		Expect(err).NotTo(HaveOccurred())
		size := s.Size()
		_, err = s.Append([]segmentstore.Record{{Value: big}, {Value: big}})
		Expect(err).To(MatchError(segmentstore.ErrSegmentFull))
		Expect(s.Size()).To(Equal(size))
		Expect(s.NextOffset()).To(BeEquivalentTo(2))
	})

	It("takes a batch larger than MaxStoreBytes when it is empty", func() {
		s := mustOpenSegment(dir, 0, c)
		big := make([]byte, 2000)
		_, err := s.Append([]segmentstore.Record{{Value: big}, {Value: big}, {Value: big}})
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Size()).To(BeNumerically(">", int64(c.MaxStoreBytes)))
		Expect(s.IsFull()).To(BeTrue())
		_, err = s.Append(records(3, 1))
		Expect(err).To(MatchError(segmentstore.ErrSegmentFull))
	})

	It("is full when the index is full", func() {
		s := mustOpenSegment(dir, 0, c)
		capacity := c.MaxIndexBytes / segmentstore.IndexEntryBytes
		_, err := s.Append(make([]segmentstore.Record, capacity))
		Expect(err).NotTo(HaveOccurred())
		Expect(s.IsFull()).To(BeTrue())
		_, err = s.Append(make([]segmentstore.Record, 1))
		Expect(err).To(MatchError(segmentstore.ErrSegmentFull))
	})

	Describe("ReadRange", func() {
		var s *segmentstore.Segment
		BeforeEach(func() {
			s = mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 20))
			Expect(err).NotTo(HaveOccurred())
		})

		It("stops at maxRecords", func() {
			recs, err := s.ReadRange(5, 4, 0)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(4))
			for i, r := range recs {
				Expect(r.Offset).To(BeEquivalentTo(5 + i))
				Expect(r.Value).To(Equal(value(uint64(5 + i))))
			}
		})

		It("stops at maxBytes of values but returns at least one record", func() {
			recs, err := s.ReadRange(0, 0, len(value(0))+len(value(1)))
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(2))
			recs, err = s.ReadRange(3, 0, 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(1))
		})

		It("reads to the end without limits", func() {
			recs, err := s.ReadRange(0, 0, 0)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(20))
		})

		It("gives values that cannot overwrite each other", func() {
			recs, err := s.ReadRange(0, 2, 0)
			Expect(err).NotTo(HaveOccurred())
			_ = append(recs[0].Value, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"...)
			Expect(recs[1].Value).To(Equal(value(1)))
		})
	})

	Describe("TruncateFrom", func() {
		It("drops the suffix, and new appends reuse the offsets", func() {
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 10))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Sync()).To(Succeed())
			_, err = s.Append(records(10, 5)) // some still buffered
			Expect(err).NotTo(HaveOccurred())
			Expect(s.TruncateFrom(7)).To(Succeed())
			Expect(s.NextOffset()).To(BeEquivalentTo(7))
			_, err = s.Read(7)
			Expect(err).To(MatchError(segmentstore.ErrOffsetOutOfRange))
			_, err = s.Append(records(7, 3))
			Expect(err).NotTo(HaveOccurred())
			for off := uint64(0); off < 10; off++ {
				expectRecord(s, off)
			}
			Expect(s.Close()).To(Succeed())
			s2 := mustOpenSegment(dir, 0, c)
			Expect(s2.NextOffset()).To(BeEquivalentTo(10))
			expectRecord(s2, 9)
		})

		It("empties the segment at or below the base and ignores offsets past the end", func() {
			s := mustOpenSegment(dir, 5, c)
			_, err := s.Append(records(5, 3))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.TruncateFrom(100)).To(Succeed())
			Expect(s.NextOffset()).To(BeEquivalentTo(8))
			Expect(s.TruncateFrom(0)).To(Succeed())
			Expect(s.NextOffset()).To(BeEquivalentTo(5))
			Expect(s.Size()).To(BeZero())
		})

		It("makes a sealed segment writable again", func() {
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 5))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Seal()).To(Succeed())
			_, err = s.Append(records(5, 1))
			Expect(err).To(MatchError(segmentstore.ErrSealed))
			Expect(s.TruncateFrom(3)).To(Succeed())
			Expect(s.IsSealed()).To(BeFalse())
			_, err = s.Append(records(3, 2))
			Expect(err).NotTo(HaveOccurred())
			expectRecord(s, 4)
		})
	})

	It("seals: trims the index, stays readable, refuses appends", func() {
		s := mustOpenSegment(dir, 0, c)
		_, err := s.Append(records(0, 5))
		Expect(err).NotTo(HaveOccurred())
		Expect(fileSize(indexPath(dir, 0))).To(BeNumerically(">", 5*segmentstore.IndexEntryBytes))
		Expect(s.Seal()).To(Succeed())
		Expect(s.Seal()).To(Succeed())
		Expect(fileSize(indexPath(dir, 0))).To(BeEquivalentTo((5+1)*segmentstore.IndexEntryBytes), "entries and trailer")
		Expect(fileSize(storePath(dir, 0))).To(Equal(s.Size()))
		expectRecord(s, 3)
	})

	It("opens a sealed segment read-only without preallocating its index", func() {
		s, err := segmentstore.OpenSegment(dir, 0, c)
		Expect(err).NotTo(HaveOccurred())
		_, err = s.Append(records(0, 5))
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Close()).To(Succeed())
		index, err := os.ReadFile(indexPath(dir, 0))
		Expect(err).NotTo(HaveOccurred())

		sealed, err := segmentstore.OpenSealedSegment(dir, 0, c)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(sealed.Close)
		Expect(sealed.IsSealed()).To(BeTrue())
		Expect(sealed.NextOffset()).To(BeEquivalentTo(5))
		expectRecord(sealed, 4)
		_, err = sealed.Append(records(5, 1))
		Expect(err).To(MatchError(segmentstore.ErrSealed))
		Expect(sealed.Close()).To(Succeed())
		Expect(os.ReadFile(indexPath(dir, 0))).To(Equal(index), "the files are untouched")
	})

	It("preallocates the index while open and truncates it to its entries on Close", func() {
		s, err := segmentstore.OpenSegment(dir, 0, c)
		Expect(err).NotTo(HaveOccurred())
		_, err = s.Append(records(0, 7))
		Expect(err).NotTo(HaveOccurred())
		Expect(fileSize(indexPath(dir, 0))).To(BeNumerically(">=", int64(c.MaxIndexBytes)))
		Expect(s.Close()).To(Succeed())
		Expect(fileSize(indexPath(dir, 0))).To(BeEquivalentTo((7+1)*segmentstore.IndexEntryBytes), "entries and trailer")
	})

	It("closes idempotently and then refuses every operation with ErrClosed", func() {
		s, err := segmentstore.OpenSegment(dir, 0, c)
		Expect(err).NotTo(HaveOccurred())
		_, err = s.Append(records(0, 1))
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Close()).To(Succeed())
		Expect(s.Close()).To(Succeed())
		_, err = s.Append(records(1, 1))
		Expect(err).To(MatchError(segmentstore.ErrClosed))
		_, err = s.Read(0)
		Expect(err).To(MatchError(segmentstore.ErrClosed))
		Expect(s.Sync()).To(MatchError(segmentstore.ErrClosed))
		Expect(s.TruncateFrom(0)).To(MatchError(segmentstore.ErrClosed))
	})

	It("reopens with its records and appends after them", func() {
		s, err := segmentstore.OpenSegment(dir, 0, c)
		Expect(err).NotTo(HaveOccurred())
		_, err = s.Append(records(0, 30))
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Close()).To(Succeed())
		s = mustOpenSegment(dir, 0, c)
		Expect(s.NextOffset()).To(BeEquivalentTo(30))
		first, err := s.Append(records(30, 1))
		Expect(err).NotTo(HaveOccurred())
		Expect(first).To(BeEquivalentTo(30))
		for off := uint64(0); off <= 30; off++ {
			expectRecord(s, off)
		}
	})

	It("reports the file time as the last append time while empty", func() {
		s := mustOpenSegment(dir, 0, c)
		Expect(s.LastAppendTime()).To(BeTemporally("~", time.Now(), time.Minute))
	})

	It("removes its files", func() {
		s, err := segmentstore.OpenSegment(dir, 0, c)
		Expect(err).NotTo(HaveOccurred())
		_, err = s.Append(records(0, 3))
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Remove()).To(Succeed())
		Expect(storePath(dir, 0)).NotTo(BeAnExistingFile())
		Expect(indexPath(dir, 0)).NotTo(BeAnExistingFile())
		_, err = s.Read(0)
		Expect(err).To(MatchError(segmentstore.ErrClosed))
	})

	Describe("sync policies", func() {
		It("SyncAlways has the record in the file when Append returns", func() {
			c.Sync = segmentstore.SyncAlways
			c.WriteBufferBytes = 1 << 20
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 1))
			Expect(err).NotTo(HaveOccurred())
			Expect(fileSize(storePath(dir, 0))).To(Equal(s.Size()))
		})

		It("SyncInterval writes buffered records in the background", func() {
			c.Sync = segmentstore.SyncInterval
			c.SyncInterval = 5 * time.Millisecond
			c.WriteBufferBytes = 1 << 20
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 3))
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() int64 { return fileSize(storePath(dir, 0)) }).Should(Equal(s.Size()))
		})

		It("SyncNone keeps small appends buffered until Sync", func() {
			c.WriteBufferBytes = 1 << 20
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 3))
			Expect(err).NotTo(HaveOccurred())
			Consistently(func() int64 { return fileSize(storePath(dir, 0)) }, "30ms", "5ms").Should(BeZero())
			Expect(s.Sync()).To(Succeed())
			Expect(fileSize(storePath(dir, 0))).To(Equal(s.Size()))
		})

		It("Flush hands buffered appends to the file without waiting for a sync", func() {
			c.Sync = segmentstore.SyncNone
			c.WriteBufferBytes = 1 << 20
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 3))
			Expect(err).NotTo(HaveOccurred())
			Expect(fileSize(storePath(dir, 0))).To(BeZero())
			Expect(s.Flush()).To(Succeed())
			Expect(fileSize(storePath(dir, 0))).To(Equal(s.Size()))
			Expect(s.Close()).To(Succeed())
			Expect(s.Flush()).To(MatchError(segmentstore.ErrClosed))
		})
	})

	It("opens a segment whose store file is missing as empty", func() {
		s, err := segmentstore.OpenSegment(dir, 0, c)
		Expect(err).NotTo(HaveOccurred())
		_, err = s.Append(records(0, 3))
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Close()).To(Succeed())
		Expect(os.Remove(storePath(dir, 0))).To(Succeed())
		s = mustOpenSegment(dir, 0, c)
		Expect(s.NextOffset()).To(BeZero())
	})
})
