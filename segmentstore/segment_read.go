package segmentstore

import (
	"fmt"
	"io"
)

// Read returns the record at off. A damaged frame gives a *CorruptError;
// an offset outside [BaseOffset, NextOffset) gives an
// *OffsetOutOfRangeError. The returned Value is owned by the caller.
func (s *Segment) Read(off uint64) (Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Record{}, ErrClosed
	}
	if off < s.base || off >= s.next {
		return Record{}, &OffsetOutOfRangeError{Offset: off, Low: s.base, Next: s.next}
	}
	i := off - s.base
	start := s.idx.pos(i)
	b := make([]byte, s.slotEndLocked(i)-start)
	if err := s.readAtLocked(b, start); err != nil {
		return Record{}, err
	}
	r, ferr := decodeFrame(b)
	if ferr == nil && r.Offset != off {
		ferr = frameErr("frame holds offset %d", r.Offset)
	}
	if ferr != nil {
		return Record{}, &CorruptError{Segment: s.storePath, Offset: off, Position: start, Reason: ferr.reason}
	}
	return r, nil
}

// ReadRange returns up to maxRecords records from off whose values total
// at most maxBytes, and always at least one when off exists (a value larger
// than maxBytes is still returned alone). maxRecords or maxBytes <= 0 means
// no limit. It stops before a damaged record; when the first record itself
// is damaged it returns a *CorruptError. The values share one allocation
// owned by the caller.
func (s *Segment) ReadRange(off uint64, maxRecords int, maxBytes int) ([]Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if off < s.base || off >= s.next {
		return nil, &OffsetOutOfRangeError{Offset: off, Low: s.base, Next: s.next}
	}
	i := off - s.base
	n := s.idx.n - i
	if maxRecords > 0 && uint64(maxRecords) < n {
		n = uint64(maxRecords)
	}
	start := s.idx.pos(i)
	end := s.slotEndLocked(i)
	count := uint64(1)
	total := end - start - FrameOverhead
	for count < n {
		e := s.slotEndLocked(i + count)
		if maxBytes > 0 && total+(e-end-FrameOverhead) > int64(maxBytes) {
			break
		}
		total += e - end - FrameOverhead
		end = e
		count++
	}
	b := make([]byte, end-start)
	if err := s.readAtLocked(b, start); err != nil {
		return nil, err
	}
	out := make([]Record, 0, count)
	p := int64(0)
	for j := uint64(0); j < count; j++ {
		e := s.slotEndLocked(i+j) - start
		r, ferr := decodeFrame(b[p:e])
		if ferr == nil && r.Offset != off+j {
			ferr = frameErr("frame holds offset %d", r.Offset)
		}
		if ferr != nil {
			if j > 0 {
				break // let the caller get the good records; the next read reports the damage
			}
			return nil, &CorruptError{Segment: s.storePath, Offset: off + j, Position: start + p, Reason: ferr.reason}
		}
		out = append(out, r)
		p = e
	}
	return out, nil
}

// slotEndLocked returns where the frame of entry i ends: at the next
// entry's position, or at the end of the store for the last one.
func (s *Segment) slotEndLocked(i uint64) int64 {
	if i+1 < s.idx.n {
		return s.idx.pos(i + 1)
	}
	return s.size
}

// readAtLocked fills b from the store's logical content at pos: the file
// for flushed bytes, the write buffer for the rest. Reading the buffer
// directly lets a reader see a record that is not written yet without
// forcing a small write.
func (s *Segment) readAtLocked(b []byte, pos int64) error {
	if pos+int64(len(b)) > s.size {
		return fmt.Errorf("segmentstore: read past the end of %s: %w", s.storePath, io.ErrUnexpectedEOF)
	}
	if pos < s.flushed {
		n := min(int64(len(b)), s.flushed-pos)
		if _, err := s.store.ReadAt(b[:n], pos); err != nil {
			return fmt.Errorf("segmentstore: read %s: %w", s.storePath, err)
		}
		b, pos = b[n:], pos+n
	}
	if len(b) > 0 {
		copy(b, s.buf[pos-s.flushed:])
	}
	return nil
}

// readRaw copies store bytes at pos into p, for Log.Reader.
func (s *Segment) readRaw(p []byte, pos int64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.readAtLocked(p, pos)
}
