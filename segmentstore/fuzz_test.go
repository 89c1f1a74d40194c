package segmentstore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"actorlog/segmentstore"
)

// seedSegment writes n records to a closed segment and returns its files.
func seedSegment(t testing.TB, n uint64) (store, index []byte) {
	dir := t.TempDir()
	c := fuzzConfig()
	s, err := segmentstore.OpenSegment(dir, 0, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(records(0, n)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	store, _ = os.ReadFile(filepath.Join(dir, segmentstore.SegmentFileName(0, ".store")))
	index, _ = os.ReadFile(filepath.Join(dir, segmentstore.SegmentFileName(0, ".index")))
	return store, index
}

func fuzzConfig() segmentstore.Config {
	c := segmentstore.DefaultConfig()
	c.Sync = segmentstore.SyncNone
	c.MaxStoreBytes = 64 << 10
	c.MaxIndexBytes = 256 * segmentstore.IndexEntryBytes
	c.MaxRecordBytes = 4096
	return c
}

// FuzzDecodeFrame: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to exactly the bytes it came from.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, segmentstore.FrameOverhead))
	f.Add(segmentstore.AppendFrame(nil, segmentstore.Record{Offset: 7, Term: 3, Timestamp: -1, Value: []byte("hello")}))
	f.Add(segmentstore.AppendFrame(nil, segmentstore.Record{}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	store, _ := seedSegment(f, 3)
	f.Add(store)
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := segmentstore.DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, segmentstore.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if n < segmentstore.FrameOverhead || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		if again := segmentstore.AppendFrame(nil, rec); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzFrameRoundTrip: every record survives encoding.
func FuzzFrameRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint64(0), int64(0), []byte(nil))
	f.Add(uint64(1<<63), uint64(42), int64(-5), []byte("value"))
	f.Fuzz(func(t *testing.T, off, term uint64, ts int64, v []byte) {
		in := segmentstore.Record{Offset: off, Term: term, Timestamp: ts, Value: v}
		b := segmentstore.AppendFrame([]byte("prefix"), in)
		out, n, err := segmentstore.DecodeFrame(b[len("prefix"):])
		if err != nil || n != len(b)-len("prefix") {
			t.Fatalf("decode: %v (%d bytes)", err, n)
		}
		if out.Offset != off || out.Term != term || out.Timestamp != ts || !bytes.Equal(out.Value, v) {
			t.Fatalf("round trip changed the record: %+v", out)
		}
	})
}

// Fuzzing opens real files and fsyncs, so run it on tmpfs and with an
// execution count rather than a duration (Go 1.26's coordinator can report
// a spurious "context deadline exceeded" when a duration runs out while a
// slow target is mid-call, golang/go#75804):
//
//	TMPDIR=/dev/shm go test -run '^$' -fuzz FuzzRecover -fuzztime 100000x ./segmentstore/

// FuzzRecover writes fuzzed bytes as a segment's store and index and opens
// it, alone (the active segment) or as the sealed first segment of a log.
// Opening never panics; every offset it then claims reads back as a record
// with that offset or as a CorruptError; and the segment takes appends.
func FuzzRecover(f *testing.F) {
	good, goodIdx := seedSegment(f, 20)
	f.Add(good, goodIdx, false)
	f.Add(good, goodIdx, true)
	f.Add(good[:len(good)-7], goodIdx, false)
	f.Add(good, goodIdx[:len(goodIdx)-5], false)
	f.Add(good, []byte{}, true)
	f.Add([]byte{}, goodIdx, false)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x10
	f.Add(flipped, goodIdx, false)
	f.Add(flipped, []byte{}, true)
	f.Add(bytes.Repeat([]byte{0}, 200), bytes.Repeat([]byte{0}, 120), false)
	f.Add(bytes.Repeat([]byte{0xff}, 200), bytes.Repeat([]byte{0xff}, 120), true)

	f.Fuzz(recoverOnce)
}

func recoverOnce(t *testing.T, store, index []byte, sealed bool) {
	if len(store) > 256<<10 || len(index) > 64<<10 {
		return
	}
	dir := t.TempDir()
	c := fuzzConfig()
	write := func(base uint64, suffix string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, segmentstore.SegmentFileName(base, suffix)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(0, ".store", store)
	write(0, ".index", index)

	var r interface {
		Read(uint64) (segmentstore.Record, error)
		NextOffset() uint64
	}
	var appendOne func() (uint64, error)
	if sealed {
		// The next segment says 20 records were written before it.
		write(20, ".store", nil)
		l, err := segmentstore.Open(dir, c)
		if err != nil {
			if !errors.Is(err, segmentstore.ErrCorrupt) {
				t.Fatalf("open: %v", err)
			}
			return
		}
		defer l.Close()
		r = l
		appendOne = func() (uint64, error) { return l.Append(segmentstore.Record{Value: []byte("new")}) }
	} else {
		s, err := segmentstore.OpenSegment(dir, 0, c)
		if err != nil {
			t.Fatalf("a lone segment always recovers, got %v", err)
		}
		defer s.Close()
		r = s
		appendOne = func() (uint64, error) { return s.Append([]segmentstore.Record{{Value: []byte("new")}}) }
	}
	next := r.NextOffset()
	for off := uint64(0); off < next; off++ {
		rec, err := r.Read(off)
		if err != nil {
			if !errors.Is(err, segmentstore.ErrCorrupt) {
				t.Fatalf("read %d: %v", off, err)
			}
			continue
		}
		if rec.Offset != off {
			t.Fatalf("read %d returned offset %d", off, rec.Offset)
		}
	}
	first, err := appendOne()
	if err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if first != next {
		t.Fatalf("append got offset %d, want %d", first, next)
	}
	if rec, err := r.Read(first); err != nil || string(rec.Value) != "new" {
		t.Fatalf("read back the new record: %v", err)
	}
}
