package segmentstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Log is an ordered sequence of segments in one directory: the last is
// active (appended to), the others are sealed (read-only). Offsets are dense
// across segments. A Log is safe for many concurrent readers and writers;
// writers are serialised.
//
// Lock order: writeMu, then mu, then a segment's own lock. writeMu
// serialises everything that changes the log (append, roll-over,
// truncation, retention, restore, close). mu guards the segment list:
// readers hold it shared for the length of a read, so a segment cannot be
// removed under them, and writers take it exclusively only to change the
// list.
type Log struct {
	dir string
	cfg Config

	writeMu sync.Mutex
	mu      sync.RWMutex
	segs    []*Segment // sorted by base offset, contiguous; never empty while open
	closed  bool

	lock   *DirLock
	syncer *syncer
	// dirDirty is set when a segment file was created or removed without a
	// directory fsync (SyncNone): Sync and Close then fsync the directory,
	// or the records they make durable could sit in a file whose name a
	// power loss takes away.
	dirDirty atomic.Bool
}

// SegmentInfo describes one segment, for metrics and operators.
type SegmentInfo struct {
	BaseOffset uint64
	NextOffset uint64
	Size       int64 // store bytes
	Sealed     bool
	Path       string // store file
}

// Open opens the log in dir, creating dir and a first segment at
// c.InitialOffset when it holds none, and recovering every segment that was
// not closed cleanly (see the package documentation). It fails with
// ErrLocked when another Log holds dir, and with a *CorruptError when
// recovered segments leave a gap in the offsets.
func Open(dir string, c Config) (*Log, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	if err := c.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("segmentstore: create %s: %w", dir, err)
	}
	lk, err := LockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, cfg: c, lock: lk}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			_ = s.Close()
		}
		_ = lk.Unlock()
		return nil, err
	}
	switch c.Sync {
	case SyncInterval:
		l.syncer = startSyncer(c.SyncInterval, func() { _ = l.syncActive() })
	case SyncAlways:
		// Appends fsync themselves; the goroutine only makes the recovery
		// point durable (see Segment.persistRecoveryPoint).
		l.syncer = startSyncer(c.SyncInterval, l.persistRecoveryPoint)
	}
	return l, nil
}

// load opens the segments found in the directory, oldest first.
func (l *Log) load() error {
	bases, err := listSegments(l.cfg.FS, l.dir)
	if err != nil {
		return err
	}
	for i, base := range bases {
		o := segmentOptions{writable: i == len(bases)-1}
		if !o.writable {
			o.hasExpect, o.expectNext = true, bases[i+1]
		}
		s, err := openSegment(l.dir, base, l.cfg, o)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
	}
	for i := 0; i+1 < len(l.segs); i++ {
		cur, nxt := l.segs[i], l.segs[i+1]
		if cur.NextOffset() != nxt.BaseOffset() {
			return &CorruptError{
				Segment:  cur.Path(),
				Offset:   min(cur.NextOffset(), nxt.BaseOffset()),
				Position: cur.Size(),
				Reason: fmt.Sprintf("segment ends at offset %d but the next segment starts at %d",
					cur.NextOffset(), nxt.BaseOffset()),
			}
		}
	}
	if len(l.segs) == 0 {
		return l.newSegmentLocked(l.cfg.InitialOffset)
	}
	return nil
}

// newSegmentLocked creates an active segment at base and appends it to the
// list. The caller holds writeMu (or is Open).
func (l *Log) newSegmentLocked(base uint64) error {
	s, err := openSegment(l.dir, base, l.cfg, segmentOptions{writable: true})
	if err != nil {
		return err
	}
	if l.cfg.Sync != SyncNone {
		// Make the new files' directory entries durable, so a synced
		// record can never sit in a file that a crash makes disappear.
		if err := syncDir(l.cfg.FS, l.dir); err != nil {
			_ = s.Remove()
			return err
		}
	} else {
		l.dirDirty.Store(true)
	}
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	return nil
}

func syncDir(fsys FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("segmentstore: sync dir %s: %w", dir, err)
	}
	return nil
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the log's configuration with defaults filled in.
func (l *Log) Config() Config { return l.cfg }

// active returns the last segment; the caller holds writeMu or mu.
func (l *Log) active() *Segment { return l.segs[len(l.segs)-1] }

// Append writes recs and returns the offset of the first; the others follow
// densely. Offsets in recs are ignored and a zero Timestamp becomes
// time.Now(). The batch rolls over to new segments as needed. It is
// all-or-nothing: an oversized record rejects the whole batch before
// anything is written, and a failure part-way removes what was written.
// Under SyncAlways it returns after fsync.
func (l *Log) Append(recs ...Record) (first uint64, err error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.appendLocked(recs)
}

func (l *Log) appendLocked(recs []Record) (first uint64, err error) {
	for i := range recs {
		if len(recs[i].Value) > int(l.cfg.MaxRecordBytes) {
			return 0, fmt.Errorf("%w: record %d has %d bytes, limit %d",
				ErrRecordTooLarge, i, len(recs[i].Value), l.cfg.MaxRecordBytes)
		}
	}
	if l.active().IsSealed() {
		// A roll-over sealed the active segment but could not create the
		// next one (a full disk): create it now.
		if err := l.newSegmentLocked(l.active().NextOffset()); err != nil {
			return 0, err
		}
	}
	first = l.active().NextOffset()
	rest := recs
	for len(rest) > 0 {
		_, n, err := l.active().append(rest, true)
		if errors.Is(err, ErrSegmentFull) || (err == nil && n == 0) {
			if err := l.rollLocked(); err != nil {
				l.undoLocked(first)
				return 0, err
			}
			continue
		}
		if err != nil {
			l.undoLocked(first)
			return 0, err
		}
		rest = rest[n:]
	}
	return first, nil
}

// undoLocked makes a failed batch all-or-nothing, best effort: a segment
// with a sticky write error keeps it until reopened.
func (l *Log) undoLocked(first uint64) {
	if l.active().NextOffset() > first {
		_ = l.truncateSuffixLocked(first)
	}
}

// rollLocked seals the active segment and starts a new one after it.
func (l *Log) rollLocked() error {
	act := l.active()
	if err := act.Seal(); err != nil {
		return err
	}
	if err := l.newSegmentLocked(act.NextOffset()); err != nil {
		return err
	}
	if l.cfg.RetentionBytes > 0 || l.cfg.RetentionAge > 0 {
		_, err := l.applyRetentionLocked(time.Now())
		return err
	}
	return nil
}

// segmentForLocked returns the segment holding off, or an
// *OffsetOutOfRangeError. The caller holds mu.
func (l *Log) segmentForLocked(off uint64) (*Segment, int, error) {
	low, next := l.segs[0].BaseOffset(), l.active().NextOffset()
	if off < low || off >= next {
		return nil, 0, &OffsetOutOfRangeError{Offset: off, Low: low, Next: next}
	}
	i := SegmentHolding(l.segs, (*Segment).BaseOffset, off)
	return l.segs[i], i, nil
}

// Read returns the record at off: an *OffsetOutOfRangeError outside
// [LowestOffset, NextOffset), a *CorruptError for a damaged frame.
func (l *Log) Read(off uint64) (Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Record{}, ErrClosed
	}
	s, _, err := l.segmentForLocked(off)
	if err != nil {
		return Record{}, err
	}
	return s.Read(off)
}

// ReadRange returns up to maxRecords records from off whose values total at
// most maxBytes, crossing segments; always at least one when off exists.
// maxRecords or maxBytes <= 0 means no limit. See Segment.ReadRange for
// damaged records.
func (l *Log) ReadRange(off uint64, maxRecords, maxBytes int) ([]Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	_, i, err := l.segmentForLocked(off)
	if err != nil {
		return nil, err
	}
	var out []Record
	total := 0
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		if off >= s.NextOffset() {
			continue
		}
		mr, mb := 0, 0
		if maxRecords > 0 {
			mr = maxRecords - len(out)
		}
		if maxBytes > 0 {
			mb = maxBytes - total
		}
		recs, err := s.ReadRange(off, mr, mb)
		if err != nil {
			if len(out) > 0 {
				return out, nil // the next read starting at off reports it
			}
			return nil, err
		}
		// A record past maxBytes is only allowed as the first of the reply.
		for _, r := range recs {
			if len(out) > 0 && maxBytes > 0 && total+len(r.Value) > maxBytes {
				return out, nil
			}
			out = append(out, r)
			total += len(r.Value)
			off = r.Offset + 1
		}
		if (maxRecords > 0 && len(out) >= maxRecords) || (maxBytes > 0 && total >= maxBytes) ||
			off < s.NextOffset() {
			break
		}
	}
	return out, nil
}

// LowestOffset returns the offset of the oldest record held (equal to
// NextOffset when the log is empty).
func (l *Log) LowestOffset() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		return 0
	}
	return l.segs[0].BaseOffset()
}

// NextOffset returns one past the highest offset: the offset the next
// appended record will get.
func (l *Log) NextOffset() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		return 0
	}
	return l.active().NextOffset()
}

// HighestOffset returns the offset of the newest record, and false when
// the log is empty.
func (l *Log) HighestOffset() (uint64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		return 0, false
	}
	low, next := l.segs[0].BaseOffset(), l.active().NextOffset()
	if next == low {
		return 0, false
	}
	return next - 1, true
}

// Segments describes every segment, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, 0, len(l.segs))
	for _, s := range l.segs {
		out = append(out, SegmentInfo{
			BaseOffset: s.BaseOffset(),
			NextOffset: s.NextOffset(),
			Size:       s.Size(),
			Sealed:     s.IsSealed(),
			Path:       s.Path(),
		})
	}
	return out
}

// TruncatePrefix deletes whole sealed segments whose records are all below
// before. The active segment is never deleted, so records may remain below
// before; LowestOffset tells where the log now starts.
func (l *Log) TruncatePrefix(before uint64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].NextOffset() <= before {
		n++
	}
	return l.removeFrontLocked(n)
}

// removeFrontLocked deletes the first n segments.
func (l *Log) removeFrontLocked(n int) error {
	if n == 0 {
		return nil
	}
	l.mu.Lock()
	gone := cloneSegments(l.segs[:n])
	l.segs = append(l.segs[:0:0], l.segs[n:]...)
	l.mu.Unlock()
	var err error
	for _, s := range gone {
		if rerr := s.Remove(); err == nil {
			err = rerr
		}
	}
	if err == nil {
		err = l.syncDirLocked()
	}
	return err
}

// syncDirLocked makes segment deletions durable, unless the policy leaves
// durability to the OS. Without it a crash could bring a deleted segment
// back: after a suffix truncation, with records the caller removed.
func (l *Log) syncDirLocked() error {
	if l.cfg.Sync == SyncNone {
		l.dirDirty.Store(true)
		return nil
	}
	return syncDir(l.cfg.FS, l.dir)
}

// syncDirIfDirty fsyncs the directory when a change to it is not durable
// yet (see dirDirty).
func (l *Log) syncDirIfDirty() error {
	if !l.dirDirty.Swap(false) {
		return nil
	}
	if err := syncDir(l.cfg.FS, l.dir); err != nil {
		l.dirDirty.Store(true)
		return err
	}
	return nil
}

func cloneSegments(s []*Segment) []*Segment { return append([]*Segment(nil), s...) }

// TruncateSuffix removes every record with offset >= from, deleting whole
// segments as needed; the segment that then holds the end becomes active.
// When from is at or below LowestOffset the log becomes empty and the next
// append gets offset from.
func (l *Log) TruncateSuffix(from uint64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.truncateSuffixLocked(from)
}

func (l *Log) truncateSuffixLocked(from uint64) error {
	if from >= l.active().NextOffset() {
		return nil
	}
	// Segments that start at or after from go entirely; the one before
	// them, if any, is cut.
	keep := SegmentFrom(l.segs, (*Segment).BaseOffset, from)
	l.mu.Lock()
	gone := cloneSegments(l.segs[keep:])
	l.segs = l.segs[:keep]
	l.mu.Unlock()
	var err error
	for i := len(gone) - 1; i >= 0; i-- {
		if rerr := gone[i].Remove(); err == nil {
			err = rerr
		}
	}
	if err == nil && len(gone) > 0 {
		// Whatever the policy: a removed segment that a power loss brings
		// back would follow the segment cut here, which then looks sealed
		// and has its unsynced new tail reported as corruption instead of
		// cut (a power-loss round under SyncNone found this).
		err = syncDir(l.cfg.FS, l.dir)
	}
	if err != nil {
		return err
	}
	if keep == 0 || l.active().NextOffset() == from {
		// Nothing to cut in the segment before: it stays sealed and
		// complete, and appends go to a fresh segment.
		return l.newSegmentLocked(from)
	}
	return l.active().TruncateFrom(from)
}

// ApplyRetention deletes sealed segments from the front while the log is
// larger than RetentionBytes, or while their newest record is older than
// RetentionAge. The active segment is never deleted. Log also applies it at
// every roll-over; call it periodically for age retention on a quiet log.
func (l *Log) ApplyRetention() (removedSegments int, err error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.applyRetentionLocked(time.Now())
}

func (l *Log) applyRetentionLocked(now time.Time) (int, error) {
	size := func(s *Segment) uint64 { return uint64(s.Size()) }
	n := RetentionCut(l.segs, size, (*Segment).LastAppendTime, l.cfg.RetentionBytes, l.cfg.RetentionAge, now)
	return n, l.removeFrontLocked(n)
}

// syncActive is the SyncInterval tick.
func (l *Log) syncActive() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || len(l.segs) == 0 {
		return nil
	}
	if err := l.active().Sync(); err != nil {
		return err
	}
	l.active().persistRecoveryPoint()
	return nil
}

// persistRecoveryPoint is the SyncAlways tick.
func (l *Log) persistRecoveryPoint() {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || len(l.segs) == 0 {
		return
	}
	l.active().persistRecoveryPoint()
}

// Damaged returns the runs of damaged records that recovery found in every
// segment when the log was opened (see Segment.Damaged).
func (l *Log) Damaged() []*CorruptError {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []*CorruptError
	for _, s := range l.segs {
		out = append(out, s.Damaged()...)
	}
	return out
}

// Flush writes the active segment's buffered frames to the operating
// system without an fsync (see Segment.Flush): the records then survive
// the death of the process, though not a power loss. Sealed segments are
// written already.
func (l *Log) Flush() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return l.active().Flush()
}

// Sync writes and fsyncs the active segment (sealed ones are already
// durable), and the directory when a segment was created since it was last
// fsynced, whatever the sync policy.
func (l *Log) Sync() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.active().Sync(); err != nil {
		return err
	}
	return l.syncDirIfDirty()
}

// Close stops the background fsync, then writes, fsyncs and closes every
// segment and releases the directory. It is idempotent and returns only
// once no goroutine of the log is left.
func (l *Log) Close() error {
	if l.syncer != nil {
		l.syncer.stop()
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	for _, s := range l.segs {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = l.syncDirIfDirty()
	}
	if uerr := l.lock.Unlock(); err == nil {
		err = uerr
	}
	return err
}

// Remove closes the log and deletes its segment files and lock file, then
// the directory if nothing else is left in it.
func (l *Log) Remove() error {
	_ = l.Close()
	l.mu.Lock()
	segs := l.segs
	l.segs = nil
	l.mu.Unlock()
	var err error
	for _, s := range segs {
		if rerr := s.Remove(); err == nil {
			err = rerr
		}
	}
	if rerr := l.cfg.FS.Remove(filepath.Join(l.dir, lockFileName)); err == nil && rerr != nil && !os.IsNotExist(rerr) {
		err = rerr
	}
	_ = l.cfg.FS.Remove(l.dir) // fails harmlessly when other files remain
	return err
}
