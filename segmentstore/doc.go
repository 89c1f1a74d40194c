// Package segmentstore is actorlog's storage library: a crash-safe,
// append-only commit log on local files.
//
// # What it owns
//
// A Segment is one store file and one index file holding a dense run of
// record offsets [BaseOffset, NextOffset). A Log is the ordered list of
// segments in one directory: the last is active (appended to), the others
// are sealed (read-only). The package owns those files, their format, their
// recovery after a crash, roll-over, retention and fsync. It is plain Go: no
// actors, no network, no logging (every failure is a returned error), and
// it imports nothing from the rest of actorlog.
//
// # Files
//
// Segment files are named by their base offset in 20 decimal digits, so
// that they sort in offset order: 00000000000000000000.store and
// 00000000000000000000.index. A Log also holds a LOCK file (an exclusive
// flock: one Log per directory). Other files are ignored.
//
// The store file is a sequence of frames, all integers little-endian:
//
//	length    uint32  payload bytes that follow the 8-byte header
//	crc       uint32  CRC-32C (Castagnoli) of the payload
//	offset    uint64  \
//	term      uint64   | payload
//	timestamp int64    |
//	value     []byte  /
//
// A record costs FrameOverhead (32) bytes besides its value. Appends are
// encoded into a write buffer and written with one write(2) per batch once
// the buffer holds Config.WriteBufferBytes (and on Sync, Close, roll-over,
// and every append under SyncAlways). Reads see buffered records too: they
// copy them from the buffer instead of forcing a small write.
//
// The index file is a table of IndexEntryBytes (12) byte entries: the
// record's offset relative to the base (uint32) and its frame's position in
// the store (uint64). It is memory-mapped. While a segment is active the
// file is preallocated to MaxIndexBytes plus one spare entry; sealing or
// closing the segment truncates it to exactly its entries. That exact
// length is the mark of a clean close.
//
// # Recovery rules
//
// Opening a segment never trusts a file's size, only frames that decode
// with a good CRC and the expected offset:
//
//   - Clean index: every entry is numbered in order, positions increase
//     strictly from 0 and stay inside the store, and the last entry's frame
//     is valid and ends exactly at the end of the store. It is used as is;
//     the store is not scanned, so opening a cleanly closed segment costs
//     one frame read.
//   - Anything else (an index left preallocated by a crash, entries that
//     point past the store, a missing, short or damaged index) makes the
//     segment rebuild its index by scanning the whole store. Recovery time
//     is therefore bounded by one segment's size, not by the log's.
//   - During the scan a frame that fails to decode is a torn tail when no
//     valid frame follows it: it and everything after it are cut off (the
//     store is truncated), and NextOffset becomes one past the last valid
//     record.
//   - A damaged frame followed by a valid frame with a later offset is
//     damage inside the segment. It stays in the index as a corrupt
//     record, so that reading it returns a *CorruptError naming the store
//     file and offset (errors.Is(err, ErrCorrupt)), while the records after
//     it remain readable. Open succeeds. Damage inside a segment whose
//     index is clean is not looked for at open; every read checks the CRC,
//     so it is found the same way. Corrupt bytes are never served as data.
//   - In a sealed segment of a Log, the next segment's base offset says how
//     many records must exist, so unreadable bytes at its end are also
//     reported as corrupt records rather than cut.
//   - Log.Open fails with a *CorruptError if, after recovery, a segment's
//     NextOffset is not the next segment's BaseOffset (records lost in
//     the middle of the log). It never silently renumbers.
//
// # Durability
//
// "Acknowledged" means Append returned without error. What survives:
//
//   - SyncAlways: Append writes and fsyncs before returning. An
//     acknowledged record survives a process kill and a power loss.
//   - SyncInterval (DefaultConfig): records sit in the write buffer until it
//     fills or the background goroutine writes and fsyncs, every
//     Config.SyncInterval. A process kill or power loss loses at most the
//     appends of the last interval (plus buffer writes not yet fsynced),
//     always as a suffix: recovery keeps a valid prefix.
//   - SyncNone: the buffer is written when it fills and on Sync, Close and
//     roll-over; the OS decides when to flush. A crash may lose any
//     unwritten or unflushed suffix. The zero Config uses this policy.
//
// Whatever the policy: Sync writes and fsyncs; Close writes, fsyncs and
// trims the index; a segment is fsynced before it is sealed, so a sealed
// segment is complete on disk before the next segment's file exists;
// TruncateFrom fsyncs the cut so removed records cannot reappear. New
// segment files are followed by a directory fsync unless the policy is
// SyncNone. A failed write or fsync is sticky: appends fail until the
// segment or log is closed and reopened, because memory and disk may
// disagree.
//
// # Concurrency
//
// Segment and Log are safe for concurrent use: readers run in parallel and
// never wait for an fsync; writers are serialised. Close waits for the
// background fsync goroutine.
//
// # Never
//
// The package never serves bytes that fail their CRC, never renumbers or
// skips offsets, never deletes the active segment through retention or
// TruncatePrefix, never panics on what it reads from disk, and never runs a
// goroutine that outlives Close.
package segmentstore
