package consensus

import (
	"sync"

	"github.com/hashicorp/raft"
)

// logCacheEntryOverhead is what one cached entry costs beyond its Data and
// Extensions: the raft.Log struct and the slot that points to it.
const logCacheEntryOverhead = 128

// LogCache keeps the most recently stored raft entries in memory in front
// of a raft.LogStore, so that the leader replicates them to followers
// without reading them back from disk. It is bounded both by entries and
// by bytes: raft.LogCache counts entries only, and an entry here carries a
// whole produce request, from a few bytes to megabytes, so a count that
// covers the in-flight window of small entries would hold hundreds of
// megabytes of large ones, and a count safe for large ones (the node used
// 16) left small entries to be re-read from disk under load.
//
// The cache holds one contiguous run of indexes, the newest stored. Like
// raft.LogCache it caches only what StoreLogs was given and forgets
// everything on DeleteRange; unlike it, it caches an entry only once the
// store has taken it, so a failed StoreLogs never leaves a phantom entry.
type LogCache struct {
	store    raft.LogStore
	maxCount int
	maxBytes int

	mu    sync.RWMutex
	ents  []*raft.Log // ring; ents[(head+i)%len] has index first+i
	head  int
	count int
	first uint64
	bytes int
}

var (
	_ raft.LogStore          = (*LogCache)(nil)
	_ raft.MonotonicLogStore = (*LogCache)(nil)
)

// newLogCache wraps store with a cache of at most maxCount entries and
// about maxBytes bytes (at least the newest entry is kept whatever its
// size). Both must be positive.
func newLogCache(store raft.LogStore, maxCount, maxBytes int) (*LogCache, error) {
	if maxCount <= 0 {
		return nil, &ConfigError{Field: "Cache", Reason: "must be positive"}
	}
	if maxBytes <= 0 {
		return nil, &ConfigError{Field: "CacheBytes", Reason: "must be positive"}
	}
	return &LogCache{store: store, maxCount: maxCount, maxBytes: maxBytes, ents: make([]*raft.Log, maxCount)}, nil
}

func entryCost(l *raft.Log) int { return len(l.Data) + len(l.Extensions) + logCacheEntryOverhead }

// GetLog serves index from the cache, or from the store.
func (c *LogCache) GetLog(index uint64, out *raft.Log) error {
	c.mu.RLock()
	if c.count > 0 && index >= c.first && index < c.first+uint64(c.count) {
		*out = *c.ents[(c.head+int(index-c.first))%len(c.ents)]
		c.mu.RUnlock()
		return nil
	}
	c.mu.RUnlock()
	return c.store.GetLog(index, out)
}

// StoreLog stores one entry.
func (c *LogCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores the entries, then caches them, evicting the oldest
// entries beyond the bounds.
func (c *LogCache) StoreLogs(logs []*raft.Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		// What the store holds now is unknown: cache nothing from before.
		c.mu.Lock()
		c.resetLocked()
		c.mu.Unlock()
		return err
	}
	if len(logs) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count > 0 && logs[0].Index != c.first+uint64(c.count) {
		// Not a continuation (a new log after a snapshot install): the
		// cached run no longer describes the end of the log.
		c.resetLocked()
	}
	if len(logs) > c.maxCount {
		logs = logs[len(logs)-c.maxCount:]
		c.resetLocked()
	}
	for _, l := range logs {
		if c.count == 0 {
			c.first = l.Index
		}
		if c.count == len(c.ents) {
			c.evictLocked()
		}
		c.ents[(c.head+c.count)%len(c.ents)] = l
		c.count++
		c.bytes += entryCost(l)
	}
	for c.count > 1 && c.bytes > c.maxBytes {
		c.evictLocked()
	}
	return nil
}

// evictLocked drops the oldest cached entry; the caller holds mu.
func (c *LogCache) evictLocked() {
	c.bytes -= entryCost(c.ents[c.head])
	c.ents[c.head] = nil
	c.head = (c.head + 1) % len(c.ents)
	c.count--
	c.first++
}

func (c *LogCache) resetLocked() {
	clear(c.ents)
	c.head, c.count, c.first, c.bytes = 0, 0, 0, 0
}

// FirstIndex is the store's.
func (c *LogCache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }

// LastIndex is the store's.
func (c *LogCache) LastIndex() (uint64, error) { return c.store.LastIndex() }

// DeleteRange forgets the cache, then deletes from the store.
func (c *LogCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	c.resetLocked()
	c.mu.Unlock()
	return c.store.DeleteRange(min, max)
}

// IsMonotonic is the store's answer: raft deletes the whole log before it
// appends past a snapshot when the store cannot hold gaps.
func (c *LogCache) IsMonotonic() bool {
	if m, ok := c.store.(raft.MonotonicLogStore); ok {
		return m.IsMonotonic()
	}
	return false
}

// CachedEntries reports how many entries and bytes the cache holds now.
func (c *LogCache) CachedEntries() (count, bytes int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.count, c.bytes
}
