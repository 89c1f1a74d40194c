package segmentstore

import (
	"errors"
	"fmt"
	"os"
)

// syncPoint is a recovery point candidate: where the written frames end
// when it was taken, under mu with the write buffer empty.
type syncPoint struct {
	pos   int64
	next  uint64
	epoch uint64
}

// syncPointLocked returns where the written frames end; the caller has
// just flushed the write buffer, so they end at the next offset.
func (s *Segment) syncPointLocked() syncPoint {
	return syncPoint{pos: s.flushed, next: s.next, epoch: s.truncEpoch}
}

// fsync makes every write up to seq durable and then moves the recovery
// point to at. It runs outside mu so that readers are not blocked for the
// length of a disk flush.
func (s *Segment) fsync(seq uint64, at syncPoint) error {
	if s.syncedSeq.Load() >= seq {
		return nil
	}
	if err := s.store.Sync(); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed && errors.Is(err, os.ErrClosed) {
			return nil // Close fsynced everything before closing the file
		}
		s.werr = fmt.Errorf("segmentstore: fsync %s: %w", s.storePath, err)
		return s.werr
	}
	for {
		cur := s.syncedSeq.Load()
		if cur >= seq || s.syncedSeq.CompareAndSwap(cur, seq) {
			break
		}
	}
	s.mu.Lock()
	s.advanceRecoveryPointLocked(at)
	s.mu.Unlock()
	return nil
}

// advanceRecoveryPointLocked moves the recovery point forward to at, which
// an fsync has just made durable, unless a truncation happened since at
// was taken. The index page holding it is written back by the kernel or by
// persistRecoveryPoint; until then a power loss leaves an older point,
// which only makes recovery cut more of an unsynced tail, never report it.
func (s *Segment) advanceRecoveryPointLocked(at syncPoint) {
	if s.closed || s.sealed || at.epoch != s.truncEpoch || at.pos <= s.rpPos {
		return
	}
	s.rpPos, s.rpNext, s.rpDirty = at.pos, at.next, true
	s.idx.setRecoveryPoint(at.pos, uint32(at.next-s.base))
}

// persistRecoveryPoint fsyncs the index when the recovery point moved
// since it last did, so that a power loss keeps a recent point: recovery
// then reports damage in durable records instead of cutting it as an
// unsynced tail. The fsync goroutine runs it every Config.SyncInterval;
// it is not on the append path.
func (s *Segment) persistRecoveryPoint() {
	s.mu.Lock()
	if s.closed || s.sealed || !s.rpDirty {
		s.mu.Unlock()
		return
	}
	s.rpDirty = false
	f := s.idx.f
	s.mu.Unlock()
	if err := f.Sync(); err != nil {
		s.mu.Lock()
		s.rpDirty = !s.closed
		s.mu.Unlock()
	}
}

// Sync writes buffered frames to the store file and fsyncs it, whatever
// the sync policy.
func (s *Segment) Sync() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.werr != nil {
		err := s.werr
		s.mu.Unlock()
		return err
	}
	if err := s.flushLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	seq, at := s.writeSeq, s.syncPointLocked()
	s.mu.Unlock()
	return s.fsync(seq, at)
}

// Flush writes the buffered frames to the operating system without an
// fsync. After Flush the appended records survive the death of the process
// (kill -9), though not a power loss; that is what a server needs before it
// acknowledges a record under SyncNone or SyncInterval, while still letting
// many appends share one fsync.
func (s *Segment) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.werr != nil {
		return s.werr
	}
	return s.flushLocked()
}
