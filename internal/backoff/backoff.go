package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is exponential backoff: the wait before the first retry is Min,
// each next one doubles, up to Max. Min must be positive and Max at least
// Min; the owners check their configuration before they build one.
type Policy struct {
	Min, Max time.Duration
	// Jitter draws each wait from [d/2, d), where d is the exact wait, to
	// spread the retries of many callers that failed at the same time.
	Jitter bool
}

// Delay returns the wait before retry number n, counting from 1: Min for
// the first, twice as long for each next one, never more than Max. An n
// below 1 counts as 1.
func (p Policy) Delay(n int) time.Duration {
	d := p.Min
	// Doubling stops at the cap, so a retry number in the millions costs
	// at most a few dozen steps and never overflows.
	for i := 1; i < n && d < p.Max; i++ {
		if d > p.Max/2 {
			d = p.Max
		} else {
			d *= 2
		}
	}
	d = min(d, p.Max)
	if p.Jitter {
		d = jitter(d)
	}
	return d
}

// jitter draws from [d/2, d); a wait too short to halve is kept as is.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half)
}

// Backoff hands out the waits of a Policy one after the other. The zero
// value is not usable; New builds one. It is owned by one goroutine.
type Backoff struct {
	p Policy
	n int // retries handed out since the last Reset
}

// New returns a Backoff at the start of p.
func New(p Policy) *Backoff { return &Backoff{p: p} }

// Next returns the wait before the next retry and advances.
func (b *Backoff) Next() time.Duration {
	// Past the cap the count no longer matters; keeping it there keeps it
	// from growing without end in a loop that lives as long as a node.
	if b.n < 64 {
		b.n++
	}
	return b.p.Delay(b.n)
}

// Reset starts over from Min, after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits for d. It reports false, as soon as it happens, when ctx
// ends first; a d of zero or less only checks ctx.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// SleepOrStop waits for d. It reports false, as soon as it happens, when
// stop closes first; a d of zero or less only checks stop.
func SleepOrStop(stop <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

// Retry calls op until it returns nil, waiting the delays of p between
// attempts. Each failure goes to failed first, when it is not nil (to log
// it). When stop closes during a wait, Retry returns op's last error at
// once; it returns nil after a success. stop is checked only while
// waiting: the first attempt is always made.
func Retry(stop <-chan struct{}, p Policy, op func() error, failed func(error)) error {
	b := New(p)
	for {
		err := op()
		if err == nil {
			return nil
		}
		if failed != nil {
			failed(err)
		}
		if !SleepOrStop(stop, b.Next()) {
			return err
		}
	}
}
