package node

import (
	"fmt"
	"sync"
	"time"
)

// DefaultApplyStallTimeout is how long a node's applied index may stay put
// while raft has committed entries beyond it before the node reports
// itself unhealthy: an entry that cannot be applied (and is retried
// forever) would otherwise leave a node that answers /healthz 200 and
// serves nothing new. Catching up after a restart applies steadily and
// never trips it.
const DefaultApplyStallTimeout = 15 * time.Second

// applyWatch tracks since when the applied index has not moved while
// entries wait to be applied.
type applyWatch struct {
	mu      sync.Mutex
	applied uint64
	since   time.Time
}

// check returns an error when applied has stayed below committed, without
// moving, for longer than stall.
func (w *applyWatch) check(applied, committed uint64, now time.Time, stall time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if applied >= committed || applied != w.applied || w.since.IsZero() {
		w.applied, w.since = applied, now
		return nil
	}
	if d := now.Sub(w.since); d > stall {
		return fmt.Errorf("%w: entries are committed up to index %d but the applied index has stayed at %d for %s",
			ErrUnhealthy, committed, applied, d.Round(time.Second))
	}
	return nil
}

// applyStalled reports a stuck applied index (see applyWatch).
func (n *Node) applyStalled() error {
	if n.raft == nil || n.fsm == nil {
		return nil
	}
	return n.applyWatch.check(n.fsm.Applied(), n.raft.CommitIndex(), time.Now(), DefaultApplyStallTimeout)
}
