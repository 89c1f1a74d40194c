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
// encoded into a reused write buffer (no allocation per record) that is
// written with one write(2) once it holds Config.WriteBufferBytes (1 MiB by
// default), and on Sync, Close, roll-over and every append under
// SyncAlways. Reads see buffered records too: they copy them from the
// buffer instead of forcing a small write. Every read checks the CRC.
//
// The index file is a table of IndexEntryBytes (12) byte entries: the
// record's offset relative to the base (uint32) and its frame's position in
// the store (uint64). It is memory-mapped. While a segment is active the
// file is preallocated to MaxIndexBytes plus one slot for the trailer and
// three that hold the recovery point (see Recovery rules). Sealing or closing
// the segment truncates it to its entries and writes a trailer in that
// slot: a magic number, the CRC-32C of the entries and their count. The
// trailer is the mark of a clean close; a crash leaves the slot zero.
//
// # Recovery rules
//
// Opening a segment never trusts a file's size, only frames that decode
// with a good CRC and the expected offset. Recovery cuts only a torn tail:
// bytes of an active segment that a crash left unfinished, that nothing
// durable follows. Damage to bytes that had been written whole and fsynced
// (bit rot) is reported, never cut, and never served.
//
//   - Clean index: a trailer whose magic, count and CRC match the entries;
//     entries numbered in order with positions increasing strictly from 0
//     inside the store. It is used as is, without scanning the store, so
//     opening a cleanly closed segment costs one frame read. The trailer is
//     written after the store is fsynced, so the records it covers are
//     never a torn tail: a last frame that fails its CRC is kept and
//     reported on read (only a last frame that decodes but is followed by
//     extra bytes sends the open to a scan).
//   - Anything else (an index left preallocated by a crash, entries that
//     point past the store, a missing, short or damaged index, a flipped bit
//     anywhere in it) makes the segment rebuild its index by scanning the
//     whole store. Recovery time is therefore bounded by one segment's size
//     (BenchmarkRecoverSegment: about 50 ms for 64 MiB), not by the log's.
//   - The recovery point: an active segment records in the last slots of
//     its index where the store was last fsynced (store position and
//     offset, with a CRC, in a 16-byte aligned slot that a power loss
//     cannot tear). It moves after every fsync of the store and is made
//     durable by an fsync of the index every Config.SyncInterval (and when
//     the segment is opened or truncated), off the append path.
//   - During the scan, a damaged frame before the recovery point is bit
//     rot: fsynced bytes cannot be torn by a crash. The scan finds the next
//     valid frame through the damaged frame's length field or by searching
//     forward for a frame whose offset and CRC fit (a length is checked for
//     plausibility before the search spends any of its budget on it), and
//     the records in between stay in the index as corrupt: reading them
//     returns a *CorruptError naming the store file and offset
//     (errors.Is(err, ErrCorrupt)) while the records after them remain
//     readable, and Segment.Damaged (Log.Damaged) lists each run with its
//     offset range. If nothing valid is found before the recovery point,
//     every record up to it is corrupt and the scan goes on from it.
//   - A damaged frame at or after the recovery point starts the torn tail:
//     it and everything after it are cut off (a writable open truncates the
//     store), even when valid frames follow, because none of those bytes
//     was fsynced. This is safe: a power loss may keep later pages of an
//     unsynced tail and lose earlier ones, and the records cut are exactly
//     the ones the sync policy allowed to be lost, as a suffix. A recovery
//     point older than the last fsync (its index page not yet written
//     back) only moves more of the tail into this rule; it is never ahead
//     of the store, because it moves only after the store's fsync returned.
//   - Without a recovery point (an index lost or damaged), a damaged frame
//     followed by a valid frame with a later offset is reported as above,
//     and one that nothing valid follows is a torn tail. The search's work
//     is bounded by the store size, so damage can never make recovery
//     quadratic; if its budget runs out, the open fails with a
//     *CorruptError rather than guess.
//   - A read-only open (OpenSealedSegment) never truncates: it serves the
//     valid prefix and leaves the bytes after it for the next open.
//   - In a sealed segment of a Log (or OpenSealedSegmentRange) the next
//     segment's base offset says how many records must exist, so
//     unreadable bytes at its end are reported as corrupt records rather
//     than cut as a torn tail.
//   - Log.Open fails with a *CorruptError when, after recovery, a segment's
//     NextOffset is not the next segment's BaseOffset (records lost in the
//     middle of the log, or a stray segment file that does not line up). It
//     never renumbers. Files not named like a segment are ignored.
//
// # Durability
//
// "Acknowledged" means Append returned without error. What survives:
//
//   - SyncAlways: Append writes and fsyncs before returning. An
//     acknowledged record survives a process kill and a power loss. A
//     background goroutine fsyncs the index every Config.SyncInterval when
//     the recovery point moved (see Recovery rules), off the append path.
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
// writes the index trailer; a segment is fsynced before it is sealed, so a
// sealed segment is complete on disk before the next segment's file
// exists; TruncateFrom fsyncs the cut, and the Log fsyncs the directory
// after deleting segments in TruncateSuffix (whatever the policy) and in
// retention (unless SyncNone), so truncated records cannot reappear after
// a crash. Under SyncNone, Sync and Close also fsync the directory when a
// segment was created since, so what they make durable has a durable name. New segment files are followed by a directory
// fsync unless the policy is SyncNone. A failed write or fsync is sticky:
// appends fail until the segment or log is closed and reopened, because
// memory and disk may disagree and only recovery can tell what is on disk.
//
// # Concurrency
//
// Segment and Log are safe for concurrent use: readers run in parallel and
// do not wait for an fsync; writers are serialised. Lock order (Log):
// writeMu, then mu, then a segment's own lock. Close waits for the
// background fsync goroutine. One Log per directory: Open takes an
// exclusive flock on a LOCK file (ErrLocked otherwise).
//
// # Snapshots
//
// Log.Reader streams the frames of every record, in the store format;
// Restore (or Log.Restore) rebuilds a log from such a stream, checking every
// CRC and that offsets are dense, and keeps offsets, terms and timestamps.
//
// # Never
//
// The package never serves bytes that fail their CRC, never renumbers or
// skips offsets, never deletes the active segment through retention or
// TruncatePrefix, never panics on what it reads from disk, and never runs a
// goroutine that outlives Close.
package segmentstore
