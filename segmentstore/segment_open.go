package segmentstore

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// OpenSegment opens the segment with the given base offset in dir, creating
// its files if they do not exist and recovering them if they were not
// closed cleanly (see the package documentation). The segment is writable.
// Under SyncInterval the segment runs its own fsync goroutine, stopped by
// Close; under SyncAlways that goroutine only makes the recovery point
// durable (see the package documentation).
func OpenSegment(dir string, baseOffset uint64, c Config) (*Segment, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s, err := openSegment(dir, baseOffset, c.withDefaults(), segmentOptions{writable: true})
	if err != nil {
		return nil, err
	}
	switch s.cfg.Sync {
	case SyncInterval:
		s.syncer = startSyncer(s.cfg.SyncInterval, func() {
			if s.Sync() == nil {
				s.persistRecoveryPoint()
			}
		})
	case SyncAlways:
		s.syncer = startSyncer(s.cfg.SyncInterval, s.persistRecoveryPoint)
	}
	return s, nil
}

// OpenSealedSegment opens an existing segment read-only, as a Log opens
// every segment but the last: the index is not preallocated, Append fails
// with ErrSealed, and no goroutine is started. It recovers the files like
// OpenSegment; a sealed segment is complete on disk, so that only rebuilds
// a missing or damaged index. TruncateFrom makes it writable again.
func OpenSealedSegment(dir string, baseOffset uint64, c Config) (*Segment, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return openSegment(dir, baseOffset, c.withDefaults(), segmentOptions{})
}

// OpenSealedSegmentRange is OpenSealedSegment for a segment known to hold
// [baseOffset, nextOffset): nextOffset is the base of the segment that
// follows it. Recovery then reports unreadable records at its end as
// corrupt (reads return a *CorruptError) instead of cutting them as a torn
// tail, exactly as Log.Open does, and a segment that still does not end at
// nextOffset fails with a *CorruptError naming where the records stop.
func OpenSealedSegmentRange(dir string, baseOffset, nextOffset uint64, c Config) (*Segment, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s, err := openSegment(dir, baseOffset, c.withDefaults(), segmentOptions{hasExpect: true, expectNext: nextOffset})
	if err != nil {
		return nil, err
	}
	if s.next != nextOffset {
		err := &CorruptError{
			Segment:  s.storePath,
			Offset:   min(s.next, nextOffset),
			Position: s.size,
			Reason:   fmt.Sprintf("segment ends at offset %d but the next segment starts at %d", s.next, nextOffset),
		}
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

type segmentOptions struct {
	writable   bool   // preallocate and map the index read-write
	hasExpect  bool   // expectNext is known (a sealed segment in a log)
	expectNext uint64 // the next segment's base offset
}

func openSegment(dir string, base uint64, c Config, o segmentOptions) (_ *Segment, err error) {
	s := &Segment{
		dir:       dir,
		base:      base,
		cfg:       c,
		storePath: filepath.Join(dir, SegmentFileName(base, storeSuffix)),
		indexPath: filepath.Join(dir, SegmentFileName(base, indexSuffix)),
	}
	// The index is created first: a segment is listed by its store file,
	// so a crash between the two creations leaves a stray index, never a
	// store whose recovery point was lost with its index.
	idxFile, err := c.FS.OpenFile(s.indexPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segmentstore: open index: %w", err)
	}
	s.idx.f = idxFile
	s.store, err = c.FS.OpenFile(s.storePath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		idxFile.Close()
		return nil, fmt.Errorf("segmentstore: open store: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.idx.unmap()
			idxFile.Close()
			s.store.Close()
		}
	}()

	st, err := s.store.Stat()
	if err != nil {
		return nil, fmt.Errorf("segmentstore: stat store: %w", err)
	}
	rawIdx, err := io.ReadAll(idxFile)
	if err != nil {
		return nil, fmt.Errorf("segmentstore: read index: %w", err)
	}
	rec, err := recoverSegment(s.store, st.Size(), rawIdx, base, recoverOptions{hasExpect: o.hasExpect, expectNext: o.expectNext})
	if err != nil {
		return nil, err
	}
	rawIdx = nil

	if rec.end < st.Size() && o.writable {
		// Cut the torn tail so that new frames follow the last valid one.
		// A read-only open never cuts: it only reads up to rec.end.
		if err := s.store.Truncate(rec.end); err != nil {
			return nil, fmt.Errorf("segmentstore: cut torn tail: %w", err)
		}
		if err := s.store.Sync(); err != nil {
			return nil, fmt.Errorf("segmentstore: sync store: %w", err)
		}
	}
	s.flushed, s.size = rec.end, rec.end
	s.next = base + rec.n
	s.lastTS = rec.lastTS
	s.idx.n = rec.n
	s.damaged = corruptRuns(s.storePath, base, rec)

	if !rec.clean {
		// A read-only open that left unreadable bytes at the end writes
		// no trailer: the next open must look at them again.
		trailer := !o.writable && rec.end == st.Size()
		if err := s.rewriteIndex(rec.positions, trailer); err != nil {
			return nil, err
		}
	}
	if !o.writable {
		s.sealed = true
		if err := s.idx.mapReadOnly(); err != nil {
			return nil, err
		}
		return s, nil
	}
	if err := s.idx.mapWritable(s.cfg.MaxIndexBytes / IndexEntryBytes); err != nil {
		return nil, err
	}
	// The recovery point carries over: what a clean index covers was
	// fsynced before its trailer was written, and a recovered index's
	// point was durable before the crash. The tail past it (which a
	// kill -9 may have left in the page cache only) becomes durable, and
	// the point moves, at the next fsync; fsyncing a whole recovered
	// segment here would make every restart pay for it.
	switch {
	case rec.clean:
		s.rpPos, s.rpNext = rec.end, s.next
	case rec.rp.ok:
		s.rpPos, s.rpNext = rec.rp.pos, rec.rp.next
	default:
		s.rpPos, s.rpNext = 0, base
	}
	s.idx.setRecoveryPoint(s.rpPos, uint32(s.rpNext-base))
	if err := s.idx.f.Sync(); err != nil {
		return nil, fmt.Errorf("segmentstore: sync index: %w", err)
	}
	return s, nil
}

// corruptRuns turns the corrupt offsets recovery found into one
// *CorruptError per run of consecutive offsets.
func corruptRuns(path string, base uint64, rec recovery) []*CorruptError {
	var out []*CorruptError
	for _, off := range rec.corrupt {
		if n := len(out); n > 0 && out[n-1].End == off {
			out[n-1].End++
			continue
		}
		out = append(out, &CorruptError{Segment: path, Offset: off, End: off + 1,
			Position: rec.positions[off-base], Reason: "damaged frame found by recovery"})
	}
	return out
}

// Damaged returns the runs of records that recovery found damaged when the
// segment was opened, one *CorruptError per run ([Offset, End)). Reading
// them returns a *CorruptError; the records around them are readable. A
// damaged record whose frame was covered by a clean index is found by
// reading it instead.
func (s *Segment) Damaged() []*CorruptError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*CorruptError, len(s.damaged))
	for i, e := range s.damaged {
		c := *e
		out[i] = &c
	}
	return out
}

// rewriteIndex replaces the index file's content with the given positions
// and fsyncs it. A sealed segment's index also gets its trailer, so that
// the next open trusts it.
func (s *Segment) rewriteIndex(positions []int64, trailer bool) error {
	b := make([]byte, len(positions)*IndexEntryBytes, (len(positions)+1)*IndexEntryBytes)
	for i, p := range positions {
		putEntry(b[i*IndexEntryBytes:], uint32(i), p)
	}
	if trailer {
		b = append(b, indexTrailer(b)...)
	}
	if err := s.idx.f.Truncate(0); err != nil {
		return fmt.Errorf("segmentstore: rebuild index: %w", err)
	}
	if _, err := s.idx.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("segmentstore: rebuild index: %w", err)
	}
	if err := s.idx.f.Sync(); err != nil {
		return fmt.Errorf("segmentstore: rebuild index: %w", err)
	}
	return nil
}
