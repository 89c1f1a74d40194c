package segmentstore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"actorlog/segmentstore"
)

// The bit-flip tests damage one bit of a small segment at a time, in each
// state a segment can be found in, and check that no record outside the
// damaged frame is lost: every other record reads back exactly as written,
// and the damaged one is reported (ErrCorrupt), or, only when nothing
// fsynced follows it, cut as a torn tail (ErrOffsetOutOfRange). Wrong bytes
// are never served.

const bitFlipRecords = 8

// bitFlipState is one way a segment can be left on disk.
type bitFlipState int

const (
	closedClean   bitFlipState = iota // closed: the index has its trailer
	crashedSynced                     // killed after fsynced appends: preallocated index with a recovery point
	indexLost                         // killed, and the index file is gone: no recovery point
	sealedInLog                       // a sealed segment opened read-only with its known range
	sealedNoRange                     // a sealed segment opened read-only without its range
	bitFlipStates
)

func (s bitFlipState) String() string {
	return [...]string{"closed", "crashed-synced", "index-lost", "sealed-range", "sealed-no-range"}[s]
}

// bitFlipFixture holds the files of a segment in one state.
type bitFlipFixture struct {
	store, index []byte
	values       [][]byte
	positions    []int64
}

// fastTempDir is a temporary directory on tmpfs when the machine has one:
// the tests open thousands of segments, and every writable open fsyncs.
func fastTempDir(t testing.TB) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "segmentstore-bitflip-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

func bitFlipConfig() segmentstore.Config {
	c := fuzzConfig()
	c.Sync = segmentstore.SyncAlways
	return c
}

func newBitFlipFixture(t testing.TB, state bitFlipState) bitFlipFixture {
	dir := fastTempDir(t)
	c := bitFlipConfig()
	s, err := segmentstore.OpenSegment(dir, 0, c)
	if err != nil {
		t.Fatal(err)
	}
	var fx bitFlipFixture
	for i := uint64(0); i < bitFlipRecords; i++ {
		v := value(i)
		fx.values = append(fx.values, v)
		if _, err := s.Append([]segmentstore.Record{{Value: v, Term: i + 1000}}); err != nil {
			t.Fatal(err)
		}
	}
	if state == closedClean || state == sealedInLog || state == sealedNoRange {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		defer s.Close()
	}
	fx.store, err = os.ReadFile(filepath.Join(dir, segmentstore.SegmentFileName(0, ".store")))
	if err != nil {
		t.Fatal(err)
	}
	if state != indexLost {
		fx.index, err = os.ReadFile(filepath.Join(dir, segmentstore.SegmentFileName(0, ".index")))
		if err != nil {
			t.Fatal(err)
		}
	}
	for pos := 0; pos < len(fx.store); {
		_, n, err := segmentstore.DecodeFrame(fx.store[pos:])
		if err != nil {
			t.Fatal(err)
		}
		fx.positions = append(fx.positions, int64(pos))
		pos += n
	}
	return fx
}

// frameOf returns the record whose frame holds store byte pos.
func (fx bitFlipFixture) frameOf(pos int64) uint64 {
	i := uint64(0)
	for i+1 < uint64(len(fx.positions)) && fx.positions[i+1] <= pos {
		i++
	}
	return i
}

type recordReader interface {
	Read(uint64) (segmentstore.Record, error)
	NextOffset() uint64
	Close() error
}

// openDamaged writes the fixture with store and index as given into dir
// and opens it the way state says.
func openDamaged(t testing.TB, dir string, state bitFlipState, store, index []byte) (recordReader, error) {
	c := bitFlipConfig()
	if err := os.WriteFile(filepath.Join(dir, segmentstore.SegmentFileName(0, ".store")), store, 0o644); err != nil {
		t.Fatal(err)
	}
	ip := filepath.Join(dir, segmentstore.SegmentFileName(0, ".index"))
	if index != nil {
		if err := os.WriteFile(ip, index, 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		_ = os.Remove(ip)
	}
	switch state {
	case sealedInLog:
		return segmentstore.OpenSealedSegmentRange(dir, 0, bitFlipRecords, c)
	case sealedNoRange:
		return segmentstore.OpenSealedSegment(dir, 0, c)
	default:
		return segmentstore.OpenSegment(dir, 0, c)
	}
}

// checkOnlyDamagedLost opens the damaged copy and checks every record.
// damaged is the record whose frame was hit, or -1 when the store is
// intact (the index was hit).
func checkOnlyDamagedLost(t testing.TB, fx bitFlipFixture, state bitFlipState, store, index []byte, damaged int, what string) {
	t.Helper()
	s, err := openDamaged(t, fastTempDir(t), state, store, index)
	if err != nil {
		t.Fatalf("%s, %s: open: %v", state, what, err)
	}
	defer s.Close()
	lastDamagedMayBeCut := damaged == bitFlipRecords-1 && state == indexLost
	wantNext := uint64(bitFlipRecords)
	if lastDamagedMayBeCut && s.NextOffset() == bitFlipRecords-1 {
		wantNext = bitFlipRecords - 1
	}
	if got := s.NextOffset(); got != wantNext {
		t.Fatalf("%s, %s: next offset %d, want %d", state, what, got, wantNext)
	}
	for off := uint64(0); off < bitFlipRecords; off++ {
		rec, err := s.Read(off)
		if int(off) == damaged {
			// Reported, or cut as a torn tail when nothing fsynced
			// follows it; a record that still reads must be intact.
			if err == nil && bytes.Equal(rec.Value, fx.values[off]) {
				continue
			}
			if errors.Is(err, segmentstore.ErrCorrupt) || (lastDamagedMayBeCut && errors.Is(err, segmentstore.ErrOffsetOutOfRange)) {
				continue
			}
			t.Fatalf("%s, %s: damaged record %d: %v (value %q)", state, what, off, err, rec.Value)
		}
		if err != nil {
			t.Fatalf("%s, %s: record %d lost: %v", state, what, off, err)
		}
		if rec.Offset != off || rec.Term != off+1000 || !bytes.Equal(rec.Value, fx.values[off]) {
			t.Fatalf("%s, %s: record %d reads back as %d/%d/%q", state, what, off, rec.Offset, rec.Term, rec.Value)
		}
	}
}

// TestEveryBitFlipLosesOnlyTheDamagedRecord flips every bit of the store
// and of the index, one at a time, in every state.
func TestEveryBitFlipLosesOnlyTheDamagedRecord(t *testing.T) {
	for state := bitFlipState(0); state < bitFlipStates; state++ {
		t.Run(state.String(), func(t *testing.T) {
			fx := newBitFlipFixture(t, state)
			store := make([]byte, len(fx.store))
			for bit := 0; bit < 8*len(fx.store); bit++ {
				copy(store, fx.store)
				store[bit/8] ^= 1 << (bit % 8)
				checkOnlyDamagedLost(t, fx, state, store, fx.index, int(fx.frameOf(int64(bit/8))), "store bit "+itoa(bit))
			}
			if fx.index == nil {
				return
			}
			// The index is derived data: no flip in it may lose a record.
			// An active index is mostly zero preallocation; its entries,
			// trailer slot and recovery point are what matter.
			index := make([]byte, len(fx.index))
			for _, r := range indexRegions(state, len(fx.index)) {
				for bit := 8 * r[0]; bit < 8*r[1]; bit++ {
					copy(index, fx.index)
					index[bit/8] ^= 1 << (bit % 8)
					checkOnlyDamagedLost(t, fx, state, fx.store, index, -1, "index bit "+itoa(bit))
				}
			}
		})
	}
}

// indexRegions are the byte ranges of an index file worth flipping: all of
// a closed one; the entries and the last slots of a preallocated one.
func indexRegions(state bitFlipState, n int) [][2]int {
	if state != crashedSynced {
		return [][2]int{{0, n}}
	}
	head := min(n, (bitFlipRecords+1)*segmentstore.IndexEntryBytes)
	tail := max(head, n-4*segmentstore.IndexEntryBytes)
	return [][2]int{{0, head}, {tail, n}}
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// FuzzBitFlip damages a segment with up to three XOR masks at fuzzed
// positions, in a fuzzed state, and checks that only records whose frames
// were hit can be missing.
func FuzzBitFlip(f *testing.F) {
	f.Add(uint8(0), uint16(3), uint8(1), uint16(0), uint8(0), uint16(0), uint8(0))
	f.Add(uint8(1), uint16(40), uint8(0x80), uint16(200), uint8(0xff), uint16(0), uint8(0))
	f.Add(uint8(2), uint16(1), uint8(0x10), uint16(2), uint8(0x10), uint16(3), uint8(0x10))
	fixtures := map[bitFlipState]bitFlipFixture{}
	f.Fuzz(func(t *testing.T, st uint8, p1 uint16, m1 uint8, p2 uint16, m2 uint8, p3 uint16, m3 uint8) {
		state := bitFlipState(st % uint8(bitFlipStates))
		fx, ok := fixtures[state]
		if !ok {
			fx = newBitFlipFixture(t, state)
			fixtures[state] = fx
		}
		store := append([]byte(nil), fx.store...)
		hit := map[uint64]bool{}
		for _, d := range []struct {
			p uint16
			m uint8
		}{{p1, m1}, {p2, m2}, {p3, m3}} {
			if d.m == 0 {
				continue
			}
			pos := int(d.p) % len(store)
			store[pos] ^= d.m
			hit[fx.frameOf(int64(pos))] = true
		}
		s, err := openDamaged(t, fastTempDir(t), state, store, fx.index)
		if err != nil {
			if errors.Is(err, segmentstore.ErrCorrupt) {
				return // refused to guess: nothing cut, nothing served
			}
			t.Fatalf("%s: open: %v", state, err)
		}
		defer s.Close()
		// Records after the first hit one may be cut only when that is
		// the unsynced tail, which no state here has except index-lost's
		// last frames; every record not hit must read back.
		for off := uint64(0); off < bitFlipRecords; off++ {
			rec, err := s.Read(off)
			if hit[off] {
				if err == nil && !bytes.Equal(rec.Value, fx.values[off]) {
					t.Fatalf("%s: damaged record %d served as %q", state, off, rec.Value)
				}
				continue
			}
			if err != nil && state == indexLost && errors.Is(err, segmentstore.ErrOffsetOutOfRange) && allHitFrom(hit, off) {
				continue
			}
			if err != nil || !bytes.Equal(rec.Value, fx.values[off]) {
				t.Fatalf("%s: record %d lost: %v", state, off, err)
			}
		}
	})
}

// allHitFrom reports whether some record before off was hit and every
// record from off on may have been cut with it as a torn tail.
func allHitFrom(hit map[uint64]bool, off uint64) bool {
	for h := range hit {
		if h < off {
			return true
		}
	}
	return false
}
