package main

import (
	"math"
	"math/bits"
	"time"
)

// histSubBits sets the precision of latencyHistogram: 2^histSubBits buckets
// per power of two, so a recorded value is reported within 1/128 (0.8%) of
// itself, as HdrHistogram does with two significant digits.
const histSubBits = 7

// latencyHistogram counts durations in log-linear buckets, the layout of
// HdrHistogram: memory is bounded (a few thousand counters) however many
// requests a run makes, and percentiles are exact to the bucket width.
// It is not safe for concurrent use; the bench serialises recording.
type latencyHistogram struct {
	counts []uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

// histBucket is the bucket of v (nanoseconds). Values below 2^(histSubBits+1)
// have a bucket each; above, each power of two is cut into 2^histSubBits.
func histBucket(v uint64) int {
	if v < 1<<(histSubBits+1) {
		return int(v)
	}
	e := bits.Len64(v) - (histSubBits + 1)
	m := v >> e // in [2^histSubBits, 2^(histSubBits+1))
	return (e+1)<<histSubBits + int(m-1<<histSubBits)
}

// histBucketHigh is the largest value that falls into bucket i.
func histBucketHigh(i int) uint64 {
	if i < 1<<(histSubBits+1) {
		return uint64(i)
	}
	e := i>>histSubBits - 1
	m := uint64(i&(1<<histSubBits-1)) + 1<<histSubBits
	if bits.Len64(m+1)+e > 64 {
		return math.MaxUint64
	}
	return (m+1)<<e - 1
}

// record adds one duration; negative ones count as zero.
func (h *latencyHistogram) record(d time.Duration) {
	d = max(d, 0)
	i := histBucket(uint64(d))
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// count is the number of recorded durations.
func (h *latencyHistogram) count() uint64 { return h.n }

// mean is the average of the recorded durations (0 when empty).
func (h *latencyHistogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// quantile returns the duration that q (0..1) of the recorded ones do not
// exceed, to the bucket width and never above the largest recorded.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(h.n)))
	target = min(max(target, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= target {
			v := histBucketHigh(i)
			if v > uint64(h.max) {
				return h.max
			}
			return max(time.Duration(v), h.min)
		}
	}
	return h.max
}
