package segmentstore

import (
	"errors"
	"fmt"
	"syscall"
)

// Errors returned by this package. Match them with errors.Is: the typed
// errors below (*CorruptError, *OffsetOutOfRangeError) unwrap to their
// sentinel, and other errors are wrapped with %w to add detail.
var (
	// ErrClosed is returned by every method of a closed Segment or Log.
	ErrClosed = errors.New("segmentstore: closed")
	// ErrCorrupt means bytes on disk failed validation (CRC, length or
	// offset). The data is never served; the concrete error is a
	// *CorruptError naming the segment and offset.
	ErrCorrupt = errors.New("segmentstore: corrupt data")
	// ErrOffsetOutOfRange means the offset is below the lowest or at/after
	// the next offset. The concrete error is an *OffsetOutOfRangeError.
	ErrOffsetOutOfRange = errors.New("segmentstore: offset out of range")
	// ErrRecordTooLarge means a value is larger than Config.MaxRecordBytes.
	// Nothing of the batch was written.
	ErrRecordTooLarge = errors.New("segmentstore: record too large")
	// ErrSegmentFull means the batch does not fit into a non-empty segment;
	// the caller seals it and rolls over to a new one. Log does this itself.
	ErrSegmentFull = errors.New("segmentstore: segment full")
	// ErrSealed is returned when appending to or truncating a sealed
	// (read-only) segment.
	ErrSealed = errors.New("segmentstore: segment sealed")
	// ErrInvalidConfig is wrapped by Config.Validate with the bad field's name.
	ErrInvalidConfig = errors.New("segmentstore: invalid config")
	// ErrLocked means another Log (in this or another process) holds the
	// directory. Two writers on one directory would corrupt it.
	ErrLocked = errors.New("segmentstore: directory locked by another log")
	// ErrNotEmpty is returned by Restore when the target already holds
	// segments.
	ErrNotEmpty = errors.New("segmentstore: directory not empty")
	// ErrDiskFull means a write failed for lack of space (ENOSPC or a
	// quota). The concrete error is a *DiskFullError naming the file. The
	// failed write was undone, so the error is not sticky: appends succeed
	// again once space is freed, without reopening.
	ErrDiskFull = errors.New("segmentstore: disk full")
)

// DiskFullError reports a write that found no space on the file system
// holding Path. errors.Is(err, ErrDiskFull) is true for it, and so is
// errors.Is(err, syscall.ENOSPC) (or EDQUOT) through Err.
type DiskFullError struct {
	Path string // the file being written
	Err  error  // the operating system's error
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("segmentstore: disk full: writing %s: %v", e.Path, e.Err)
}

// Unwrap makes errors.Is match ErrDiskFull and the operating system's error.
func (e *DiskFullError) Unwrap() []error { return []error{ErrDiskFull, e.Err} }

// isNoSpace reports whether err is the file system running out of space.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// CorruptError describes bytes that failed validation. errors.Is(err,
// ErrCorrupt) is true for it.
type CorruptError struct {
	Segment  string // path of the store file
	Offset   uint64 // record offset whose frame is damaged
	Position int64  // byte position of the frame in the store file
	Reason   string // what check failed
	// End, when above Offset, is one past the last offset of a run of
	// damaged records [Offset, End) (as Segment.Damaged reports them);
	// 0 means the one record at Offset.
	End uint64
}

func (e *CorruptError) Error() string {
	if e.End > e.Offset+1 {
		return fmt.Sprintf("segmentstore: corrupt data in %s at offsets %d-%d (position %d): %s",
			e.Segment, e.Offset, e.End-1, e.Position, e.Reason)
	}
	return fmt.Sprintf("segmentstore: corrupt data in %s at offset %d (position %d): %s",
		e.Segment, e.Offset, e.Position, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// OffsetOutOfRangeError reports an offset outside [Low, Next). errors.Is(err,
// ErrOffsetOutOfRange) is true for it.
type OffsetOutOfRangeError struct {
	Offset uint64 // the offset asked for
	Low    uint64 // lowest offset held
	Next   uint64 // one past the highest offset held
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("segmentstore: offset %d out of range [%d, %d)", e.Offset, e.Low, e.Next)
}

// Unwrap makes errors.Is(err, ErrOffsetOutOfRange) true.
func (e *OffsetOutOfRangeError) Unwrap() error { return ErrOffsetOutOfRange }
