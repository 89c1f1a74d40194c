package segmentstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Frame layout in a store file (all integers little-endian):
//
//	length  uint32  bytes of payload that follow the header
//	crc     uint32  CRC-32C (Castagnoli) of the payload
//	payload:
//	  offset    uint64
//	  term      uint64
//	  timestamp int64
//	  value     [length-24]byte
//
// Fixed-width fields keep decoding branch-free and let a reader compute a
// record's value size from index positions alone.
const (
	frameHeaderSize   = 8
	payloadHeaderSize = 24
	// FrameOverhead is the bytes a record costs on disk besides its value.
	FrameOverhead = frameHeaderSize + payloadHeaderSize
)

// castagnoli is hardware-accelerated on amd64 and arm64, which keeps CRC
// checks on every read cheap.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameSize is the on-disk size of a record with a value of n bytes.
func frameSize(n int) int { return FrameOverhead + n }

// appendFrame encodes one frame at the end of dst and returns the extended
// slice. It allocates only when dst must grow.
func appendFrame(dst []byte, offset, term uint64, ts int64, value []byte) []byte {
	n := len(dst)
	need := frameSize(len(value))
	if cap(dst)-n < need {
		grown := make([]byte, n, 2*cap(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:n+need]
	f := dst[n:]
	binary.LittleEndian.PutUint32(f[0:4], uint32(payloadHeaderSize+len(value)))
	binary.LittleEndian.PutUint64(f[8:16], offset)
	binary.LittleEndian.PutUint64(f[16:24], term)
	binary.LittleEndian.PutUint64(f[24:32], uint64(ts))
	copy(f[32:], value)
	binary.LittleEndian.PutUint32(f[4:8], crc32.Checksum(f[frameHeaderSize:], castagnoli))
	return dst
}

// frameError is why a frame failed to decode; callers turn it into a
// *CorruptError with the segment and position they know.
type frameError struct{ reason string }

func (e *frameError) Error() string { return e.reason }

func frameErr(format string, args ...any) *frameError {
	return &frameError{reason: fmt.Sprintf(format, args...)}
}

// frameLength validates a frame header and returns the total frame size
// (header + payload). avail is how many bytes exist from the frame start;
// a frame that runs past it is torn or its length field is damaged.
func frameLength(hdr []byte, avail int64) (int64, *frameError) {
	if len(hdr) < frameHeaderSize || avail < frameHeaderSize {
		return 0, frameErr("truncated frame header")
	}
	l := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	if l < payloadHeaderSize {
		return 0, frameErr("frame length %d below the payload header size", l)
	}
	if frameHeaderSize+l > avail {
		return 0, frameErr("frame length %d runs past the end of the data", l)
	}
	return frameHeaderSize + l, nil
}

// decodeFrame decodes the single frame that b must hold exactly. The
// returned Value aliases b. It never panics, whatever b holds.
func decodeFrame(b []byte) (Record, *frameError) {
	size, ferr := frameLength(b, int64(len(b)))
	if ferr != nil {
		return Record{}, ferr
	}
	if size != int64(len(b)) {
		return Record{}, frameErr("frame length %d does not match its slot of %d bytes", size-frameHeaderSize, len(b)-frameHeaderSize)
	}
	payload := b[frameHeaderSize:]
	if want, got := binary.LittleEndian.Uint32(b[4:8]), crc32.Checksum(payload, castagnoli); want != got {
		return Record{}, frameErr("crc mismatch: stored %08x, computed %08x", want, got)
	}
	return Record{
		Offset:    binary.LittleEndian.Uint64(payload[0:8]),
		Term:      binary.LittleEndian.Uint64(payload[8:16]),
		Timestamp: int64(binary.LittleEndian.Uint64(payload[16:24])),
		// The capacity is clipped so that appending to one Value can never
		// overwrite the next record's bytes when several share a buffer.
		Value: payload[payloadHeaderSize:len(payload):len(payload)],
	}, nil
}

// DecodeFrame decodes one frame from the front of b, as written in store
// files and by Log.Reader, and returns the record (its Value aliases b) and
// the bytes consumed. A damaged or incomplete frame gives an error wrapping
// ErrCorrupt.
func DecodeFrame(b []byte) (Record, int, error) {
	size, ferr := frameLength(b, int64(len(b)))
	if ferr != nil {
		return Record{}, 0, fmt.Errorf("%w: %s", ErrCorrupt, ferr.reason)
	}
	r, ferr := decodeFrame(b[:size])
	if ferr != nil {
		return Record{}, 0, fmt.Errorf("%w: %s", ErrCorrupt, ferr.reason)
	}
	return r, int(size), nil
}

// AppendFrame appends the frame encoding of r to dst, in the format
// DecodeFrame reads.
func AppendFrame(dst []byte, r Record) []byte {
	return appendFrame(dst, r.Offset, r.Term, r.Timestamp, r.Value)
}
