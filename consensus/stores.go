package consensus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/segmentstore"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// StoreKind names a raft log store implementation.
type StoreKind string

const (
	// StoreWAL is hashicorp/raft-wal: segment files plus a bbolt file for
	// segment metadata and the stable store, one fsync per StoreLogs.
	StoreWAL StoreKind = "wal"
	// StoreSegmentstore is this project's segmentstore: one record per raft
	// entry, with a small metadata file for the logical first index and a
	// fileStableStore beside it.
	StoreSegmentstore StoreKind = "segmentstore"
)

// LogSync says when the raft log store fsyncs the entries raft stores.
type LogSync int

const (
	// LogSyncAlways fsyncs every StoreLogs before it returns, as raft
	// assumes: an entry raft counts towards a commit survives a power loss
	// of the node. It is the zero value and the default.
	LogSyncAlways LogSync = iota
	// LogSyncInterval hands every StoreLogs to the operating system before
	// it returns (the entries survive kill -9 of the process) and fsyncs
	// every StoreConfig.SyncInterval in the background. A power loss may
	// take the entries of the last interval.
	LogSyncInterval
	// LogSyncNone hands every StoreLogs to the operating system and leaves
	// the fsync to it (and to Close).
	LogSyncNone
)

// Defaults for StoreConfig.
const (
	// DefaultStoreKind is the project's own segmentstore. Measured with
	// stores_bench_test.go on this project's machines (2 cores, a disk whose
	// fsync latency varies several-fold between runs), over ten or more
	// paired runs:
	//   - raft itself, 256 concurrent 1 KiB applies (BenchmarkRaftApply):
	//     a tie. R1 averaged 61k entries/s on segmentstore and 59k on
	//     raft-wal, R3 21k and 23k; each kind won some runs of each.
	//   - fsynced StoreLogs: raft-wal is 1.2-1.5x faster for a single 1 KiB
	//     entry; for 64 and 256 entries, and for one 100 KiB entry, the
	//     kinds tie.
	//   - GetLog outside the LogCache: segmentstore is 2.5-5x faster, and
	//     it allocates a third as much per StoreLogs (130 vs 451
	//     allocations for 64 entries), which counts on two cores.
	// With raft throughput level, the reads, the allocations and the fact
	// that raft-wal v0.4.0 needs four workarounds (walStore) decided it.
	DefaultStoreKind = StoreSegmentstore
	// DefaultLogCacheSize is the capacity in entries of the LogCache put in
	// front of the log store. Without it the leader re-reads every entry
	// from disk to replicate it, which measured at half of its CPU; 512
	// entries cover the entries in flight to every follower at full load.
	DefaultLogCacheSize = 512
	// DefaultLogCacheBytes bounds the same cache in bytes, because one
	// entry carries a whole produce request: 8 MiB hold the 512 newest
	// entries of small requests, and still 80 of 100 KiB batches (ten
	// times what a client keeps in flight by default), without letting
	// requests of megabytes pin hundreds of them.
	DefaultLogCacheBytes = 8 << 20
	// DefaultSegmentBytes is the size at which a log segment file rolls
	// over, for both kinds (raft-wal's own default).
	DefaultSegmentBytes = 64 << 20
	// DefaultMaxEntryBytes is the largest raft entry the segmentstore kind
	// accepts: a produce batch of up to 1 MiB of records plus envelope.
	// raft-wal's own limit is 64 MiB.
	DefaultMaxEntryBytes = 4 << 20
)

// StoreConfig selects and tunes the raft log and stable stores. Zero fields
// take defaults.
type StoreConfig struct {
	// Kind picks the implementation. Default DefaultStoreKind.
	Kind StoreKind
	// Cache is the LogCache capacity in entries. 0 means
	// DefaultLogCacheSize; a negative value turns the cache off.
	Cache int
	// CacheBytes is the LogCache capacity in bytes of entries. Default
	// DefaultLogCacheBytes.
	CacheBytes int
	// SegmentBytes is the size of one log segment file. Default
	// DefaultSegmentBytes.
	SegmentBytes int
	// MaxEntryBytes caps one encoded raft entry (segmentstore kind only):
	// Data and Extensions plus a header of at most 13 bytes. A raft leader
	// whose log write fails steps down, so callers must refuse larger
	// commands before they reach Apply. Default DefaultMaxEntryBytes.
	MaxEntryBytes uint32
	// Sync is when StoreLogs fsyncs (segmentstore kind only: raft-wal
	// always fsyncs). Default LogSyncAlways. The relaxed policies take the
	// fsync off raft's commit path, which bounds a lone produce's latency
	// and the leader's group commit; they keep an entry safe from a crash
	// of the process, not from a power loss.
	Sync LogSync
	// SyncInterval is the fsync period under LogSyncInterval. Default
	// segmentstore.DefaultSyncInterval.
	SyncInterval time.Duration
	// Logger receives raft-wal's logs. Nil discards them.
	Logger *logrus.Entry
	// Written, when set, counts the bytes the log store writes (see
	// segmentstore.Config.Written). For raft-wal it counts each entry's
	// payload and frame header as raft-wal lays them out.
	Written *atomic.Uint64
	// KeepRecords keeps entries on disk after raft compacts them, until
	// the node says the record log no longer refers to them
	// (SegmentLogStore.RetainFrom): in data format 2 the records' values
	// live in the raft entries. segmentstore kind only.
	KeepRecords bool
	// FS is the file system of the segmentstore log, its metadata file and
	// the stable store (nil: the operating system's). Tests inject a
	// power-loss simulation here (segmentstore/faultfs). raft-wal does not
	// use it.
	FS segmentstore.FS
}

func (c StoreConfig) withDefaults() StoreConfig {
	if c.Kind == "" {
		c.Kind = DefaultStoreKind
	}
	if c.Cache == 0 {
		c.Cache = DefaultLogCacheSize
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultLogCacheBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.MaxEntryBytes == 0 {
		c.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = segmentstore.DefaultSyncInterval
	}
	return c
}

// Validate reports the first bad field as a *ConfigError (or
// ErrUnknownStoreKind for Kind).
func (c StoreConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Kind != StoreWAL && c.Kind != StoreSegmentstore:
		return fmt.Errorf("%w: %q (want %q or %q)", ErrUnknownStoreKind, c.Kind, StoreWAL, StoreSegmentstore)
	case c.KeepRecords && c.Kind != StoreSegmentstore:
		return &ConfigError{Field: "KeepRecords", Reason: fmt.Sprintf("needs the %q store kind: records refer to entries by index", StoreSegmentstore)}
	case c.SegmentBytes < 4<<10:
		return &ConfigError{Field: "SegmentBytes", Reason: fmt.Sprintf("%d is below 4096", c.SegmentBytes)}
	case c.CacheBytes < 0:
		return &ConfigError{Field: "CacheBytes", Reason: fmt.Sprintf("%d is negative", c.CacheBytes)}
	case c.Sync < LogSyncAlways || c.Sync > LogSyncNone:
		return &ConfigError{Field: "Sync", Reason: fmt.Sprintf("unknown policy %d", int(c.Sync))}
	case c.SyncInterval < 0:
		return &ConfigError{Field: "SyncInterval", Reason: fmt.Sprintf("negative duration %s", c.SyncInterval)}
	}
	return nil
}

// WALDir is where the wal kind keeps its files under a node's data
// directory.
func WALDir(dataDir string) string { return filepath.Join(dataDir, "raft", "wal") }

// LogDir is where the segmentstore kind keeps its segments.
func LogDir(dataDir string) string { return filepath.Join(dataDir, "raft", "log") }

// stablePath is the segmentstore kind's stable store file.
func stablePath(dataDir string) string { return filepath.Join(dataDir, "raft", "stable") }

// openStores opens the raft log store and stable store of the kind cfg
// names under <dataDir>/raft, recovering whatever a crash left there. Under
// LogSyncAlways (the default) every StoreLogs is fsynced before it returns,
// as raft assumes; cfg.Sync relaxes that (see LogSync).
//
// The returned closer closes both stores; it is idempotent. The log store
// is wrapped in a LogCache unless cfg.Cache is negative.
func openStores(dataDir string, cfg StoreConfig) (raft.LogStore, raft.StableStore, io.Closer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, nil, err
	}
	cfg = cfg.withDefaults()
	if err := checkKind(dataDir, cfg.Kind); err != nil {
		return nil, nil, nil, err
	}
	var (
		logs   raft.LogStore
		stable raft.StableStore
		closer io.Closer
	)
	switch cfg.Kind {
	case StoreWAL:
		w, err := openWAL(WALDir(dataDir), cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		logs, stable, closer = w, w, &onceCloser{closers: []io.Closer{w}}
	case StoreSegmentstore:
		s, err := openSegmentLogStore(LogDir(dataDir), cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		fs, err := openFileStableStoreFS(cfg.FS, stablePath(dataDir))
		if err != nil {
			_ = s.Close()
			return nil, nil, nil, err
		}
		logs, stable, closer = s, fs, &onceCloser{closers: []io.Closer{s, fs}}
	}
	if cfg.Cache > 0 {
		c, err := newLogCache(logs, cfg.Cache, cfg.CacheBytes)
		if err != nil {
			_ = closer.Close()
			return nil, nil, nil, fmt.Errorf("consensus: log cache: %w", err)
		}
		logs = c
	}
	return logs, stable, closer, nil
}

// segmentStoreOf returns the segmentstore log under logs (as openStores
// returned it, cache or not), or nil for another kind.
func segmentStoreOf(logs raft.LogStore) *SegmentLogStore {
	if c, ok := logs.(*LogCache); ok {
		logs = c.store
	}
	s, _ := logs.(*SegmentLogStore)
	return s
}

// checkKind refuses to open one kind of store over the files of the other.
func checkKind(dataDir string, kind StoreKind) error {
	other := map[StoreKind][]string{
		StoreWAL:          {LogDir(dataDir), stablePath(dataDir)},
		StoreSegmentstore: {WALDir(dataDir)},
	}[kind]
	for _, p := range other {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%w: opening %q, but %s exists", ErrStoreKindMismatch, kind, p)
		} else if !os.IsNotExist(err) {
			return fmt.Errorf("consensus: inspect %s: %w", p, err)
		}
	}
	return nil
}

// onceCloser closes each of its closers once, in order, and joins errors.
type onceCloser struct {
	mu      sync.Mutex
	closers []io.Closer
	done    bool
	err     error
}

func (o *onceCloser) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return o.err
	}
	o.done = true
	var errs []error
	for _, c := range o.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	o.err = errors.Join(errs...)
	return o.err
}
