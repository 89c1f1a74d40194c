package segmentstore

import (
	"fmt"
	"time"
)

// Append writes recs as one all-or-nothing batch and returns the offset
// given to the first; the others follow densely. Offsets in recs are
// ignored, and a zero Timestamp becomes time.Now(). It returns
// ErrSegmentFull, writing nothing, when the batch does not fit and the
// segment is not empty; an empty segment takes any batch its index can
// hold, even past MaxStoreBytes. Under SyncAlways it returns after fsync.
func (s *Segment) Append(recs []Record) (first uint64, err error) {
	first, _, err = s.append(recs, false)
	return first, err
}

// append is Append; with partial it writes the longest prefix of recs that
// fits (at least one record unless the segment is full) and returns how
// many it wrote. Log uses it to spread a batch over segments.
func (s *Segment) append(recs []Record, partial bool) (first uint64, written int, err error) {
	for i := range recs {
		if len(recs[i].Value) > int(s.cfg.MaxRecordBytes) {
			return 0, 0, fmt.Errorf("%w: record %d has %d bytes, limit %d",
				ErrRecordTooLarge, i, len(recs[i].Value), s.cfg.MaxRecordBytes)
		}
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return 0, 0, ErrClosed
	case s.sealed:
		s.mu.Unlock()
		return 0, 0, ErrSealed
	case s.werr != nil:
		s.mu.Unlock()
		return 0, 0, s.werr
	}
	first = s.next
	if len(recs) == 0 {
		s.mu.Unlock()
		return first, 0, nil
	}
	k := s.fitLocked(recs, partial)
	if k == 0 || (k < len(recs) && !partial) {
		s.mu.Unlock()
		return 0, 0, ErrSegmentFull
	}
	recs = recs[:k]

	var now int64
	start := len(s.buf)
	prevSize, prevTS := s.size, s.lastTS
	pos := s.size
	for i := range recs {
		r := &recs[i]
		ts := r.Timestamp
		if ts == 0 {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			ts = now
		}
		s.idx.put(s.idx.n+uint64(i), pos)
		n := len(s.buf)
		s.buf = appendFrame(s.buf, first+uint64(i), r.Term, ts, r.Value)
		pos += int64(len(s.buf) - n)
		s.lastTS = ts
	}
	s.idx.n += uint64(k)
	s.next += uint64(k)
	s.size = pos

	if len(s.buf) >= int(s.cfg.WriteBufferBytes) || s.cfg.Sync == SyncAlways {
		if err := s.flushLocked(); err != nil {
			// Undo this batch in memory; flushLocked cut the file back.
			s.buf = s.buf[:start]
			s.idx.n -= uint64(k)
			s.next = first
			s.size = prevSize
			s.lastTS = prevTS
			s.mu.Unlock()
			return 0, 0, err
		}
	}
	seq, at := s.writeSeq, s.syncPointLocked()
	s.countWritten(k * IndexEntryBytes)
	s.mu.Unlock()

	if s.cfg.Sync == SyncAlways {
		if err := s.fsync(seq, at); err != nil {
			return 0, 0, err
		}
	}
	return first, k, nil
}

// fitLocked returns how many leading records of recs fit into the segment.
// An empty segment takes a whole batch (Append's contract) or, for a
// partial append, at least one record, so that a record always fits
// somewhere; the index capacity is a hard limit either way.
func (s *Segment) fitLocked(recs []Record, partial bool) int {
	capacity := s.indexCapacityLocked()
	room := capacity - min(s.idx.n, capacity)
	if s.idx.n == 0 && !partial {
		return int(min(uint64(len(recs)), room))
	}
	size := uint64(s.size)
	k := 0
	for k < len(recs) && uint64(k) < room {
		fs := uint64(frameSize(len(recs[k].Value)))
		if size+fs > s.cfg.MaxStoreBytes && !(s.idx.n == 0 && k == 0) {
			break
		}
		size += fs
		k++
	}
	return k
}

// countWritten adds n bytes written to the files to Config.Written.
func (s *Segment) countWritten(n int) {
	if s.cfg.Written != nil {
		s.cfg.Written.Add(uint64(n))
	}
}

// flushLocked writes the buffered frames to the store file in one write.
// On failure it cuts the file back to the last fully written frame boundary
// and sets the sticky error.
func (s *Segment) flushLocked() error {
	if len(s.buf) == 0 {
		return nil
	}
	if _, err := s.store.WriteAt(s.buf, s.flushed); err != nil {
		terr := s.store.Truncate(s.flushed)
		if terr == nil && isNoSpace(err) {
			// The partial write is gone and the file ends where memory
			// says it does: nothing to recover, and the next write may
			// find space. Not sticky.
			return &DiskFullError{Path: s.storePath, Err: err}
		}
		s.werr = fmt.Errorf("segmentstore: write %s: %w", s.storePath, err)
		return s.werr
	}
	s.flushed += int64(len(s.buf))
	s.writeSeq++
	s.countWritten(len(s.buf))
	// Keep a buffer grown by one huge batch from pinning memory forever.
	if cap(s.buf) > 4*int(s.cfg.WriteBufferBytes) {
		s.buf = nil
	} else {
		s.buf = s.buf[:0]
	}
	return nil
}

// TruncateFrom removes every record with offset >= off (all of them when
// off <= BaseOffset) and fsyncs the cut, so that removed records cannot
// come back after a crash. A sealed segment becomes writable again.
func (s *Segment) TruncateFrom(off uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if off >= s.next {
		return nil
	}
	if s.werr != nil {
		// A segment that failed a write (a seal cut short by a full disk or
		// a power loss may have left its index unmapped) is not touched
		// again until it is reopened, which recovers it from its files.
		return s.werr
	}
	off = max(off, s.base)
	i := off - s.base
	if uint64(len(s.idx.mm)) < (i+1)*IndexEntryBytes {
		s.werr = fmt.Errorf("segmentstore: truncate %s at offset %d: the index is not mapped", s.storePath, off)
		return s.werr
	}
	pos := s.idx.pos(i)
	if pos >= s.flushed {
		s.buf = s.buf[:pos-s.flushed]
	} else {
		s.buf = s.buf[:0]
		if err := s.store.Truncate(pos); err != nil {
			s.werr = fmt.Errorf("segmentstore: truncate %s: %w", s.storePath, err)
			return s.werr
		}
		s.flushed = pos
	}
	s.size = pos
	s.next = off
	if s.sealed {
		s.idx.n = i
		if err := s.idx.mapWritable(s.cfg.MaxIndexBytes / IndexEntryBytes); err != nil {
			s.werr = err
			return err
		}
		s.sealed = false
	} else {
		clear(s.idx.mm[i*IndexEntryBytes : s.idx.n*IndexEntryBytes])
		s.idx.n = i
	}
	s.lastTS = 0
	if i > 0 {
		b := make([]byte, pos-s.idx.pos(i-1))
		if err := s.readAtLocked(b, s.idx.pos(i-1)); err == nil {
			if r, ferr := decodeFrame(b); ferr == nil {
				s.lastTS = r.Timestamp
			}
		}
	}
	if err := s.store.Sync(); err != nil {
		s.werr = fmt.Errorf("segmentstore: fsync %s: %w", s.storePath, err)
		return s.werr
	}
	// The recovery point comes down to the cut, durably: frames appended
	// later below a stale point would be taken for durable ones.
	// The fsync above covered every written frame.
	s.truncEpoch++
	if len(s.buf) == 0 {
		s.rpPos, s.rpNext = s.flushed, s.next
	} else {
		s.rpPos, s.rpNext = min(s.rpPos, s.flushed), min(s.rpNext, off)
	}
	s.rpDirty = false
	s.idx.setRecoveryPoint(s.rpPos, uint32(s.rpNext-s.base))
	if err := s.idx.f.Sync(); err != nil {
		s.werr = fmt.Errorf("segmentstore: fsync %s: %w", s.indexPath, err)
		return s.werr
	}
	return nil
}
