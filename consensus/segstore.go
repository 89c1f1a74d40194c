package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"actorlog/messages"
	"actorlog/segmentstore"

	"github.com/hashicorp/raft"
)

// SegmentLogStore is a raft.LogStore on the project's segmentstore: raft
// entry i is the record at offset i, so reads are a direct index lookup and
// no translation table is needed.
//
// segmentstore can only drop whole sealed segments from the front, but raft
// expects FirstIndex to move exactly to where it compacted. The store
// therefore keeps a logical first index in a small metadata file beside the
// segments (written by temp file, fsync, rename): records below it may
// still be on disk but are never served. A suffix delete maps to
// TruncateSuffix, which is exact.
//
// Every StoreLogs is one segmentstore Append. Under LogSyncAlways it is
// fsynced before it returns, and a batch costs one fsync; under the
// relaxed policies it is written to the operating system (Flush) before it
// returns, and fsynced by segmentstore's own interval goroutine or not at
// all.
//
// Locking: writeMu serialises the writers (StoreLogs, DeleteRange, Close).
// mu guards the fields below it; readers hold it shared, and writers take
// it exclusively only to change a field, never across an append's fsync,
// so GetLog (a follower catching up) does not wait for the disk. Order:
// writeMu, then mu, then segmentstore's own locks (its Log is safe for
// concurrent reads and writes).
type SegmentLogStore struct {
	dir      string
	metaPath string
	cfg      segmentstore.Config

	writeMu sync.Mutex
	scratch []byte                // StoreLogs' encoding buffer; guarded by writeMu
	recs    []segmentstore.Record // StoreLogs' records; guarded by writeMu

	// keepFrom is the lowest entry the record log still refers to (data
	// format 2, see RetainFrom): a prefix delete drops no segment at or
	// above it. Guarded by writeMu.
	keepFrom uint64

	mu     sync.RWMutex
	log    *segmentstore.Log // replaced only by resetLocked
	first  uint64            // logical first index; the log is empty when first >= next
	closed bool
}

var (
	_ raft.LogStore          = (*SegmentLogStore)(nil)
	_ raft.MonotonicLogStore = (*SegmentLogStore)(nil)
)

// maxScratchBytes is the largest StoreLogs encoding buffer kept for the
// next call: a few group commits of large produce batches.
const maxScratchBytes = 8 << 20

// The metadata file: magic, version, first index (big-endian), CRC-32C.
const (
	segMetaMagic   = "ALLM"
	segMetaVersion = 1
	segMetaSize    = len(segMetaMagic) + 1 + 8 + 4
)

// openSegmentLogStore opens (or creates) a segmentstore-backed raft log in
// dir, recovering what a crash left there. Its metadata file is dir+".meta".
func openSegmentLogStore(dir string, cfg StoreConfig) (*SegmentLogStore, error) {
	cfg = cfg.withDefaults()
	sc := segmentstore.DefaultConfig()
	sc.MaxStoreBytes = uint64(cfg.SegmentBytes)
	sc.MaxRecordBytes = cfg.MaxEntryBytes
	switch cfg.Sync {
	case LogSyncInterval:
		sc.Sync, sc.SyncInterval = segmentstore.SyncInterval, cfg.SyncInterval
	case LogSyncNone:
		sc.Sync = segmentstore.SyncNone
	default:
		sc.Sync = segmentstore.SyncAlways
	}
	// Raft's first index is 1; an empty log that starts elsewhere (after a
	// snapshot restore) is recreated at the right offset by StoreLogs.
	sc.InitialOffset = 1
	sc.FS = cfg.FS
	sc.Written = cfg.Written
	s := &SegmentLogStore{dir: dir, metaPath: dir + ".meta", cfg: sc, keepFrom: math.MaxUint64}
	if cfg.KeepRecords {
		// Nothing is known yet of what the record log refers to: keep
		// every entry until the node says (RetainFrom).
		s.keepFrom = 0
	}

	if err := fsOr(sc.FS).MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("consensus: create %s: %w", filepath.Dir(dir), err)
	}
	if err := removeStaleTempFS(sc.FS, s.metaPath); err != nil {
		return nil, err
	}
	l, err := segmentstore.Open(dir, sc)
	if err != nil {
		return nil, fmt.Errorf("consensus: open segment log %s: %w", dir, err)
	}
	s.log = l
	metaFirst, err := s.readMeta()
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	s.first = max(metaFirst, l.LowestOffset())
	if next := l.NextOffset(); s.first > next {
		// A crash while the log was being emptied or recreated: every
		// entry at or above the recorded first index is gone, so the
		// log is empty and continues at next.
		s.first = next
	}
	return s, nil
}

func (s *SegmentLogStore) readMeta() (uint64, error) {
	data, err := os.ReadFile(s.metaPath)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("consensus: read %s: %w", s.metaPath, err)
	}
	if len(data) != segMetaSize || string(data[:4]) != segMetaMagic || data[4] != segMetaVersion ||
		crc32.Checksum(data[:segMetaSize-4], castagnoli) != binary.BigEndian.Uint32(data[segMetaSize-4:]) {
		return 0, fmt.Errorf("%w: log metadata %s", ErrCorrupt, s.metaPath)
	}
	return binary.BigEndian.Uint64(data[5:13]), nil
}

// writeMetaLocked persists first; the caller holds writeMu.
func (s *SegmentLogStore) writeMetaLocked(first uint64) error {
	b := make([]byte, 0, segMetaSize)
	b = append(b, segMetaMagic...)
	b = append(b, segMetaVersion)
	b = binary.BigEndian.AppendUint64(b, first)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return writeFileAtomicFS(s.cfg.FS, s.metaPath, b)
}

// boundsLocked returns the logical [first, next) range, empty when
// first >= next. The caller holds mu (shared) or writeMu.
func (s *SegmentLogStore) boundsLocked() (first, next uint64) {
	return s.first, s.log.NextOffset()
}

// FirstIndex returns the first index held, 0 for an empty log.
func (s *SegmentLogStore) FirstIndex() (uint64, error) {
	first, _, err := s.held()
	return first, err
}

// LastIndex returns the last index held, 0 for an empty log.
func (s *SegmentLogStore) LastIndex() (uint64, error) {
	_, last, err := s.held()
	return last, err
}

// held returns the first and last index held, both 0 for an empty log (as
// raft's LogStore contract wants).
func (s *SegmentLogStore) held() (first, last uint64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	first, next := s.boundsLocked()
	if first >= next {
		return 0, 0, nil
	}
	return first, next - 1, nil
}

// GetLog reads entry index into out, or returns raft.ErrLogNotFound.
func (s *SegmentLogStore) GetLog(index uint64, out *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	first, next := s.boundsLocked()
	if index < first || index >= next {
		return raft.ErrLogNotFound
	}
	rec, err := s.log.Read(index)
	if errors.Is(err, segmentstore.ErrOffsetOutOfRange) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("consensus: read raft entry %d: %w", index, err)
	}
	if rec.Offset != index {
		return fmt.Errorf("%w: raft entry %d read back as offset %d", ErrCorrupt, index, rec.Offset)
	}
	return decodeEntryValue(index, rec.Term, rec.Timestamp, rec.Value, out)
}

// StoreLog stores one entry durably.
func (s *SegmentLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs appends entries that continue the log exactly and, before it
// returns, makes them as durable as StoreConfig.Sync says (fsynced by
// default). An empty log accepts any starting index.
func (s *SegmentLogStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	for i := 1; i < len(logs); i++ {
		if logs[i].Index != logs[i-1].Index+1 {
			return fmt.Errorf("%w: index %d follows %d in one batch", ErrNonMonotonic, logs[i].Index, logs[i-1].Index)
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// Writers are serialised by writeMu, so the fields can be read here
	// without mu; only changing them needs it.
	if s.closed {
		return ErrClosed
	}
	first, next := s.boundsLocked()
	start := logs[0].Index
	if start != next {
		if first < next {
			return fmt.Errorf("%w: tried to append index %d after %d", ErrNonMonotonic, start, next-1)
		}
		if err := s.resetLocked(start); err != nil {
			return err
		}
	}
	// Every entry is encoded into one scratch buffer that the next call
	// reuses: segmentstore copies the values into its write buffer, and the
	// LogCache keeps raft's own entries, so nothing holds on to it. A fresh
	// buffer per entry was a fifth of the leader's allocated bytes.
	size := 0
	for _, l := range logs {
		size += entryHeaderSize + binary.MaxVarintLen64 + len(l.Data) + len(l.Extensions)
	}
	buf := s.scratch[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	recs := slices.Grow(s.recs[:0], len(logs))
	for _, l := range logs {
		at := len(buf)
		buf = encodeEntryValue(buf, l)
		recs = append(recs, segmentstore.Record{
			Offset:    l.Index,
			Term:      l.Term,
			Timestamp: entryTimestamp(l),
			Value:     buf[at:len(buf):len(buf)],
		})
	}
	defer func() {
		clear(recs)
		s.recs = recs[:0]
		// Keep a buffer of ordinary size only; a rare huge batch is not
		// worth holding on to.
		if cap(buf) <= maxScratchBytes {
			s.scratch = buf[:0]
		} else {
			s.scratch = nil
		}
	}()
	got, err := s.log.Append(recs...)
	if err != nil {
		return fmt.Errorf("consensus: append raft entries %d..%d: %w", start, logs[len(logs)-1].Index, err)
	}
	if s.cfg.Sync != segmentstore.SyncAlways && hasConfiguration(logs) {
		// A membership change is fsynced whatever the policy: a node whose
		// power loss took its configuration entries (the bootstrap one
		// above all) knows no voters, so it can never elect a leader again.
		// They are rare, so this costs nothing that matters.
		if err := s.log.Sync(); err != nil {
			_ = s.log.TruncateSuffix(start)
			return fmt.Errorf("consensus: sync raft entries %d..%d: %w", start, logs[len(logs)-1].Index, err)
		}
	} else if s.cfg.Sync != segmentstore.SyncAlways {
		// Raft acts on a stored entry at once (counts it towards a commit,
		// applies it): it must at least outlive this process.
		if err := s.log.Flush(); err != nil {
			// Raft takes the batch as not stored: it must not stay in the
			// write buffer to be written later (a full disk is not sticky).
			_ = s.log.TruncateSuffix(start)
			return fmt.Errorf("consensus: write raft entries %d..%d: %w", start, logs[len(logs)-1].Index, err)
		}
	}
	if got != start {
		return fmt.Errorf("%w: raft entry %d was stored at offset %d", ErrCorrupt, start, got)
	}
	return nil
}

// hasConfiguration reports whether logs holds a membership change.
func hasConfiguration(logs []*raft.Log) bool {
	for _, l := range logs {
		if l.Type == raft.LogConfiguration {
			return true
		}
	}
	return false
}

// resetLocked recreates the empty log so that it continues at index: raft
// does this after installing a snapshot, when the next entry is far past
// the old log. Each step leaves a state that Open reads back as an empty
// log (see openSegmentLogStore), so a crash anywhere here loses nothing
// that was acknowledged. The caller holds writeMu.
func (s *SegmentLogStore) resetLocked(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.log.Remove(); err != nil {
		return fmt.Errorf("consensus: remove segment log %s: %w", s.dir, err)
	}
	cfg := s.cfg
	cfg.InitialOffset = index
	l, err := segmentstore.Open(s.dir, cfg)
	if err != nil {
		// Leave the store closed rather than half-open.
		s.closed = true
		return fmt.Errorf("consensus: recreate segment log %s at %d: %w", s.dir, index, err)
	}
	s.log = l
	if err := s.writeMetaLocked(index); err != nil {
		return err
	}
	s.first = index
	return nil
}

// DeleteRange deletes entries min..max inclusive. The range must be a
// prefix or a suffix of the log (ErrUnsupportedDeleteRange otherwise);
// parts of it outside the log are ignored.
func (s *SegmentLogStore) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	first, next := s.boundsLocked()
	if first >= next || max < first || min >= next {
		return nil
	}
	last := next - 1
	switch {
	case min <= first:
		// Prefix. Record the new logical start first: once it is durable,
		// dropping the whole segments below it is only reclaiming space.
		newFirst := max + 1
		if max >= last {
			newFirst = next
		}
		if err := s.writeMetaLocked(newFirst); err != nil {
			return err
		}
		s.mu.Lock()
		s.first = newFirst
		s.mu.Unlock()
		// Entries that records still refer to stay on disk, unseen by
		// raft, until retention lets them go (RetainFrom).
		drop := newFirst
		if s.keepFrom < drop {
			drop = s.keepFrom
		}
		if err := s.log.TruncatePrefix(drop); err != nil {
			return fmt.Errorf("consensus: drop segments below %d: %w", newFirst, err)
		}
		return nil
	case max >= last:
		if err := s.log.TruncateSuffix(min); err != nil {
			return fmt.Errorf("consensus: truncate raft log from %d: %w", min, err)
		}
		return nil
	default:
		return fmt.Errorf("%w: [%d, %d] inside [%d, %d]", ErrUnsupportedDeleteRange, min, max, first, last)
	}
}

// RetainFrom says that the record log refers to no entry below index any
// more (retention deleted the records that did), so the segments wholly
// below both it and raft's first index can go. Only a store opened with
// StoreConfig.KeepRecords keeps entries for the record log; for the others
// it only drops what raft already compacted.
func (s *SegmentLogStore) RetainFrom(index uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.keepFrom != math.MaxUint64 {
		s.keepFrom = index
	}
	first, _ := s.boundsLocked()
	if err := s.log.TruncatePrefix(min(first, index)); err != nil {
		return fmt.Errorf("consensus: drop segments below %d: %w", min(first, index), err)
	}
	return nil
}

// EntryRecords returns the records of the produce entry at index, reading
// it from disk even when raft has compacted it (data format 2: the entry
// holds the values of records that refer to it). The values alias one
// fresh buffer that nothing else writes to. ErrEntryGone says the entry is
// not on disk; ErrNotProduce that it holds no produce command.
func (s *SegmentLogStore) EntryRecords(index uint64) ([]*messages.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	rec, err := s.log.Read(index)
	if errors.Is(err, segmentstore.ErrOffsetOutOfRange) {
		return nil, fmt.Errorf("%w: raft entry %d (the log holds %d..%d)", ErrEntryGone, index, s.log.LowestOffset(), s.log.NextOffset())
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: read raft entry %d: %w", index, err)
	}
	var l raft.Log
	if err := decodeEntryValue(index, rec.Term, rec.Timestamp, rec.Value, &l); err != nil {
		return nil, err
	}
	if l.Type != raft.LogCommand {
		return nil, fmt.Errorf("%w: raft entry %d is of type %s", ErrNotProduce, index, l.Type)
	}
	cmd, err := decodeCommand(l.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: raft entry %d: %w", ErrCorrupt, index, err)
	}
	p := cmd.GetProduce()
	if p == nil {
		return nil, fmt.Errorf("%w: raft entry %d", ErrNotProduce, index)
	}
	return p.GetRecords(), nil
}

// EndIndex is one past the last entry on disk, whatever raft's first
// index: no record may refer to an entry at or above it.
func (s *SegmentLogStore) EndIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.log.NextOffset()
}

// Sync makes every stored entry durable: in data format 2 the FSM calls it
// before its state file says that records refer to them.
func (s *SegmentLogStore) Sync() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("consensus: sync the raft log: %w", err)
	}
	return nil
}

// IsMonotonic tells raft that the log cannot hold gaps, so after a snapshot
// restore raft deletes the whole log before appending past it.
func (s *SegmentLogStore) IsMonotonic() bool { return true }

// Close closes the segments. It is idempotent.
func (s *SegmentLogStore) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.log.Close(); err != nil {
		return fmt.Errorf("consensus: close segment log: %w", err)
	}
	return nil
}
