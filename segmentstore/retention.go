package segmentstore

import (
	"sort"
	"time"
)

// RetentionCut returns how many segments, counted from the front of segs
// (sorted by base offset, the active segment last), retention deletes:
// those that bring the total size over maxBytes, then those whose newest
// record was appended before now minus maxAge. A zero limit is no limit.
// The last segment is never counted: the active segment is never deleted.
// size and lastAppend tell a segment's size in bytes and when its newest
// record was appended; lastAppend is asked only of the segments the age
// limit looks at. Log and the log actor both decide with it, so that the
// two retentions cannot drift apart.
func RetentionCut[S any](segs []S, size func(S) uint64, lastAppend func(S) time.Time,
	maxBytes uint64, maxAge time.Duration, now time.Time) int {
	n := 0
	if maxBytes > 0 {
		var total uint64
		for _, s := range segs {
			total += size(s)
		}
		for n < len(segs)-1 && total > maxBytes {
			total -= size(segs[n])
			n++
		}
	}
	if maxAge > 0 {
		cutoff := now.Add(-maxAge)
		for n < len(segs)-1 && lastAppend(segs[n]).Before(cutoff) {
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
