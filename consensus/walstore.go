package consensus

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/internal/logbridge"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
)

// walRotationTimeout bounds how long DeleteRange waits for raft-wal to
// finish rolling over to a new segment file; rotation is one small bbolt
// transaction and one file creation, so this only trips on a stuck disk.
const walRotationTimeout = 30 * time.Second

// walStore is the raft log and stable store on hashicorp/raft-wal v0.4.0,
// with four defects of that release worked around (each is pinned by the
// conformance spec):
//
//   - Close leaves the bbolt metadata file open and locked, so reopening
//     the directory in the same process waited forever. walStore passes
//     its own metadata store and closes it.
//   - DeleteRange does not wait for a segment rotation that the previous
//     StoreLogs started in the background. The rotation then seals the
//     freshly truncated tail and starts a segment at index 1, and every
//     later append fails ("non-monotonic append"), even after a restart.
//     walStore notices the seal and makes DeleteRange wait for the
//     rotation to finish.
//   - GetLog still returns entries below FirstIndex after a prefix delete
//     inside a segment (and above LastIndex after a suffix delete in a
//     sealed one). walStore checks the bounds, so a deleted entry is
//     raft.ErrLogNotFound as raft expects.
//   - A GetLog that races a DeleteRange can read a segment file that the
//     delete has just closed ("file already closed"): a reader loads the
//     state and takes its reference in two steps, and the writer's release
//     in between runs the finalizer. walStore turns that error into
//     raft.ErrLogNotFound when the entry is indeed gone by then.
type walStore struct {
	w     *wal.WAL
	meta  *metadb.BoltMetaDB
	filer *rotationTracker

	written *atomic.Uint64 // StoreConfig.Written

	closeOnce sync.Once
	closeErr  error
}

var (
	_ raft.LogStore          = (*walStore)(nil)
	_ raft.StableStore       = (*walStore)(nil)
	_ raft.MonotonicLogStore = (*walStore)(nil)
)

// openWAL opens (or creates) a raft-wal log and stable store in dir. Every
// StoreLogs is one write and one fsync. The caller closes it.
func openWAL(dir string, cfg StoreConfig) (*walStore, error) {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("consensus: create %s: %w", dir, err)
	}
	meta := &metadb.BoltMetaDB{}
	filer := &rotationTracker{SegmentFiler: segment.NewFiler(dir, fs.New())}
	w, err := wal.Open(dir,
		wal.WithLogger(logbridge.NewHCLogger(cfg.Logger, "raft-wal")),
		wal.WithSegmentSize(cfg.SegmentBytes),
		wal.WithMetaStore(meta),
		wal.WithSegmentFiler(filer),
	)
	if err != nil {
		_ = meta.Close()
		return nil, fmt.Errorf("consensus: open raft-wal in %s: %w", dir, err)
	}
	return &walStore{w: w, meta: meta, filer: filer, written: cfg.Written}, nil
}

// FirstIndex returns the first index held, 0 for an empty log.
func (s *walStore) FirstIndex() (uint64, error) { return s.w.FirstIndex() }

// LastIndex returns the last index held, 0 for an empty log.
func (s *walStore) LastIndex() (uint64, error) { return s.w.LastIndex() }

// GetLog reads entry index into out, or returns raft.ErrLogNotFound when
// index is outside [FirstIndex, LastIndex].
func (s *walStore) GetLog(index uint64, out *raft.Log) error {
	first, err := s.w.FirstIndex()
	if err != nil {
		return err
	}
	last, err := s.w.LastIndex()
	if err != nil {
		return err
	}
	if first == 0 || index < first || index > last {
		return raft.ErrLogNotFound
	}
	err = s.w.GetLog(index, out)
	if err != nil && !errors.Is(err, raft.ErrLogNotFound) {
		// A read that races a truncation can find its segment file
		// already closed (see walStore). If the entry is gone now, that
		// is what the caller must hear.
		if first, ferr := s.w.FirstIndex(); ferr == nil && (first == 0 || index < first) {
			return raft.ErrLogNotFound
		}
		if last, lerr := s.w.LastIndex(); lerr == nil && index > last {
			return raft.ErrLogNotFound
		}
	}
	return err
}

// StoreLog stores one entry durably.
func (s *walStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs appends entries that continue the log exactly and fsyncs them
// before returning. An empty log accepts any starting index.
func (s *walStore) StoreLogs(logs []*raft.Log) error {
	if err := s.w.StoreLogs(logs); err != nil {
		return err
	}
	if s.written != nil {
		var n uint64
		for _, l := range logs {
			n += walFrameBytes(l)
		}
		s.written.Add(n)
	}
	return nil
}

// walFrameBytes is what raft-wal v0.4.0 writes for one entry: its binary
// codec's fixed fields (index, term, type, append time: 8 bytes each at
// most) and length-prefixed data and extensions, in a frame with an 8-byte
// header, padded to 8 bytes.
func walFrameBytes(l *raft.Log) uint64 {
	n := uint64(4*8+2*8+len(l.Data)+len(l.Extensions)) + 8
	return (n + 7) &^ 7
}

// DeleteRange deletes entries min..max inclusive: a prefix or a suffix of
// the log. It first waits for a pending segment rotation (see walStore).
func (s *walStore) DeleteRange(min, max uint64) error {
	if err := s.filer.awaitRotation(walRotationTimeout); err != nil {
		return err
	}
	return s.w.DeleteRange(min, max)
}

// IsMonotonic tells raft that the log cannot hold gaps.
func (s *walStore) IsMonotonic() bool { return true }

// Set stores val under key durably.
func (s *walStore) Set(key, val []byte) error { return s.w.Set(key, val) }

// Get returns the value under key, nil when unset.
func (s *walStore) Get(key []byte) ([]byte, error) { return s.w.Get(key) }

// SetUint64 stores val under key durably.
func (s *walStore) SetUint64(key []byte, val uint64) error { return s.w.SetUint64(key, val) }

// GetUint64 returns the value SetUint64 stored under key, 0 when unset.
func (s *walStore) GetUint64(key []byte) (uint64, error) { return s.w.GetUint64(key) }

// Close closes the log, then the metadata database. It is idempotent.
// Stop raft first: raft-wal's metadata store is not safe to close under
// concurrent stable store calls.
func (s *walStore) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.w.Close(), s.meta.Close())
	})
	return s.closeErr
}

// rotationTracker wraps raft-wal's segment filer to learn when a segment
// rotation is pending: StoreLogs asks the tail writer Sealed() after every
// append and, when it is, rotates in the background, which ends by creating
// the next segment file.
type rotationTracker struct {
	types.SegmentFiler

	mu      sync.Mutex
	pending chan struct{} // non-nil from a seal until the next Create
}

func (t *rotationTracker) Create(info types.SegmentInfo) (types.SegmentWriter, error) {
	sw, err := t.SegmentFiler.Create(info)
	t.mu.Lock()
	if t.pending != nil {
		close(t.pending)
		t.pending = nil
	}
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &sealWatcher{SegmentWriter: sw, t: t}, nil
}

func (t *rotationTracker) RecoverTail(info types.SegmentInfo) (types.SegmentWriter, error) {
	sw, err := t.SegmentFiler.RecoverTail(info)
	if err != nil {
		return nil, err
	}
	return &sealWatcher{SegmentWriter: sw, t: t}, nil
}

func (t *rotationTracker) sealed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = make(chan struct{})
	}
}

// awaitRotation returns once no rotation is pending.
func (t *rotationTracker) awaitRotation(timeout time.Duration) error {
	t.mu.Lock()
	ch := t.pending
	t.mu.Unlock()
	if ch == nil {
		return nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ch:
		return nil
	case <-timer.C:
		return fmt.Errorf("consensus: raft-wal segment rotation did not finish within %s", timeout)
	}
}

type sealWatcher struct {
	types.SegmentWriter
	t *rotationTracker
}

func (s *sealWatcher) Sealed() (bool, uint64, error) {
	sealed, indexStart, err := s.SegmentWriter.Sealed()
	if sealed && err == nil {
		s.t.sealed()
	}
	return sealed, indexStart, err
}
