package segmentstore_test

import (
	"testing"
	"time"

	"actorlog/segmentstore"
)

func TestRetentionCut(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	old, fresh := now.Add(-2*time.Hour), now.Add(-time.Minute)
	type stat struct {
		size uint64
		last time.Time
	}
	seg := func(size uint64, last time.Time) stat { return stat{size, last} }
	size := func(s stat) uint64 { return s.size }
	last := func(s stat) time.Time { return s.last }
	cases := []struct {
		name     string
		segs     []stat
		maxBytes uint64
		maxAge   time.Duration
		want     int
	}{
		{"no limits", []stat{seg(100, old), seg(100, old)}, 0, 0, 0},
		{"within bytes", []stat{seg(100, fresh), seg(100, fresh)}, 200, 0, 0},
		{"over bytes", []stat{seg(100, fresh), seg(100, fresh), seg(50, fresh)}, 140, 0, 2},
		{"never the active segment", []stat{seg(100, old), seg(500, old)}, 10, time.Hour, 1},
		{"by age", []stat{seg(1, old), seg(1, old), seg(1, fresh), seg(1, old)}, 0, time.Hour, 2},
		{"bytes then age", []stat{seg(100, fresh), seg(10, old), seg(10, fresh), seg(10, fresh)}, 50, time.Hour, 2},
		{"age exactly at the limit stays", []stat{seg(1, now.Add(-time.Hour)), seg(1, now)}, 0, time.Hour, 0},
		{"empty", nil, 1, time.Hour, 0},
	}
	for _, c := range cases {
		if got := segmentstore.RetentionCut(c.segs, size, last, c.maxBytes, c.maxAge, now); got != c.want {
			t.Errorf("%s: RetentionCut = %d, want %d", c.name, got, c.want)
		}
	}
}

// The age of a segment can cost a stat of its file: it is asked only of
// the segments the age limit looks at, never of the active one.
func TestRetentionCutAsksAgesOnlyWhenItNeedsThem(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	segs := []uint64{0, 1, 2}
	var asked []uint64
	size := func(uint64) uint64 { return 10 }
	last := func(s uint64) time.Time { asked = append(asked, s); return now.Add(-2 * time.Hour) }
	if n := segmentstore.RetentionCut(segs, size, last, 15, 0, now); n != 2 || asked != nil {
		t.Fatalf("bytes only: n = %d, ages asked of %v", n, asked)
	}
	if n := segmentstore.RetentionCut(segs, size, last, 0, time.Hour, now); n != 2 || len(asked) != 2 {
		t.Fatalf("age: n = %d, ages asked of %v", n, asked)
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
