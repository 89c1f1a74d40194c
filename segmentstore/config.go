package segmentstore

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults applied to zero Config fields. They are sized for real use: a
// 64 MiB segment keeps the file count low and the worst-case recovery scan
// of one unclean segment well under a second.
const (
	DefaultMaxStoreBytes    uint64        = 64 << 20
	DefaultMaxIndexBytes    uint64        = 10 << 20
	DefaultMaxRecordBytes   uint32        = 1<<20 + 1<<10 // 1 MiB of value plus headroom for a caller's envelope
	DefaultSync                           = SyncInterval
	DefaultSyncInterval     time.Duration = 100 * time.Millisecond
	DefaultWriteBufferBytes uint32        = 1 << 20
)

// Hard limits that no Config may exceed.
const (
	// MaxValueBytes is the largest value the frame format can carry: the
	// frame length is a uint32 that also covers the payload header.
	MaxValueBytes = 1<<32 - 1 - payloadHeaderSize
	// MinMaxStoreBytes keeps segments large enough to hold a few frames.
	MinMaxStoreBytes = 4 << 10
)

// SyncPolicy says when appended data is fsynced. See the package
// documentation for what each policy promises after a crash.
type SyncPolicy int

const (
	// SyncNone leaves flushing to the OS. Buffered bytes are written (not
	// fsynced) when the write buffer fills, on Sync (which does fsync) and on
	// Close.
	SyncNone SyncPolicy = iota
	// SyncInterval writes and fsyncs at most every Config.SyncInterval from
	// a background goroutine owned by the Log (or standalone Segment) and
	// stopped by Close.
	SyncInterval
	// SyncAlways writes and fsyncs before Append returns.
	SyncAlways
)

var syncPolicyNames = [...]string{SyncNone: "none", SyncInterval: "interval", SyncAlways: "always"}

// String returns "none", "interval" or "always".
func (p SyncPolicy) String() string {
	if p < 0 || int(p) >= len(syncPolicyNames) {
		return fmt.Sprintf("SyncPolicy(%d)", int(p))
	}
	return syncPolicyNames[p]
}

// ParseSyncPolicy parses "none", "interval" or "always" (case-insensitive).
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	for i, n := range syncPolicyNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return SyncPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown sync policy %q (want none, interval or always)", ErrInvalidConfig, s)
}

// MarshalText lets a SyncPolicy appear in text configuration files.
func (p SyncPolicy) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(syncPolicyNames) {
		return nil, fmt.Errorf("%w: unknown sync policy %d", ErrInvalidConfig, int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText is the inverse of MarshalText.
func (p *SyncPolicy) UnmarshalText(b []byte) error {
	v, err := ParseSyncPolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Config tunes a Segment or Log. Zero fields take the Default* constants,
// so Config{} is valid.
type Config struct {
	// MaxStoreBytes rolls the segment over once its store file reaches this
	// size. A single batch appended to an empty segment may exceed it.
	// Default DefaultMaxStoreBytes; at least MinMaxStoreBytes.
	MaxStoreBytes uint64
	// MaxIndexBytes rolls the segment over once its index reaches this size
	// (IndexEntryBytes per record). The index file is preallocated to it
	// while the segment is active. Default DefaultMaxIndexBytes; at least
	// one entry.
	MaxIndexBytes uint64
	// MaxRecordBytes is the largest value accepted; larger ones fail with
	// ErrRecordTooLarge. Default DefaultMaxRecordBytes; at most MaxValueBytes.
	MaxRecordBytes uint32
	// Sync is the fsync policy. The zero value is SyncNone, so a Config
	// built by hand that wants the default must start from DefaultConfig().
	Sync SyncPolicy
	// SyncInterval is the fsync period under SyncInterval, and so the
	// longest window of acknowledged appends a power loss can take.
	// Default DefaultSyncInterval.
	SyncInterval time.Duration
	// WriteBufferBytes is how many bytes of frames are held in memory
	// before they are written to the store file in one write(2). Larger
	// writes approach the disk's sequential bandwidth (1 MiB measured
	// better than 256 KiB here; see docs/BENCHMARKS.md). A batch larger than
	// the buffer is written whole. Default DefaultWriteBufferBytes.
	WriteBufferBytes uint32
	// RetentionBytes bounds the total store bytes kept: whole sealed
	// segments are deleted from the front until the log fits. 0 means
	// unlimited.
	RetentionBytes uint64
	// RetentionAge deletes sealed segments whose newest record is older
	// than this. 0 means unlimited.
	RetentionAge time.Duration
	// InitialOffset is the base offset of the first segment of an empty
	// log. It is ignored when the directory already holds segments.
	InitialOffset uint64
	// Written, when set, counts every byte the Segment or Log writes to
	// its files: frames, index entries and index trailers. It is the
	// write-amplification figure (bytes written per record kept), so it
	// counts what the store asks the file system to write, not what the
	// device does with it. nil counts nothing.
	Written *atomic.Uint64
	// FS is the file system the files live on. nil means the operating
	// system's (OSFS). Tests inject a layer that simulates power loss or a
	// full disk here; its files must be memory-mappable (see OSFile).
	FS FS
}

// DefaultConfig returns a Config with every default filled in, including
// Sync: SyncInterval (the zero SyncPolicy is SyncNone).
func DefaultConfig() Config {
	return Config{
		MaxStoreBytes:    DefaultMaxStoreBytes,
		MaxIndexBytes:    DefaultMaxIndexBytes,
		MaxRecordBytes:   DefaultMaxRecordBytes,
		Sync:             DefaultSync,
		SyncInterval:     DefaultSyncInterval,
		WriteBufferBytes: DefaultWriteBufferBytes,
	}
}

// withDefaults fills zero fields. Sync is left alone: its zero value is a
// real policy.
func (c Config) withDefaults() Config {
	if c.MaxStoreBytes == 0 {
		c.MaxStoreBytes = DefaultMaxStoreBytes
	}
	if c.MaxIndexBytes == 0 {
		c.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.WriteBufferBytes == 0 {
		c.WriteBufferBytes = DefaultWriteBufferBytes
	}
	c.FS = fsOr(c.FS)
	return c
}

// Validate reports the first bad field, wrapped around ErrInvalidConfig.
// Zero fields are valid: they take defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.MaxStoreBytes < MinMaxStoreBytes:
		return bad("MaxStoreBytes", "%d is below the minimum %d", c.MaxStoreBytes, MinMaxStoreBytes)
	case c.MaxIndexBytes < IndexEntryBytes:
		return bad("MaxIndexBytes", "%d is below one entry (%d bytes)", c.MaxIndexBytes, IndexEntryBytes)
	case c.MaxIndexBytes/IndexEntryBytes > 1<<32-2:
		// Relative offsets are stored as uint32.
		return bad("MaxIndexBytes", "%d holds more than 2^32-2 entries", c.MaxIndexBytes)
	case uint64(c.MaxRecordBytes) > MaxValueBytes:
		return bad("MaxRecordBytes", "%d exceeds the frame limit %d", c.MaxRecordBytes, uint64(MaxValueBytes))
	case c.Sync < SyncNone || c.Sync > SyncAlways:
		return bad("Sync", "unknown policy %d", int(c.Sync))
	case c.SyncInterval < 0:
		return bad("SyncInterval", "negative duration %s", c.SyncInterval)
	case c.RetentionAge < 0:
		return bad("RetentionAge", "negative duration %s", c.RetentionAge)
	}
	return nil
}
