package consensus

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// A raft entry is stored as one segmentstore record. The frame already
// carries a CRC-checked offset, term and timestamp, so those hold the
// entry's Index, Term and AppendedAt (as Unix nanoseconds), and the value
// carries only the rest:
//
//	version    byte   entryCodecVersion
//	type       byte   raft.LogType
//	flags      byte   flagAppendedAt | flagExtensions
//	[extLen    uvarint, extensions]  when flagExtensions
//	data       the rest of the value
//
// That is three bytes of overhead for an entry without extensions.
const (
	entryCodecVersion = 1
	entryHeaderSize   = 3

	// flagAppendedAt marks a meaningful timestamp: the zero time.Time has
	// no Unix-nanosecond form, so it is stored as "absent".
	flagAppendedAt = 1 << 0
	flagExtensions = 1 << 1
)

// encodeEntryValue appends the value encoding of l to dst.
func encodeEntryValue(dst []byte, l *raft.Log) []byte {
	var flags byte
	if !l.AppendedAt.IsZero() {
		flags |= flagAppendedAt
	}
	if len(l.Extensions) > 0 {
		flags |= flagExtensions
	}
	dst = append(dst, entryCodecVersion, byte(l.Type), flags)
	if flags&flagExtensions != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
		dst = append(dst, l.Extensions...)
	}
	return append(dst, l.Data...)
}

// entryTimestamp is the record timestamp for l (0 when AppendedAt is unset).
func entryTimestamp(l *raft.Log) int64 {
	if l.AppendedAt.IsZero() {
		return 0
	}
	return l.AppendedAt.UnixNano()
}

// decodeEntryValue fills out from a record's fields. Data and Extensions
// alias value, which the caller must not reuse.
func decodeEntryValue(index, term uint64, ts int64, value []byte, out *raft.Log) error {
	if len(value) < entryHeaderSize {
		return fmt.Errorf("%w: raft entry %d: value of %d bytes is shorter than its header", ErrCorrupt, index, len(value))
	}
	if value[0] != entryCodecVersion {
		return fmt.Errorf("%w: raft entry %d: unknown codec version %d", ErrCorrupt, index, value[0])
	}
	flags := value[2]
	if flags&^(flagAppendedAt|flagExtensions) != 0 {
		return fmt.Errorf("%w: raft entry %d: unknown flags %#x", ErrCorrupt, index, flags)
	}
	*out = raft.Log{Index: index, Term: term, Type: raft.LogType(value[1])}
	if flags&flagAppendedAt != 0 {
		out.AppendedAt = time.Unix(0, ts)
	}
	rest := value[entryHeaderSize:]
	if flags&flagExtensions != 0 {
		ext, err := readBytes(&rest)
		if err != nil {
			return fmt.Errorf("%w: raft entry %d: extensions: %w", ErrCorrupt, index, err)
		}
		out.Extensions = ext
	}
	if len(rest) > 0 {
		out.Data = rest
	}
	return nil
}
