package segmentstore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// testConfig keeps segments tiny so that specs roll over, fill indexes and
// recover many segments while staying fast.
func testConfig() segmentstore.Config {
	c := segmentstore.DefaultConfig()
	c.MaxStoreBytes = segmentstore.MinMaxStoreBytes
	c.MaxIndexBytes = 64 * segmentstore.IndexEntryBytes
	c.MaxRecordBytes = 2048
	c.Sync = segmentstore.SyncNone
	c.WriteBufferBytes = 512
	return c
}

// value returns a deterministic value for offset i whose size varies, so
// that frame positions are irregular.
func value(i uint64) []byte {
	return []byte(fmt.Sprintf("record-%d-%s", i, strings.Repeat("x", int(i%17))))
}

func records(from, n uint64) []segmentstore.Record {
	out := make([]segmentstore.Record, n)
	for i := range out {
		out[i] = segmentstore.Record{Value: value(from + uint64(i)), Term: from + uint64(i) + 1000}
	}
	return out
}

func appendN(l *segmentstore.Log, n uint64) {
	GinkgoHelper()
	next := l.NextOffset()
	for i := uint64(0); i < n; i++ {
		off, err := l.Append(segmentstore.Record{Value: value(next + i), Term: next + i + 1000})
		Expect(err).NotTo(HaveOccurred())
		Expect(off).To(Equal(next + i))
	}
}

// expectRecord checks that off holds the value appendN wrote.
func expectRecord(r interface {
	Read(uint64) (segmentstore.Record, error)
}, off uint64) {
	GinkgoHelper()
	rec, err := r.Read(off)
	Expect(err).NotTo(HaveOccurred(), "offset %d", off)
	Expect(rec.Offset).To(Equal(off))
	Expect(rec.Value).To(Equal(value(off)))
	Expect(rec.Term).To(Equal(off + 1000))
}

// crashCopy copies every file of dir, as it is now on disk, into a fresh
// directory: the state a kill -9 would leave behind, with the original
// still open (its index preallocated, its buffer unwritten).
func crashCopy(dir string) string {
	GinkgoHelper()
	dst := GinkgoT().TempDir()
	entries, err := os.ReadDir(dir)
	Expect(err).NotTo(HaveOccurred())
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)).To(Succeed())
	}
	return dst
}

func storePath(dir string, base uint64) string {
	return filepath.Join(dir, segmentstore.SegmentFileName(base, ".store"))
}

func indexPath(dir string, base uint64) string {
	return filepath.Join(dir, segmentstore.SegmentFileName(base, ".index"))
}

// framePositions walks a store file and returns the position of each frame
// that decodes, stopping at the first that does not.
func framePositions(path string) []int64 {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var out []int64
	pos := 0
	for pos < len(b) {
		_, n, err := segmentstore.DecodeFrame(b[pos:])
		if err != nil {
			break
		}
		out = append(out, int64(pos))
		pos += n
	}
	return out
}

func fileSize(path string) int64 {
	GinkgoHelper()
	st, err := os.Stat(path)
	Expect(err).NotTo(HaveOccurred())
	return st.Size()
}

// flipBit inverts one bit of the file at pos.
func flipBit(path string, pos int64, bit uint) {
	GinkgoHelper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, pos)
	Expect(err).NotTo(HaveOccurred())
	b[0] ^= 1 << (bit % 8)
	_, err = f.WriteAt(b, pos)
	Expect(err).NotTo(HaveOccurred())
}

func expectCorruptAt(err error, path string, off uint64) {
	GinkgoHelper()
	Expect(err).To(MatchError(segmentstore.ErrCorrupt))
	var ce *segmentstore.CorruptError
	Expect(errors.As(err, &ce)).To(BeTrue())
	Expect(ce.Segment).To(Equal(path))
	Expect(ce.Offset).To(Equal(off))
	Expect(ce.Error()).To(HavePrefix("segmentstore: "))
}

func mustOpen(dir string, c segmentstore.Config) *segmentstore.Log {
	GinkgoHelper()
	l, err := segmentstore.Open(dir, c)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(l.Close)
	return l
}

func mustOpenSegment(dir string, base uint64, c segmentstore.Config) *segmentstore.Segment {
	GinkgoHelper()
	s, err := segmentstore.OpenSegment(dir, base, c)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}
