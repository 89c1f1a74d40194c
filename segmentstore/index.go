package segmentstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/edsrzf/mmap-go"
)

// IndexEntryBytes is the width of one index entry: the record's offset
// relative to the segment base (uint32) and its frame's byte position in the
// store file (uint64), little-endian.
const IndexEntryBytes = 12

// indexMagic opens the trailer that sealing writes after the last entry
// ("SSIX" in little-endian byte order).
const indexMagic uint32 = 0x58495353

// indexTrailer is written, in the slot after the last entry, when a segment
// is sealed or closed: magic, CRC-32C of the entries, entry count. Only an
// index with a matching trailer is trusted without scanning the store. A
// crash leaves the preallocated index without one (that slot is zero), and
// a damaged entry anywhere breaks the CRC, so both are rebuilt.
func indexTrailer(entries []byte) []byte {
	t := make([]byte, IndexEntryBytes)
	binary.LittleEndian.PutUint32(t[0:4], indexMagic)
	binary.LittleEndian.PutUint32(t[4:8], crc32.Checksum(entries, castagnoli))
	binary.LittleEndian.PutUint32(t[8:12], uint32(len(entries)/IndexEntryBytes))
	return t
}

// recoverySlots are the entry slots at the end of an active index file that
// hold its recovery point (see recoveryPointAt).
const recoverySlots = 3

// recoveryPointBytes is the size of a recovery point record: the store
// position and the offset (relative to the base) up to which the store is
// known to be fsynced, and a CRC-32C of the two.
const recoveryPointBytes = 16

// recoveryPointAt returns where the recovery point sits in an index file of
// size n: the last 16-byte aligned slot that ends inside the file. Aligned
// to 16 bytes it never straddles a disk sector, so a power loss leaves
// either the old or the new record, never a mix; and it lies inside the
// recoverySlots reserved past the trailer slot, so it never overlaps an
// entry or the trailer.
func recoveryPointAt(n int) int { return (n - recoveryPointBytes) &^ (recoveryPointBytes - 1) }

func putRecoveryPoint(b []byte, pos int64, rel uint32) {
	binary.LittleEndian.PutUint64(b[0:8], uint64(pos))
	binary.LittleEndian.PutUint32(b[8:12], rel)
	binary.LittleEndian.PutUint32(b[12:16], crc32.Checksum(b[0:12], castagnoli))
}

// parseRecoveryPoint reads the recovery point of an active index file as a
// crash left it; ok is false when there is none (a clean index, a short or
// missing file, a record that fails its CRC).
func parseRecoveryPoint(raw []byte) (pos int64, rel uint32, ok bool) {
	if len(raw) < (1+recoverySlots)*IndexEntryBytes {
		return 0, 0, false
	}
	b := raw[recoveryPointAt(len(raw)):][:recoveryPointBytes]
	if crc32.Checksum(b[0:12], castagnoli) != binary.LittleEndian.Uint32(b[12:16]) {
		return 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(b[0:8])), binary.LittleEndian.Uint32(b[8:12]), true
}

// index is the memory-mapped offset -> position table of one segment.
//
// While the segment is active the file is preallocated to capacity+1
// entries and recoverySlots more: the spare entry slot is where the
// trailer goes when the segment is sealed, so a full index still has room
// for it, and the last slots hold the recovery point.
//
// The owning Segment's lock guards every field.
type index struct {
	f        File
	mm       mmap.MMap // nil when nothing is mapped (sealed and empty)
	n        uint64    // valid entries
	capacity uint64    // entries that may be written while writable
	writable bool
}

func putEntry(b []byte, rel uint32, pos int64) {
	binary.LittleEndian.PutUint32(b[0:4], rel)
	binary.LittleEndian.PutUint64(b[4:12], uint64(pos))
}

func entryAt(b []byte, i uint64) (rel uint32, pos int64) {
	e := b[i*IndexEntryBytes : (i+1)*IndexEntryBytes]
	return binary.LittleEndian.Uint32(e[0:4]), int64(binary.LittleEndian.Uint64(e[4:12]))
}

// pos returns the store position of entry i (< n).
func (x *index) pos(i uint64) int64 {
	_, p := entryAt(x.mm, i)
	return p
}

// put writes entry i; the caller has checked i < capacity.
func (x *index) put(i uint64, pos int64) {
	putEntry(x.mm[i*IndexEntryBytes:], uint32(i), pos)
}

// mapWritable preallocates the file to capacity+1 entries, zero beyond the
// first n, and maps it read-write.
func (x *index) mapWritable(capacity uint64) error {
	if err := x.unmap(); err != nil {
		return err
	}
	if capacity < x.n {
		capacity = x.n // a smaller MaxIndexBytes than when written: the segment is simply full
	}
	// Truncating down first zeroes any stale entries past n.
	if err := x.f.Truncate(int64(x.n * IndexEntryBytes)); err != nil {
		return fmt.Errorf("segmentstore: trim index: %w", err)
	}
	size := int64((capacity + 1 + recoverySlots) * IndexEntryBytes)
	if err := x.f.Truncate(size); err != nil {
		return fmt.Errorf("segmentstore: preallocate index: %w", err)
	}
	of, err := osFileOf(x.f)
	if err != nil {
		return err
	}
	// Allocate the blocks too: a store through the mapping into a sparse
	// page of a full file system kills the process (SIGBUS), where a
	// failed fallocate is an error the caller can report.
	if err := allocate(of, size); err != nil {
		if isNoSpace(err) {
			return &DiskFullError{Path: of.Name(), Err: err}
		}
		return fmt.Errorf("segmentstore: preallocate index: %w", err)
	}
	mm, err := mmap.MapRegion(of, int(size), mmap.RDWR, 0, 0)
	if err != nil {
		return fmt.Errorf("segmentstore: map index: %w", err)
	}
	x.mm, x.capacity, x.writable = mm, capacity, true
	return nil
}

// seal flushes the mapping, truncates the file to its n entries followed
// by the trailer (the clean-close mark), fsyncs it and maps it read-only.
func (x *index) seal() error {
	trailer := indexTrailer(x.mm[:x.n*IndexEntryBytes])
	if x.writable && x.mm != nil {
		if err := x.mm.Flush(); err != nil {
			return fmt.Errorf("segmentstore: flush index: %w", err)
		}
	}
	if err := x.unmap(); err != nil {
		return err
	}
	if err := x.f.Truncate(int64(x.n * IndexEntryBytes)); err != nil {
		return fmt.Errorf("segmentstore: truncate index: %w", err)
	}
	if _, err := x.f.WriteAt(trailer, int64(x.n*IndexEntryBytes)); err != nil {
		return fmt.Errorf("segmentstore: write index trailer: %w", err)
	}
	if err := x.f.Sync(); err != nil {
		return fmt.Errorf("segmentstore: sync index: %w", err)
	}
	x.writable, x.capacity = false, x.n
	return x.mapReadOnly()
}

// setRecoveryPoint records in the mapped file that the store is fsynced up
// to pos, where record rel (relative to the base) starts. It is written
// through the mapping only; fsyncing the index file makes it durable.
func (x *index) setRecoveryPoint(pos int64, rel uint32) {
	if !x.writable || x.mm == nil {
		return
	}
	putRecoveryPoint(x.mm[recoveryPointAt(len(x.mm)):], pos, rel)
}

func (x *index) mapReadOnly() error {
	if x.n == 0 {
		return nil // mmap of zero bytes is an error; nothing to read anyway
	}
	of, err := osFileOf(x.f)
	if err != nil {
		return err
	}
	mm, err := mmap.MapRegion(of, int(x.n*IndexEntryBytes), mmap.RDONLY, 0, 0)
	if err != nil {
		return fmt.Errorf("segmentstore: map index: %w", err)
	}
	x.mm = mm
	return nil
}

func (x *index) unmap() error {
	if x.mm == nil {
		return nil
	}
	err := x.mm.Unmap()
	x.mm = nil
	if err != nil {
		return fmt.Errorf("segmentstore: unmap index: %w", err)
	}
	return nil
}

// close seals the file to its real length and closes it.
func (x *index) close() error {
	var err error
	if x.writable {
		err = x.seal()
	}
	if uerr := x.unmap(); err == nil {
		err = uerr
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}
