package segmentstore

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one log entry. Offset is assigned by the log on append.
type Record struct {
	Offset    uint64
	Timestamp int64  // Unix nanoseconds; if zero on append, the segment sets time.Now()
	Term      uint64 // opaque to segmentstore: consensus stores the raft index of the entry that wrote the record here (0 if none)
	Value     []byte
}

const (
	storeSuffix = ".store"
	indexSuffix = ".index"
)

// SegmentFileName returns the file name of a segment's store (suffix
// ".store") or index (suffix ".index"): the base offset as 20 decimal
// digits, so that names sort in offset order.
func SegmentFileName(baseOffset uint64, suffix string) string {
	return fmt.Sprintf("%020d%s", baseOffset, suffix)
}

// Segment is one store file and one index file holding the records
// [BaseOffset, NextOffset). It is safe for many concurrent readers and one
// writer (concurrent writers are serialised).
//
// Locks: syncMu (held only around fsync bookkeeping) is never held while
// waiting for mu; mu guards everything else. Readers take mu.RLock, so
// they never block each other, and a fsync runs outside mu so that it does
// not block readers either.
type Segment struct {
	mu sync.RWMutex

	dir       string
	base      uint64
	cfg       Config
	storePath string
	indexPath string

	store File
	idx   index

	// buf holds frames appended but not yet written to the store file: the
	// store's logical content is file[0:flushed] followed by buf.
	buf     []byte
	flushed int64
	size    int64 // flushed + len(buf)
	next    uint64
	lastTS  int64

	sealed bool
	closed bool
	// werr is a sticky write or fsync error: once set, appends fail until
	// the segment is closed and reopened, because the files may no longer
	// match the in-memory state.
	werr error

	writeSeq  uint64        // bumped (under mu) by every write(2) of buffered bytes
	syncedSeq atomic.Uint64 // highest writeSeq known to be fsynced

	// The recovery point: the store is known to be fsynced up to rpPos,
	// where record rpNext starts. It is kept in the index (see
	// index.setRecoveryPoint), made durable by persistRecoveryPoint, and
	// tells recovery after a crash which damage is bit rot in durable bytes
	// (reported) and which is an unsynced tail (cut). truncEpoch is bumped
	// by TruncateFrom, so that an fsync that started before a cut does not
	// move the point past it.
	rpPos      int64
	rpNext     uint64
	rpDirty    bool
	truncEpoch uint64

	// damaged lists the runs of records recovery found unreadable.
	damaged []*CorruptError

	syncer *syncer // only for a standalone writable segment under SyncInterval or SyncAlways
}

// BaseOffset returns the offset of the segment's first record.
func (s *Segment) BaseOffset() uint64 { return s.base }

// NextOffset returns the offset the next appended record will get.
func (s *Segment) NextOffset() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.next
}

// Len returns the number of records held.
func (s *Segment) Len() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.next - s.base
}

// Size returns the store size in bytes, buffered frames included.
func (s *Segment) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size
}

// IsFull reports whether the store or the index has reached its maximum.
func (s *Segment) IsFull() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.isFullLocked()
}

func (s *Segment) isFullLocked() bool {
	return uint64(s.size) >= s.cfg.MaxStoreBytes || s.idx.n >= s.indexCapacityLocked()
}

func (s *Segment) indexCapacityLocked() uint64 {
	if s.idx.writable {
		return s.idx.capacity
	}
	return s.cfg.MaxIndexBytes / IndexEntryBytes
}

// IsSealed reports whether the segment is read-only.
func (s *Segment) IsSealed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sealed
}

// Path returns the path of the store file, as named in a CorruptError.
func (s *Segment) Path() string { return s.storePath }

// LastAppendTime returns the timestamp of the newest record, or the store
// file's modification time when the segment is empty. Age retention uses it.
func (s *Segment) LastAppendTime() time.Time {
	s.mu.RLock()
	ts := s.lastTS
	s.mu.RUnlock()
	if ts != 0 {
		return time.Unix(0, ts)
	}
	if st, err := s.cfg.FS.Stat(s.storePath); err == nil {
		return st.ModTime()
	}
	return time.Time{}
}

// Seal writes and fsyncs the segment, trims its index to its real length
// and makes it read-only. Log seals a segment before rolling over, so a
// sealed segment is always complete on disk before the next one exists.
func (s *Segment) Seal() error {
	s.stopSyncer()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.sealed {
		return nil
	}
	if err := s.flushLocked(); err != nil {
		return err
	}
	if err := s.store.Sync(); err != nil {
		s.werr = fmt.Errorf("segmentstore: fsync %s: %w", s.storePath, err)
		return s.werr
	}
	if err := s.idx.seal(); err != nil {
		s.werr = err
		return err
	}
	s.sealed = true
	return nil
}

func (s *Segment) stopSyncer() {
	if s.syncer != nil {
		s.syncer.stop()
	}
}

// Close writes and fsyncs buffered frames, truncates the index to its real
// length (the mark of a clean close) and closes the files. It is idempotent;
// later calls return nil.
func (s *Segment) Close() error {
	s.stopSyncer()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

func (s *Segment) closeLocked() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.flushLocked()
	if err == nil {
		if serr := s.store.Sync(); serr != nil {
			err = fmt.Errorf("segmentstore: fsync %s: %w", s.storePath, serr)
		}
	}
	// A failed write leaves the files inconsistent with memory: keep the
	// index preallocated so the next open recovers from the store.
	if err == nil && s.werr == nil {
		err = s.idx.close()
	} else {
		_ = s.idx.unmap()
		_ = s.idx.f.Close()
	}
	if cerr := s.store.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("segmentstore: close %s: %w", s.storePath, cerr)
	}
	s.buf = nil
	return err
}

// Remove closes the segment and deletes its files. A close error is not
// reported: the data it concerns is being deleted.
func (s *Segment) Remove() error {
	_ = s.Close()
	if err := s.cfg.FS.Remove(s.storePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("segmentstore: remove: %w", err)
	}
	if err := s.cfg.FS.Remove(s.indexPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("segmentstore: remove: %w", err)
	}
	return nil
}
