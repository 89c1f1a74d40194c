package consensus

import (
	"errors"
	"sync"
	"time"
)

// reclaimInterval is how often a format 2 node tells the raft log store
// which entries its records still refer to: retention runs about as often
// (segmentstore's check), and reclaiming a few seconds late only keeps
// deleted records' bytes on disk a little longer.
const reclaimInterval = 5 * time.Second

// reclaimer lets the raft log store drop the segments that no retained
// record refers to any more (data format 2): the entries that hold the
// records' values stay on disk after raft compacts them, until retention
// deletes the records. It reads the raft index of the log's lowest record;
// raft indexes grow with offsets, so nothing below it is referred to.
type reclaimer struct {
	log   Log
	store *SegmentLogStore
	stop  chan struct{}
	wg    sync.WaitGroup
	// syncDir makes the record log's deletions durable.
	syncDir func() error
	// last is the floor last given to the store.
	last uint64
	warn func(error)
}

func startReclaimer(log Log, store *SegmentLogStore, syncDir func() error, warn func(error)) *reclaimer {
	r := &reclaimer{log: log, store: store, syncDir: syncDir, stop: make(chan struct{}), warn: warn}
	r.wg.Add(1)
	go r.run()
	return r
}

func (r *reclaimer) run() {
	defer r.wg.Done()
	t := time.NewTicker(reclaimInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if err := r.step(); err != nil && !errors.Is(err, ErrClosed) {
				r.warn(err)
			}
		}
	}
}

// step reads the lowest record's raft index and passes it on.
func (r *reclaimer) step() error {
	low, next, err := r.log.Bounds()
	if err != nil || low >= next {
		// An empty log refers to nothing, but the next record's entry is
		// not known yet: keep the floor where it is.
		return err
	}
	recs, err := r.log.Read(low, 1)
	if err != nil || len(recs) == 0 {
		return err
	}
	idx := recs[0].GetRaftIndex()
	if idx <= r.last {
		return nil
	}
	// Retention's deletions first: a segment of references that a power
	// loss brought back would refer to entries dropped below.
	if err := r.syncDir(); err != nil {
		return err
	}
	if err := r.store.RetainFrom(idx); err != nil {
		return err
	}
	r.last = idx
	return nil
}

// Stop ends the goroutine and waits for it. It is idempotent.
func (r *reclaimer) Stop() {
	if r == nil {
		return
	}
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
}
