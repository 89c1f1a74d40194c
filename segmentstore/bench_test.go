package segmentstore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"actorlog/segmentstore"
)

// BenchmarkAppend measures Log.Append with production-sized segments for
// each record size, batch size and sync policy. The time includes a final
// Sync, so every policy is measured up to data on disk, like dd with
// conv=fdatasync. MB/s counts value bytes.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, batch := range []int{1, 100} {
			for _, policy := range []segmentstore.SyncPolicy{segmentstore.SyncNone, segmentstore.SyncInterval, segmentstore.SyncAlways} {
				name := fmt.Sprintf("size=%s/batch=%d/sync=%s", sizeName(size), batch, policy)
				b.Run(name, func(b *testing.B) { benchAppend(b, size, batch, policy) })
			}
		}
	}
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

func benchAppend(b *testing.B, size, batch int, policy segmentstore.SyncPolicy) {
	c := segmentstore.DefaultConfig()
	c.Sync = policy
	l, err := segmentstore.Open(b.TempDir(), c)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	recs := make([]segmentstore.Record, batch)
	for i := range recs {
		recs[i].Value = make([]byte, size)
		for j := range recs[i].Value {
			recs[i].Value[j] = byte(i + j)
		}
	}
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(recs...); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// benchLog fills a log with n records of size bytes and syncs it.
func benchLog(b *testing.B, n, size int) *segmentstore.Log {
	c := segmentstore.DefaultConfig()
	c.Sync = segmentstore.SyncNone
	l, err := segmentstore.Open(b.TempDir(), c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	recs := make([]segmentstore.Record, 100)
	for i := range recs {
		recs[i].Value = make([]byte, size)
	}
	for i := 0; i < n; i += len(recs) {
		if _, err := l.Append(recs...); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkReadSequential reads a 100 MiB log of 1 KiB records from the
// front, one record per Read or 100 per ReadRange, wrapping around.
func BenchmarkReadSequential(b *testing.B) {
	const n, size = 100_000, 1024
	l := benchLog(b, n, size)
	b.Run("Read", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := l.Read(uint64(i % n)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadRange100", func(b *testing.B) {
		b.SetBytes(100 * size)
		b.ReportAllocs()
		off := uint64(0)
		for i := 0; i < b.N; i++ {
			recs, err := l.ReadRange(off, 100, 0)
			if err != nil {
				b.Fatal(err)
			}
			off += uint64(len(recs))
			if off >= n {
				off = 0
			}
		}
	})
}

// BenchmarkRecoverSegment opens a full 64 MiB segment of 1 KiB records
// that was not closed cleanly: the whole store is scanned and the index
// rebuilt. This bounds the recovery time after a crash.
func BenchmarkRecoverSegment(b *testing.B) {
	dir := b.TempDir()
	c := segmentstore.DefaultConfig()
	c.Sync = segmentstore.SyncNone
	s, err := segmentstore.OpenSegment(dir, 0, c)
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]segmentstore.Record, 100)
	for i := range recs {
		recs[i].Value = make([]byte, 1024)
	}
	for !s.IsFull() {
		if _, err := s.Append(recs); err != nil {
			break
		}
	}
	size := s.Size()
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	store, _ := os.ReadFile(filepath.Join(dir, segmentstore.SegmentFileName(0, ".store")))
	index, _ := os.ReadFile(filepath.Join(dir, segmentstore.SegmentFileName(0, ".index")))
	_ = s.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := b.TempDir()
		_ = os.WriteFile(filepath.Join(d, segmentstore.SegmentFileName(0, ".store")), store, 0o644)
		_ = os.WriteFile(filepath.Join(d, segmentstore.SegmentFileName(0, ".index")), index, 0o644)
		b.StartTimer()
		s, err := segmentstore.OpenSegment(d, 0, c)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = s.Close()
		b.StartTimer()
	}
}
