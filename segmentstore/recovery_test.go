package segmentstore_test

import (
	"io"
	"math/rand"
	"os"
	"path/filepath"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Each spec here damages real files the way a crash or bit rot would and
// checks what reopening makes of them. Removing the matching recovery code
// makes it fail.
var _ = Describe("Recovery on open", func() {
	var (
		dir string
		c   segmentstore.Config
	)

	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		c = testConfig()
		c.MaxStoreBytes = 1 << 20 // one segment unless a spec says otherwise
		c.MaxIndexBytes = 4096 * segmentstore.IndexEntryBytes
	})

	// crashedSegment appends n records to a segment in dir, writes them to
	// the store file and returns a copy of the files as a crash would leave
	// them: index preallocated, no trailer.
	crashedSegment := func(n uint64) string {
		s := mustOpenSegment(dir, 0, c)
		_, err := s.Append(records(0, n))
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Sync()).To(Succeed())
		return crashCopy(dir)
	}

	Context("a torn last frame", func() {
		It("is cut off, wherever the crash cut the store, and the next offset is one past the last whole frame", func() {
			crashed := crashedSegment(40)
			store, err := os.ReadFile(storePath(crashed, 0))
			Expect(err).NotTo(HaveOccurred())
			index, err := os.ReadFile(indexPath(crashed, 0))
			Expect(err).NotTo(HaveOccurred())
			positions := framePositions(storePath(crashed, 0))
			Expect(positions).To(HaveLen(40))

			rng := rand.New(rand.NewSource(GinkgoRandomSeed()))
			cuts := []int{0, 1, len(store) - 1, int(positions[39]), int(positions[39]) + 1, int(positions[39]) + 9}
			for i := 0; i < 30; i++ {
				cuts = append(cuts, rng.Intn(len(store)))
			}
			for _, cut := range cuts {
				d := GinkgoT().TempDir()
				Expect(os.WriteFile(storePath(d, 0), store[:cut], 0o644)).To(Succeed())
				Expect(os.WriteFile(indexPath(d, 0), index, 0o644)).To(Succeed())
				whole := uint64(0)
				for i, p := range positions {
					end := int64(len(store))
					if i+1 < len(positions) {
						end = positions[i+1]
					}
					if end <= int64(cut) && p < end {
						whole++
					}
				}

				s, err := segmentstore.OpenSegment(d, 0, c)
				Expect(err).NotTo(HaveOccurred(), "cut at %d", cut)
				Expect(s.NextOffset()).To(Equal(whole), "cut at %d", cut)
				for off := uint64(0); off < whole; off++ {
					expectRecord(s, off)
				}
				first, err := s.Append(records(whole, 1))
				Expect(err).NotTo(HaveOccurred())
				Expect(first).To(Equal(whole))
				expectRecord(s, whole)
				Expect(s.Close()).To(Succeed())
			}
		})

		It("cuts garbage written after the last frame", func() {
			crashed := crashedSegment(10)
			f, err := os.OpenFile(storePath(crashed, 0), os.O_WRONLY|os.O_APPEND, 0)
			Expect(err).NotTo(HaveOccurred())
			_, err = f.Write([]byte{0x30, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
			Expect(err).NotTo(HaveOccurred())
			Expect(f.Close()).To(Succeed())
			s := mustOpenSegment(crashed, 0, c)
			Expect(s.NextOffset()).To(BeEquivalentTo(10))
			Expect(fileSize(storePath(crashed, 0))).To(Equal(s.Size()))
		})

		It("treats a bad CRC in the very last frame as a torn tail when it was never fsynced", func() {
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 10))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Flush()).To(Succeed()) // written, not fsynced
			crashed := crashCopy(dir)
			positions := framePositions(storePath(crashed, 0))
			flipBit(storePath(crashed, 0), positions[9]+segmentstore.FrameOverhead, 3)
			s = mustOpenSegment(crashed, 0, c)
			Expect(s.NextOffset()).To(BeEquivalentTo(9))
			expectRecord(s, 8)
		})

		It("reports a bad CRC in the very last frame once it was fsynced: a crash cannot tear durable bytes", func() {
			crashed := crashedSegment(10) // fsynced by Sync
			positions := framePositions(storePath(crashed, 0))
			flipBit(storePath(crashed, 0), positions[9]+segmentstore.FrameOverhead, 3)
			s := mustOpenSegment(crashed, 0, c)
			Expect(s.NextOffset()).To(BeEquivalentTo(10))
			expectRecord(s, 8)
			_, err := s.Read(9)
			expectCorruptAt(err, storePath(crashed, 0), 9)
			Expect(s.Damaged()).To(HaveLen(1))
			Expect(s.Damaged()[0].Offset).To(BeEquivalentTo(9))
		})
	})

	Context("an index left at its preallocated size after a crash", func() {
		It("is trimmed to its valid entries", func() {
			crashed := crashedSegment(25)
			Expect(fileSize(indexPath(crashed, 0))).To(BeNumerically(">", int64(c.MaxIndexBytes)))
			s, err := segmentstore.OpenSegment(crashed, 0, c)
			Expect(err).NotTo(HaveOccurred())
			Expect(s.NextOffset()).To(BeEquivalentTo(25))
			for off := uint64(0); off < 25; off++ {
				expectRecord(s, off)
			}
			Expect(s.Close()).To(Succeed())
			Expect(fileSize(indexPath(crashed, 0))).To(BeEquivalentTo((25 + 1) * segmentstore.IndexEntryBytes))
		})

		It("is trimmed when the crash hit a full index", func() {
			c.MaxIndexBytes = 25 * segmentstore.IndexEntryBytes
			crashed := crashedSegment(25)
			s := mustOpenSegment(crashed, 0, c)
			Expect(s.NextOffset()).To(BeEquivalentTo(25))
			Expect(s.IsFull()).To(BeTrue())
		})

		It("is trimmed in a sealed segment of a log that crashed while rolling over", func() {
			c.MaxStoreBytes = segmentstore.MinMaxStoreBytes
			l := mustOpen(dir, c)
			appendN(l, 150)
			Expect(l.Sync()).To(Succeed())
			segs := l.Segments()
			Expect(len(segs)).To(BeNumerically(">=", 2))
			crashed := crashCopy(dir)
			// The first segment was sealed; give it back the preallocated
			// index a crash before its trailer was written leaves behind.
			idx := indexPath(crashed, segs[0].BaseOffset)
			Expect(os.Truncate(idx, fileSize(idx)-segmentstore.IndexEntryBytes)).To(Succeed())
			Expect(os.Truncate(idx, int64(c.MaxIndexBytes))).To(Succeed())

			l2 := mustOpen(crashed, c)
			Expect(fileSize(idx)).To(BeEquivalentTo((segs[0].NextOffset + 1) * segmentstore.IndexEntryBytes))
			Expect(l2.NextOffset()).To(BeEquivalentTo(150))
			for off := uint64(0); off < 150; off++ {
				expectRecord(l2, off)
			}
		})
	})

	Context("index entries that point past the store", func() {
		It("are dropped when the crash lost buffered frames", func() {
			c.WriteBufferBytes = 1 << 20
			s := mustOpenSegment(dir, 0, c)
			_, err := s.Append(records(0, 10))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Sync()).To(Succeed())
			_, err = s.Append(records(10, 5)) // indexed, still only in memory
			Expect(err).NotTo(HaveOccurred())
			crashed := crashCopy(dir)

			s2 := mustOpenSegment(crashed, 0, c)
			Expect(s2.NextOffset()).To(BeEquivalentTo(10))
			_, err = s2.Read(10)
			Expect(err).To(MatchError(segmentstore.ErrOffsetOutOfRange))
			first, err := s2.Append(records(10, 1))
			Expect(err).NotTo(HaveOccurred())
			Expect(first).To(BeEquivalentTo(10))
		})

		It("are dropped when the store of a cleanly closed segment lost its end", func() {
			s, err := segmentstore.OpenSegment(dir, 0, c)
			Expect(err).NotTo(HaveOccurred())
			_, err = s.Append(records(0, 20))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Close()).To(Succeed())
			positions := framePositions(storePath(dir, 0))
			Expect(os.Truncate(storePath(dir, 0), positions[12])).To(Succeed())

			s = mustOpenSegment(dir, 0, c)
			Expect(s.NextOffset()).To(BeEquivalentTo(12))
			expectRecord(s, 11)
		})
	})

	Context("a missing or damaged index", func() {
		var closedDir string
		BeforeEach(func() {
			s, err := segmentstore.OpenSegment(dir, 0, c)
			Expect(err).NotTo(HaveOccurred())
			_, err = s.Append(records(0, 30))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Close()).To(Succeed())
			closedDir = dir
		})

		expectRebuilt := func() {
			GinkgoHelper()
			s, err := segmentstore.OpenSegment(closedDir, 0, c)
			Expect(err).NotTo(HaveOccurred())
			Expect(s.NextOffset()).To(BeEquivalentTo(30))
			for off := uint64(0); off < 30; off++ {
				expectRecord(s, off)
			}
			Expect(s.Close()).To(Succeed())
			Expect(fileSize(indexPath(closedDir, 0))).To(BeEquivalentTo((30 + 1) * segmentstore.IndexEntryBytes))
		}

		It("is rebuilt from the store when missing", func() {
			Expect(os.Remove(indexPath(closedDir, 0))).To(Succeed())
			expectRebuilt()
		})

		It("is rebuilt when emptied", func() {
			Expect(os.Truncate(indexPath(closedDir, 0), 0)).To(Succeed())
			expectRebuilt()
		})

		It("is rebuilt when cut inside an entry", func() {
			Expect(os.Truncate(indexPath(closedDir, 0), 10*segmentstore.IndexEntryBytes+5)).To(Succeed())
			expectRebuilt()
		})

		It("is rebuilt when overwritten with random bytes", func() {
			junk := make([]byte, fileSize(indexPath(closedDir, 0)))
			rand.New(rand.NewSource(GinkgoRandomSeed())).Read(junk)
			Expect(os.WriteFile(indexPath(closedDir, 0), junk, 0o644)).To(Succeed())
			expectRebuilt()
		})

		It("is rebuilt when one entry in the middle has a flipped bit", func() {
			// Entry 7's position, not its trailer: only the CRC notices.
			flipBit(indexPath(closedDir, 0), 7*segmentstore.IndexEntryBytes+4, 2)
			expectRebuilt()
		})
	})

	Context("a CRC mismatch inside a segment", func() {
		var positions []int64
		BeforeEach(func() {
			s, err := segmentstore.OpenSegment(dir, 0, c)
			Expect(err).NotTo(HaveOccurred())
			_, err = s.Append(records(0, 30))
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Close()).To(Succeed())
			positions = framePositions(storePath(dir, 0))
		})

		expectReportedNotServed := func(bad ...uint64) {
			GinkgoHelper()
			s := mustOpenSegment(dir, 0, c)
			Expect(s.NextOffset()).To(BeEquivalentTo(30), "records after the damage are kept")
			isBad := map[uint64]bool{}
			for _, b := range bad {
				isBad[b] = true
				_, err := s.Read(b)
				expectCorruptAt(err, storePath(dir, 0), b)
			}
			for off := uint64(0); off < 30; off++ {
				if !isBad[off] {
					expectRecord(s, off)
				}
			}
			// A range read stops before the damage and then reports it.
			recs, err := s.ReadRange(bad[0]-3, 10, 0)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(3))
			_, err = s.ReadRange(bad[0], 10, 0)
			expectCorruptAt(err, storePath(dir, 0), bad[0])
			// Appends go on after the last record.
			first, err := s.Append(records(30, 1))
			Expect(err).NotTo(HaveOccurred())
			Expect(first).To(BeEquivalentTo(30))
		}

		It("is reported on read of that offset with a clean index", func() {
			flipBit(storePath(dir, 0), positions[12]+segmentstore.FrameOverhead+2, 5)
			expectReportedNotServed(12)
		})

		It("is reported on read of that offset when the index is rebuilt", func() {
			flipBit(storePath(dir, 0), positions[12]+segmentstore.FrameOverhead+2, 5)
			Expect(os.Remove(indexPath(dir, 0))).To(Succeed())
			expectReportedNotServed(12)
		})

		It("is reported when the damaged frame's length field is broken and the index is rebuilt", func() {
			flipBit(storePath(dir, 0), positions[12]+1, 6)
			Expect(os.Remove(indexPath(dir, 0))).To(Succeed())
			expectReportedNotServed(12)
		})

		It("reports each of several damaged frames in a row", func() {
			for _, k := range []int{12, 13, 14} {
				flipBit(storePath(dir, 0), positions[k]+1, 7)
			}
			Expect(os.Remove(indexPath(dir, 0))).To(Succeed())
			expectReportedNotServed(12, 13, 14)
		})

		It("reports a frame whose offset field was damaged with a matching CRC", func() {
			// Re-encode frame 12 with a wrong offset but a valid CRC.
			b, err := os.ReadFile(storePath(dir, 0))
			Expect(err).NotTo(HaveOccurred())
			rec, n, err := segmentstore.DecodeFrame(b[positions[12]:])
			Expect(err).NotTo(HaveOccurred())
			rec.Offset = 99
			forged := segmentstore.AppendFrame(nil, rec)
			Expect(forged).To(HaveLen(n))
			copy(b[positions[12]:], forged)
			Expect(os.WriteFile(storePath(dir, 0), b, 0o644)).To(Succeed())
			expectReportedNotServed(12)
		})

		It("never reaches a restored copy: the snapshot stream fails with ErrCorrupt", func() {
			flipBit(storePath(dir, 0), positions[12]+segmentstore.FrameOverhead+2, 5)
			l := mustOpen(dir, c)
			_, err := segmentstore.Restore(GinkgoT().TempDir(), c, l.Reader())
			Expect(err).To(MatchError(segmentstore.ErrCorrupt))
		})
	})

	Context("damage in a sealed segment of a log", func() {
		var segs []segmentstore.SegmentInfo
		BeforeEach(func() {
			c.MaxStoreBytes = segmentstore.MinMaxStoreBytes
			l, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred())
			appendN(l, 200)
			segs = l.Segments()
			Expect(len(segs)).To(BeNumerically(">=", 3))
			Expect(l.Close()).To(Succeed())
		})

		It("reports unreadable last records as corrupt instead of cutting them", func() {
			first := segs[0]
			path := storePath(dir, first.BaseOffset)
			positions := framePositions(path)
			last := first.NextOffset - 1
			flipBit(path, positions[len(positions)-1]+segmentstore.FrameOverhead, 1)
			Expect(os.Remove(indexPath(dir, first.BaseOffset))).To(Succeed())

			l := mustOpen(dir, c)
			Expect(l.NextOffset()).To(BeEquivalentTo(200))
			_, err := l.Read(last)
			expectCorruptAt(err, path, last)
			expectRecord(l, last-1)
			expectRecord(l, last+1)
		})

		It("fails to open with a CorruptError when a segment is missing from the middle", func() {
			Expect(os.Remove(storePath(dir, segs[1].BaseOffset))).To(Succeed())
			_, err := segmentstore.Open(dir, c)
			expectCorruptAt(err, storePath(dir, segs[0].BaseOffset), segs[0].NextOffset)
			Expect(err.Error()).To(ContainSubstring("next segment starts at %d", segs[2].BaseOffset))
		})
	})

	Context("stray or unparsable files in the directory", func() {
		It("skips them", func() {
			l, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred())
			appendN(l, 10)
			Expect(l.Close()).To(Succeed())
			for _, name := range []string{
				"notes.txt", "123.store", "abcdefghijabcdefghij.store", "99999999999999999999.store",
				"00000000000000000000.store.bak", "-0000000000000000001.store", "00000000000000000777.index",
			} {
				Expect(os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644)).To(Succeed())
			}
			Expect(os.Mkdir(filepath.Join(dir, "00000000000000000500.store"), 0o755)).To(Succeed())

			bases, err := segmentstore.ListSegments(dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(bases).To(Equal([]uint64{0}))
			l = mustOpen(dir, c)
			Expect(l.NextOffset()).To(BeEquivalentTo(10))
			expectRecord(l, 9)
		})

		It("gives a clear error for a segment file that does not line up", func() {
			l, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred())
			appendN(l, 10)
			Expect(l.Close()).To(Succeed())
			Expect(os.WriteFile(storePath(dir, 500), []byte("not a frame at all, just junk bytes"), 0o644)).To(Succeed())
			_, err = segmentstore.Open(dir, c)
			Expect(err).To(MatchError(segmentstore.ErrCorrupt))
			Expect(err.Error()).To(ContainSubstring("next segment starts at 500"))
		})

		It("lists nothing for a missing directory", func() {
			bases, err := segmentstore.ListSegments(filepath.Join(dir, "nope"))
			Expect(err).NotTo(HaveOccurred())
			Expect(bases).To(BeEmpty())
		})
	})

	It("reopens an unclean log with every segment readable and the right next offset", func() {
		c.MaxStoreBytes = segmentstore.MinMaxStoreBytes
		l := mustOpen(dir, c)
		appendN(l, 300)
		Expect(l.Sync()).To(Succeed())
		crashed := crashCopy(dir)
		l2 := mustOpen(crashed, c)
		Expect(l2.NextOffset()).To(BeEquivalentTo(300))
		recs, err := l2.ReadRange(0, 0, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(HaveLen(300))
		n, err := io.Copy(io.Discard, l2.Reader())
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(BeNumerically(">", 300*segmentstore.FrameOverhead))
	})
})

var _ = Describe("Opening one sealed segment of a sequence", func() {
	var (
		dir  string
		c    segmentstore.Config
		segs []segmentstore.SegmentInfo
	)

	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		c = testConfig()
		l, err := segmentstore.Open(dir, c)
		Expect(err).NotTo(HaveOccurred())
		appendN(l, 150)
		segs = l.Segments()
		Expect(len(segs)).To(BeNumerically(">=", 2))
		Expect(l.Close()).To(Succeed())
	})

	It("reports a damaged end as corrupt records when it knows where the segment ends", func() {
		first := segs[0]
		path := storePath(dir, first.BaseOffset)
		positions := framePositions(path)
		flipBit(path, positions[len(positions)-1]+segmentstore.FrameOverhead, 4)
		Expect(os.Remove(indexPath(dir, first.BaseOffset))).To(Succeed())

		s, err := segmentstore.OpenSealedSegmentRange(dir, first.BaseOffset, first.NextOffset, c)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(s.NextOffset()).To(Equal(first.NextOffset))
		_, err = s.Read(first.NextOffset - 1)
		expectCorruptAt(err, path, first.NextOffset-1)
		expectRecord(s, first.NextOffset-2)
	})

	It("fails with a CorruptError when records are missing from its end", func() {
		first := segs[0]
		path := storePath(dir, first.BaseOffset)
		positions := framePositions(path)
		Expect(os.Truncate(path, positions[len(positions)-3])).To(Succeed())
		_, err := segmentstore.OpenSealedSegmentRange(dir, first.BaseOffset, first.NextOffset, c)
		expectCorruptAt(err, path, first.NextOffset-3)
	})
})
