package segmentstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// recovery is what openSegment learns about a segment's files.
type recovery struct {
	// clean is true when the index on disk was closed cleanly and agrees
	// with the store, so it is used as is and the store is not scanned.
	clean bool
	// positions holds the frame position of every record when !clean.
	positions []int64
	n         uint64 // records
	end       int64  // valid store length; bytes past it are cut off
	lastTS    int64  // timestamp of the newest readable record, 0 if none
	corrupt   []uint64
}

// scanBufferBytes is the read size of a recovery scan: large sequential
// reads keep an unclean 64 MiB segment's scan near disk bandwidth.
const scanBufferBytes = 1 << 20

// recoverSegment validates a segment's index against its store and, when
// the index cannot be trusted, rebuilds the record positions by scanning
// the store. It never trusts a file's size: only frames that decode with a
// good CRC and the expected offset count.
//
// expectNext, when known (hasExpect), is the next segment's base offset:
// records between the last readable frame and it are known to have been
// written, so damaged bytes there are indexed as corrupt records instead of
// being cut off as a torn tail.
func recoverSegment(store *os.File, storeSize int64, rawIdx []byte, base uint64, hasExpect bool, expectNext uint64) (recovery, error) {
	if rec, ok, err := trustIndex(store, storeSize, rawIdx, base); err != nil {
		return recovery{}, err
	} else if ok && (!hasExpect || base+rec.n == expectNext) {
		return rec, nil
	}
	return scanStore(store, storeSize, base, hasExpect, expectNext)
}

// trustIndex reports whether rawIdx is a cleanly closed index for the
// store: entries followed by a trailer whose magic, count and CRC match,
// each entry numbered in order with strictly increasing positions inside
// the store, the first at position 0, and the last entry's frame valid and
// ending exactly at the end of the store.
func trustIndex(store *os.File, storeSize int64, rawIdx []byte, base uint64) (recovery, bool, error) {
	if len(rawIdx) < IndexEntryBytes || len(rawIdx)%IndexEntryBytes != 0 {
		return recovery{}, false, nil
	}
	entries := rawIdx[:len(rawIdx)-IndexEntryBytes]
	if string(rawIdx[len(entries):]) != string(indexTrailer(entries)) {
		return recovery{}, false, nil
	}
	m := uint64(len(entries) / IndexEntryBytes)
	if m == 0 {
		return recovery{clean: true}, storeSize == 0, nil
	}
	prev := int64(-1)
	for i := uint64(0); i < m; i++ {
		rel, pos := entryAt(entries, i)
		if uint64(rel) != i || pos <= prev || pos >= storeSize || (i == 0 && pos != 0) {
			return recovery{}, false, nil
		}
		prev = pos
	}
	rec, ferr, err := readFrameAt(store, prev, storeSize-prev, true)
	if err != nil {
		return recovery{}, false, err
	}
	if ferr != nil || rec.Offset != base+m-1 {
		return recovery{}, false, nil
	}
	return recovery{clean: true, n: m, end: storeSize, lastTS: rec.Timestamp}, true, nil
}

// readFrameAt reads and decodes the frame at pos; avail is how many store
// bytes exist from pos. With exact, the frame must fill avail. A damaged
// frame is a *frameError; an I/O failure is the error.
func readFrameAt(f *os.File, pos, avail int64, exact bool) (Record, *frameError, error) {
	var hdr [frameHeaderSize]byte
	if avail < frameHeaderSize {
		return Record{}, frameErr("truncated frame header"), nil
	}
	if _, err := f.ReadAt(hdr[:], pos); err != nil {
		return Record{}, nil, fmt.Errorf("segmentstore: read %s: %w", f.Name(), err)
	}
	size, ferr := frameLength(hdr[:], avail)
	if ferr != nil {
		return Record{}, ferr, nil
	}
	if exact && size != avail {
		return Record{}, frameErr("frame of %d bytes does not end at the end of the store", size), nil
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, pos); err != nil {
		return Record{}, nil, fmt.Errorf("segmentstore: read %s: %w", f.Name(), err)
	}
	rec, ferr := decodeFrame(b)
	return rec, ferr, nil
}

// scanStore walks every frame of the store from the start.
//
// A damaged frame is either a torn tail (a crash cut the last write short:
// nothing valid follows it) or damage inside the segment (a valid frame with
// a later offset follows it). A torn tail is cut off. Damage inside is kept
// in the index as corrupt records so that reading them reports ErrCorrupt
// while the records after them stay readable.
func scanStore(store *os.File, size int64, base uint64, hasExpect bool, expectNext uint64) (recovery, error) {
	rec := recovery{}
	r := bufio.NewReaderSize(io.NewSectionReader(store, 0, size), scanBufferBytes)
	buf := make([]byte, 0, 64<<10)
	pos, off := int64(0), base
	for pos < size {
		good := false
		if avail := size - pos; avail >= frameHeaderSize {
			buf = buf[:frameHeaderSize]
			if _, err := io.ReadFull(r, buf); err != nil {
				return recovery{}, fmt.Errorf("segmentstore: scan %s: %w", store.Name(), err)
			}
			if flen, ferr := frameLength(buf, avail); ferr == nil {
				if int64(cap(buf)) < flen {
					nb := make([]byte, flen)
					copy(nb, buf)
					buf = nb
				}
				buf = buf[:flen]
				if _, err := io.ReadFull(r, buf[frameHeaderSize:]); err != nil {
					return recovery{}, fmt.Errorf("segmentstore: scan %s: %w", store.Name(), err)
				}
				if fr, ferr := decodeFrame(buf); ferr == nil && fr.Offset == off {
					rec.positions = append(rec.positions, pos)
					rec.lastTS = fr.Timestamp
					pos += flen
					off++
					good = true
				}
			}
		}
		if good {
			continue
		}
		nextPos, nextOff, found, err := resync(store, size, pos, off)
		if err != nil {
			return recovery{}, err
		}
		if !found {
			break
		}
		for o := off; o < nextOff; o++ {
			rec.positions = append(rec.positions, pos+int64(o-off))
			rec.corrupt = append(rec.corrupt, o)
		}
		pos, off = nextPos, nextOff
		r.Reset(io.NewSectionReader(store, pos, size-pos))
	}
	// In a sealed segment the records up to the next segment's base were
	// written and synced before it was sealed; unreadable bytes there are
	// damage, not a torn tail.
	if hasExpect && expectNext > off && uint64(size-pos) >= expectNext-off {
		for o := off; o < expectNext; o++ {
			rec.positions = append(rec.positions, pos+int64(o-off))
			rec.corrupt = append(rec.corrupt, o)
		}
		off, pos = expectNext, size
	}
	rec.n = off - base
	rec.end = pos
	return rec, nil
}

// resync looks for the first valid frame after a damaged one at pos that
// should have held offset off. It first trusts the damaged frame's length
// field, then searches byte by byte for a frame whose offset is plausible:
// greater than off, and no more lost records than could fit in the skipped
// bytes. found is false when nothing valid follows (a torn tail).
func resync(store *os.File, size, pos int64, off uint64) (nextPos int64, nextOff uint64, found bool, err error) {
	if size-pos < frameHeaderSize {
		return 0, 0, false, nil
	}
	var hdr [frameHeaderSize]byte
	if _, err := store.ReadAt(hdr[:], pos); err != nil {
		return 0, 0, false, fmt.Errorf("segmentstore: read %s: %w", store.Name(), err)
	}
	if flen, ferr := frameLength(hdr[:], size-pos); ferr == nil {
		cand := pos + flen
		fr, ferr, err := readFrameAt(store, cand, size-cand, false)
		if err != nil {
			return 0, 0, false, err
		}
		if ferr == nil && fr.Offset == off+1 {
			return cand, off + 1, true, nil
		}
	}
	region := make([]byte, size-pos)
	if _, err := store.ReadAt(region, pos); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, false, fmt.Errorf("segmentstore: read %s: %w", store.Name(), err)
	}
	for p := int64(FrameOverhead); p+FrameOverhead <= int64(len(region)); p++ {
		l := int64(binary.LittleEndian.Uint32(region[p:]))
		if l < payloadHeaderSize || p+frameHeaderSize+l > int64(len(region)) {
			continue
		}
		o := binary.LittleEndian.Uint64(region[p+frameHeaderSize:])
		if o <= off || o-off > uint64(p/FrameOverhead) {
			continue
		}
		payload := region[p+frameHeaderSize : p+frameHeaderSize+l]
		if binary.LittleEndian.Uint32(region[p+4:]) != crc32.Checksum(payload, castagnoli) {
			continue
		}
		return pos + p, o, true, nil
	}
	return 0, 0, false, nil
}
