package segmentstore_test

import (
	"testing"
	"time"

	"actorlog/segmentstore"
)

func TestRetentionCut(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	old, fresh := now.Add(-2*time.Hour), now.Add(-time.Minute)
	seg := func(size uint64, last time.Time) segmentstore.SegmentStat {
		return segmentstore.SegmentStat{Size: size, LastAppend: last}
	}
	cases := []struct {
		name     string
		segs     []segmentstore.SegmentStat
		maxBytes uint64
		maxAge   time.Duration
		want     int
	}{
		{"no limits", []segmentstore.SegmentStat{seg(100, old), seg(100, old)}, 0, 0, 0},
		{"within bytes", []segmentstore.SegmentStat{seg(100, fresh), seg(100, fresh)}, 200, 0, 0},
		{"over bytes", []segmentstore.SegmentStat{seg(100, fresh), seg(100, fresh), seg(50, fresh)}, 140, 0, 2},
		{"never the active segment", []segmentstore.SegmentStat{seg(100, old), seg(500, old)}, 10, time.Hour, 1},
		{"by age", []segmentstore.SegmentStat{seg(1, old), seg(1, old), seg(1, fresh), seg(1, old)}, 0, time.Hour, 2},
		{"bytes then age", []segmentstore.SegmentStat{seg(100, fresh), seg(10, old), seg(10, fresh), seg(10, fresh)}, 50, time.Hour, 2},
		{"age exactly at the limit stays", []segmentstore.SegmentStat{seg(1, now.Add(-time.Hour)), seg(1, now)}, 0, time.Hour, 0},
		{"empty", nil, 1, time.Hour, 0},
	}
	for _, c := range cases {
		if got := segmentstore.RetentionCut(c.segs, c.maxBytes, c.maxAge, now); got != c.want {
			t.Errorf("%s: RetentionCut = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestSegmentLookups(t *testing.T) {
	bases := []uint64{10, 20, 30}
	id := func(b uint64) uint64 { return b }
	for off, want := range map[uint64]int{0: -1, 9: -1, 10: 0, 19: 0, 20: 1, 35: 2} {
		if got := segmentstore.SegmentHolding(bases, id, off); got != want {
			t.Errorf("SegmentHolding(%d) = %d, want %d", off, got, want)
		}
	}
	for off, want := range map[uint64]int{0: 0, 10: 0, 11: 1, 30: 2, 31: 3} {
		if got := segmentstore.SegmentFrom(bases, id, off); got != want {
			t.Errorf("SegmentFrom(%d) = %d, want %d", off, got, want)
		}
	}
}
