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
	budget := 2*size + scanBufferBytes
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
		nextPos, nextOff, found, err := resync(store, size, pos, off, &budget)
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

// resyncWindow is how much of the store a resync search reads at a time.
const resyncWindow = 256 << 10

// resync looks for the first valid frame after a damaged one at pos that
// should have held offset off. It first trusts the damaged frame's length
// field, then searches forward byte by byte for a frame whose offset is
// plausible: greater than off, and no more lost records than could fit in
// the skipped bytes. found is false when nothing valid follows (a torn
// tail).
//
// *budget bounds the bytes of candidate frames that may be CRC-checked
// across one whole scan, so that recovery stays linear in the store size
// however the bytes are damaged; once spent, damage is treated as a torn
// tail.
func resync(store *os.File, size, pos int64, off uint64, budget *int64) (nextPos int64, nextOff uint64, found bool, err error) {
	if size-pos < frameHeaderSize {
		return 0, 0, false, nil
	}
	// check reports whether a valid frame with offset o starts at p.
	check := func(p int64, l int64, o uint64) (bool, error) {
		*budget -= frameHeaderSize + l
		if *budget < 0 {
			return false, nil
		}
		fr, ferr, err := readFrameAt(store, p, size-p, false)
		return err == nil && ferr == nil && fr.Offset == o, err
	}
	var hdr [frameHeaderSize + 8]byte
	if n, err := store.ReadAt(hdr[:frameHeaderSize], pos); err != nil || n < frameHeaderSize {
		return 0, 0, false, fmt.Errorf("segmentstore: read %s: %w", store.Name(), err)
	}
	if flen, ferr := frameLength(hdr[:frameHeaderSize], size-pos); ferr == nil {
		cand := pos + flen
		if size-cand >= frameHeaderSize+8 {
			if _, err := store.ReadAt(hdr[:], cand); err != nil {
				return 0, 0, false, fmt.Errorf("segmentstore: read %s: %w", store.Name(), err)
			}
			l := int64(binary.LittleEndian.Uint32(hdr[0:4]))
			if ok, err := check(cand, l, off+1); err != nil || ok {
				return cand, off + 1, ok, err
			}
		}
	}
	window := make([]byte, min(resyncWindow, size-pos))
	// Candidates start at least one minimal frame after pos: the damaged
	// frame occupied at least that much.
	for start := pos + FrameOverhead; start+FrameOverhead <= size && *budget >= 0; {
		w := window[:min(int64(len(window)), size-start)]
		if _, err := store.ReadAt(w, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, false, fmt.Errorf("segmentstore: read %s: %w", store.Name(), err)
		}
		// Only positions whose length and offset fields are inside the
		// window are examined; the next window overlaps by that much.
		last := len(w) - (frameHeaderSize + 8)
		for i := 0; i <= last; i++ {
			p := start + int64(i)
			l := int64(binary.LittleEndian.Uint32(w[i:]))
			if l < payloadHeaderSize || p+frameHeaderSize+l > size {
				continue
			}
			o := binary.LittleEndian.Uint64(w[i+frameHeaderSize:])
			if o <= off || o-off > uint64((p-pos)/FrameOverhead) {
				continue
			}
			if int64(i)+frameHeaderSize+l <= int64(len(w)) {
				// The whole frame is in memory: check the CRC here.
				*budget -= frameHeaderSize + l
				if *budget < 0 {
					return 0, 0, false, nil
				}
				payload := w[i+frameHeaderSize : int64(i)+frameHeaderSize+l]
				if binary.LittleEndian.Uint32(w[i+4:]) == crc32.Checksum(payload, castagnoli) {
					return p, o, true, nil
				}
				continue
			}
			if ok, err := check(p, l, o); err != nil || ok {
				return p, o, ok, err
			}
		}
		if last < 0 {
			break
		}
		start += int64(last) + 1
	}
	return 0, 0, false, nil
}
