package actors

import "actorlog/segmentstore"

// The record log's storage, as the node configures it. The log actor owns
// the segments (segmentstore); these names let the node and its command
// line configure them and lock the data directory without depending on the
// storage package themselves.

// StorageConfig configures the record log's segments: size limits, fsync
// policy and retention (LogConfig.Storage).
type StorageConfig = segmentstore.Config

// SyncPolicy says when appended records are fsynced.
type SyncPolicy = segmentstore.SyncPolicy

// The fsync policies: see segmentstore.SyncPolicy for what each promises
// after a crash.
const (
	SyncNone     = segmentstore.SyncNone
	SyncInterval = segmentstore.SyncInterval
	SyncAlways   = segmentstore.SyncAlways
)

// DefaultSyncInterval is how often SyncInterval fsyncs when
// StorageConfig.SyncInterval is zero.
const DefaultSyncInterval = segmentstore.DefaultSyncInterval

// DefaultStorageConfig is segmentstore's default configuration.
func DefaultStorageConfig() StorageConfig { return segmentstore.DefaultConfig() }

// ParseSyncPolicy parses "none", "interval" or "always" (case-insensitive).
func ParseSyncPolicy(s string) (SyncPolicy, error) { return segmentstore.ParseSyncPolicy(s) }

// DirLock is an exclusive lock on a data directory, held until Unlock.
type DirLock = segmentstore.DirLock

// ErrDirLocked is LockDir's error when another process holds the lock.
var ErrDirLocked = segmentstore.ErrLocked

// LockDir takes the exclusive lock on dir, or fails with ErrDirLocked when
// another process holds it.
func LockDir(dir string) (*DirLock, error) { return segmentstore.LockDir(dir) }
