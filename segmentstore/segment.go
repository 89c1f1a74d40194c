package segmentstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
