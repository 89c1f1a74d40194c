package node

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/consensus"
	"actorlog/messages"
	"actorlog/segmentstore"
)

// recordValues is the log's actors.ValueSource in data format 2: the raft
// log store, once raft has opened it. The log opens before raft and
// outlives a repair's restart of raft, so it holds the store it reads
// through this indirection; between stores a read is answered as
// unavailable (consensus.ErrClosed), never as damage.
type recordValues struct {
	store atomic.Pointer[consensus.SegmentLogStore]
}

// EntryRecords implements actors.ValueSource.
func (v *recordValues) EntryRecords(index uint64) ([]*messages.Record, error) {
	s := v.store.Load()
	if s == nil {
		return nil, fmt.Errorf("%w: the raft log is not open", consensus.ErrClosed)
	}
	return s.EntryRecords(index)
}

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
	log   consensus.Log
	store *consensus.SegmentLogStore
	stop  chan struct{}
	wg    sync.WaitGroup
	// syncDir makes the record log's deletions durable.
	syncDir func() error
	// last is the floor last given to the store.
	last uint64
	warn func(error)
}

func startReclaimer(log consensus.Log, store *consensus.SegmentLogStore, syncDir func() error, warn func(error)) *reclaimer {
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
			if err := r.step(); err != nil && !errors.Is(err, consensus.ErrClosed) {
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

// recordLogStorage is the record log's storage configuration: the node's,
// except that under --sync always in data format 2 the record log is
// fsynced every SyncInterval instead of on every append.
//
// An acknowledged record must survive a power loss under "always". In
// format 2 the raft log holds its value, fsynced on a majority before the
// entry commits, and the record log holds only its offset and a reference
// to that entry. A reference the power loss takes is written again when
// raft replays the entry at start: the FSM's state file never claims more
// of the record log than was fsynced (it syncs the log first), and replay
// appends every offset from the record log's end (docs/DESIGN.md,
// invariant 4). What makes the relaxed fsync safe is that a power loss can
// only cut the record log, never punch a hole in it: the segments' recovery
// point marks where the store was last fsynced, and damage after it is
// cut as a torn tail, so the log keeps a prefix for replay to extend. So
// one produce waits for one fsync, the raft log's, as in a broker with a
// single log.
//
// Format 1 keeps fsyncing both: there the record log holds the values, and
// raft compacts its log after a snapshot without asking the record log.
func recordLogStorage(st segmentstore.Config, format int) segmentstore.Config {
	if format >= DataFormat2 && st.Sync == segmentstore.SyncAlways {
		st.Sync = segmentstore.SyncInterval
		if st.SyncInterval <= 0 {
			st.SyncInterval = segmentstore.DefaultSyncInterval
		}
	}
	return st
}
