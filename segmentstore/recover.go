package segmentstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// recovery is what openSegment learns about a segment's files.
type recovery struct {
	// clean is true when the index on disk was closed cleanly and agrees
	// with the store, so it is used as is and the store is not scanned.
	clean bool
	// positions holds the frame position of every record when !clean.
	positions []int64
	n         uint64 // records
	end       int64  // valid store length; a writable open cuts the bytes past it
	lastTS    int64  // timestamp of the newest readable record, 0 if none
	corrupt   []uint64
	// rp is the recovery point the index held, when it held a valid one:
	// the bytes before it are known to be durable.
	rp recoveryPoint
}

// scanBufferBytes is the read size of a recovery scan: large sequential
// reads keep an unclean 64 MiB segment's scan near disk bandwidth.
const scanBufferBytes = 1 << 20

// recoveryPoint is where the store was last known to be fsynced, as an
// active segment records it in its index (see index.setRecoveryPoint):
// every byte before pos is durable, and next is the offset of the record
// at pos. ok is false when the index holds none.
type recoveryPoint struct {
	pos  int64
	next uint64
	ok   bool
}

// recoverOptions is what openSegment knows besides the files.
type recoverOptions struct {
	// hasExpect: expectNext, the next segment's base offset, is known, so
	// the segment is sealed and its records up to expectNext were fsynced
	// before the next segment existed.
	hasExpect  bool
	expectNext uint64
	// rp is the recovery point an active segment's index recorded.
	rp recoveryPoint
}

// recoverSegment validates a segment's index against its store and, when
// the index cannot be trusted, rebuilds the record positions by scanning
// the store. It never trusts a file's size: only frames that decode with a
// good CRC and the expected offset count. See scanStore for what is cut
// and what is reported.
func recoverSegment(store File, storeSize int64, rawIdx []byte, base uint64, o recoverOptions) (recovery, error) {
	if rec, ok, err := trustIndex(store, storeSize, rawIdx, base); err != nil {
		return recovery{}, err
	} else if ok && (!o.hasExpect || base+rec.n == o.expectNext) {
		return rec, nil
	}
	if pos, rel, ok := parseRecoveryPoint(rawIdx); ok && pos <= storeSize {
		o.rp = recoveryPoint{pos: pos, next: base + uint64(rel), ok: true}
	}
	rec, err := scanStore(store, storeSize, base, o)
	if err == nil && o.rp.ok && o.rp.pos <= rec.end && o.rp.next <= base+rec.n {
		rec.rp = o.rp
	}
	return rec, err
}

// trustIndex reports whether rawIdx is a cleanly closed index for the
// store: entries followed by a trailer whose magic, count and CRC match,
// each entry numbered in order with strictly increasing positions inside
// the store, and the first at position 0.
//
// The trailer was written after the store was fsynced, so every record it
// counts was durable: its last frame can never be a torn tail. When that
// frame fails to decode (bit rot), the index is still trusted and reading
// the record reports the damage. Only a last frame that decodes but does
// not end at the end of the store (bytes appended after the clean close)
// sends the open to a scan.
func trustIndex(store File, storeSize int64, rawIdx []byte, base uint64) (recovery, bool, error) {
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
	rec, ferr, err := readFrameAt(store, prev, storeSize-prev, false)
	if err != nil {
		return recovery{}, false, err
	}
	clean := recovery{clean: true, n: m, end: storeSize}
	if ferr != nil || rec.Offset != base+m-1 {
		return clean, true, nil // damaged, reported on read
	}
	if frameHeaderSize+int64(len(rec.Value))+payloadHeaderSize != storeSize-prev {
		return recovery{}, false, nil
	}
	clean.lastTS = rec.Timestamp
	return clean, true, nil
}

// readFrameAt reads and decodes the frame at pos; avail is how many store
// bytes exist from pos. With exact, the frame must fill avail. A damaged
// frame is a *frameError; an I/O failure is the error.
func readFrameAt(f File, pos, avail int64, exact bool) (Record, *frameError, error) {
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
// A damaged frame is either a torn tail, which a crash left unfinished and
// is cut off, or damage to bytes that had been written whole (bit rot),
// which is kept in the index as corrupt records so that reading them
// reports ErrCorrupt while the records after them stay readable. Which one
// is decided by what is known to have been durable:
//
//   - In a sealed segment (o.hasExpect) every record up to the next
//     segment's base was fsynced: damage anywhere is reported, never cut.
//   - Before the recovery point every byte was fsynced, so a crash cannot
//     have damaged it: damage there is reported, and the records between
//     it and the next valid frame (or the recovery point) are corrupt.
//   - At or after the recovery point nothing was fsynced: a power loss may
//     have kept later pages of that tail and lost earlier ones, so the
//     first damaged frame there starts the torn tail and is cut with
//     everything after it, even when valid frames follow. Those records
//     were never fsynced, which is exactly what the sync policy allowed to
//     be lost; cutting keeps the log a prefix of what was appended.
//   - Without a recovery point (an index lost or damaged) a damaged frame
//     followed by a valid frame with a later offset is reported, and one
//     that nothing valid follows is a torn tail.
func scanStore(store File, size int64, base uint64, o recoverOptions) (recovery, error) {
	rec := recovery{}
	r := bufio.NewReaderSize(io.NewSectionReader(store, 0, size), scanBufferBytes)
	buf := make([]byte, 0, 64<<10)
	pos, off := int64(0), base
	budget := 2*size + scanBufferBytes
	markCorrupt := func(to uint64) {
		for o := off; o < to; o++ {
			rec.positions = append(rec.positions, pos+int64(o-off))
			rec.corrupt = append(rec.corrupt, o)
		}
	}
	rp := o.rp
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
		synced := rp.ok && pos < rp.pos && rp.next > off
		if rp.ok && !synced && !o.hasExpect {
			break // the unsynced tail: cut
		}
		limit := size
		if synced && !o.hasExpect {
			limit = rp.pos // a frame starts there; past it nothing is synced
		}
		nextPos, nextOff, found, err := resync(store, size, limit, pos, off, &budget)
		if err != nil {
			return recovery{}, err
		}
		if !found && synced && !o.hasExpect {
			// Nothing valid before the recovery point: every record up to
			// it is damaged, and scanning goes on from it.
			nextPos, nextOff, found = rp.pos, rp.next, true
		}
		if !found {
			if budget < 0 && !o.hasExpect {
				// Whether valid frames follow is unknown: refuse to guess
				// rather than cut records that may be intact.
				return recovery{}, &CorruptError{Segment: store.Name(), Offset: off, Position: pos,
					Reason: "damaged frame; too much damage after it to tell a torn tail from bit rot"}
			}
			break
		}
		markCorrupt(nextOff)
		pos, off = nextPos, nextOff
		r.Reset(io.NewSectionReader(store, pos, size-pos))
	}
	// In a sealed segment the records up to the next segment's base were
	// written and synced before it was sealed; unreadable bytes there are
	// damage, not a torn tail.
	if o.hasExpect && o.expectNext > off && uint64(size-pos) >= o.expectNext-off {
		markCorrupt(o.expectNext)
		off, pos = o.expectNext, size
	}
	rec.n = off - base
	rec.end = pos
	return rec, nil
}

// resyncWindow is how much of the store a resync search reads at a time.
const resyncWindow = 256 << 10

// resync looks for the first valid frame after a damaged one at pos that
// should have held offset off, starting at or before limit. It first
// trusts the damaged frame's length field, then searches forward byte by
// byte for a frame whose offset is plausible: greater than off, and no more
// lost records than could fit in the skipped bytes. found is false when
// nothing valid follows.
//
// *budget bounds the bytes of candidate frames that may be CRC-checked
// across one whole scan, so that recovery stays linear in the store size
// however the bytes are damaged. Only a candidate whose length fits in the
// store and whose offset is plausible is charged: a length read from
// garbage (a flipped bit in a length field makes the first candidate land
// inside a frame) must not spend the budget, or the valid frames after the
// damage would never be found. Once spent, found is false and *budget is
// negative.
func resync(store File, size, limit, pos int64, off uint64, budget *int64) (nextPos int64, nextOff uint64, found bool, err error) {
	if size-pos < frameHeaderSize {
		return 0, 0, false, nil
	}
	// plausible reports whether a frame of payload length l holding offset
	// o may start at p.
	plausible := func(p, l int64, o uint64) bool {
		return p <= limit && l >= payloadHeaderSize && p+frameHeaderSize+l <= size &&
			o > off && o-off <= uint64((p-pos)/FrameOverhead)
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
		if size-cand >= frameHeaderSize+8 && cand <= limit {
			if _, err := store.ReadAt(hdr[:], cand); err != nil {
				return 0, 0, false, fmt.Errorf("segmentstore: read %s: %w", store.Name(), err)
			}
			l := int64(binary.LittleEndian.Uint32(hdr[0:4]))
			if o := binary.LittleEndian.Uint64(hdr[frameHeaderSize:]); o == off+1 && plausible(cand, l, o) {
				if ok, err := check(cand, l, off+1); err != nil || ok {
					return cand, off + 1, ok, err
				}
			}
		}
	}
	window := make([]byte, min(resyncWindow, size-pos))
	// Candidates start at least one minimal frame after pos: the damaged
	// frame occupied at least that much.
	for start := pos + FrameOverhead; start+FrameOverhead <= size && start <= limit && *budget >= 0; {
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
			o := binary.LittleEndian.Uint64(w[i+frameHeaderSize:])
			if !plausible(p, l, o) {
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
