package discovery

import (
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with equal jitter: each wait is drawn from
// [d/2, d) where d doubles from min up to max. The jitter keeps the nodes of
// a cluster that lost the same agent (or the same Consul servers) from
// retrying in lockstep. It is owned by one goroutine.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func newBackoff(minB, maxB time.Duration) *backoff {
	return &backoff{min: minB, max: maxB}
}

// next returns the wait before the next attempt and advances.
func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur < b.max:
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	if half <= 0 {
		return b.cur
	}
	return half + rand.N(b.cur-half)
}

// reset starts over from min after a success.
func (b *backoff) reset() { b.cur = 0 }
