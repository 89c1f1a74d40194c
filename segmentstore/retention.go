package segmentstore

import (
	"sort"
	"time"
)

// SegmentStat is what retention looks at in one segment.
type SegmentStat struct {
	// Size is the segment's size on disk in bytes.
	Size uint64
	// LastAppend is when its newest record was appended.
	LastAppend time.Time
}

// RetentionCut returns how many segments, counted from the front of segs
// (oldest first, the active segment last), retention deletes: those that
// bring the total over maxBytes, then those whose newest record is older
// than maxAge at now. A zero limit is no limit. The last segment is never
// counted: the active segment is never deleted. Log and the log actor
// both decide with it, so that the two retentions cannot drift apart.
func RetentionCut(segs []SegmentStat, maxBytes uint64, maxAge time.Duration, now time.Time) int {
	n := 0
	if maxBytes > 0 {
		var total uint64
		for _, s := range segs {
			total += s.Size
		}
		for n < len(segs)-1 && total > maxBytes {
			total -= segs[n].Size
			n++
		}
	}
	if maxAge > 0 {
		cutoff := now.Add(-maxAge)
		for n < len(segs)-1 && segs[n].LastAppend.Before(cutoff) {
			n++
		}
	}
	return n
}

// SegmentHolding returns the index of the segment that holds off in a list
// sorted by base offset and contiguous: the last one whose base is at most
// off. It returns -1 when off is below the first base; whether off is
// below the end of the segment found is for the caller to check.
func SegmentHolding[S any](segs []S, base func(S) uint64, off uint64) int {
	return sort.Search(len(segs), func(i int) bool { return base(segs[i]) > off }) - 1
}

// SegmentFrom returns the index of the first segment, in a list sorted by
// base offset, whose base is at least off: len(segs) when there is none.
func SegmentFrom[S any](segs []S, base func(S) uint64, off uint64) int {
	return sort.Search(len(segs), func(i int) bool { return base(segs[i]) >= off })
}
