package segmentstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Reader returns the frames of every record held when it is called, oldest
// first, in the store file format (see DecodeFrame): the stream a snapshot
// saves and Restore reads back. It takes no lock between reads, so appends
// continue meanwhile; if retention or truncation removes a segment before
// the reader has passed it, Read returns an error (ErrClosed or a short
// read).
func (l *Log) Reader() io.Reader {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errReader{ErrClosed}
	}
	parts := make([]io.Reader, 0, len(l.segs))
	for _, s := range l.segs {
		parts = append(parts, io.NewSectionReader(segmentReaderAt{s}, 0, s.Size()))
	}
	return io.MultiReader(parts...)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// segmentReaderAt exposes a segment's logical store content, including
// frames still in its write buffer.
type segmentReaderAt struct{ s *Segment }

func (r segmentReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := r.s.readRaw(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Restore creates a log in dir from a stream written by Log.Reader. dir
// must hold no segments (ErrNotEmpty otherwise). Offsets, terms and
// timestamps are kept: the log starts at the first frame's offset (at
// c.InitialOffset for an empty stream). Every frame is checked: a damaged
// frame or a gap in the offsets fails with ErrCorrupt, and the partly
// restored log is removed.
func Restore(dir string, c Config, r io.Reader) (*Log, error) {
	bases, err := ListSegments(dir)
	if err != nil {
		return nil, err
	}
	if len(bases) > 0 {
		return nil, fmt.Errorf("%w: %s holds %d segments", ErrNotEmpty, dir, len(bases))
	}
	fr := newFrameReader(r, c.withDefaults().MaxRecordBytes)
	first, err := fr.next()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err == nil {
		c.InitialOffset = first.Offset
	}
	l, err := Open(dir, c)
	if err != nil {
		return nil, err
	}
	if fr.n > 0 {
		l.writeMu.Lock()
		err := l.restoreFromLocked(first, fr)
		l.writeMu.Unlock()
		if err != nil {
			_ = l.Remove()
			return nil, err
		}
	}
	return l, nil
}

// Restore replaces the log's whole content with a stream written by
// Reader, keeping offsets, terms and timestamps. It is not atomic: on error
// the log holds a prefix of the stream (possibly nothing), and the caller
// restores again.
func (l *Log) Restore(r io.Reader) error {
	fr := newFrameReader(r, l.cfg.MaxRecordBytes)
	first, err := fr.next()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	base := l.active().NextOffset()
	if err == nil {
		base = first.Offset
	}
	// Drop everything, then start over at the stream's first offset.
	l.mu.Lock()
	gone := l.segs
	l.segs = nil
	l.mu.Unlock()
	for _, s := range gone {
		if err := s.Remove(); err != nil {
			return err
		}
	}
	if err := l.newSegmentLocked(base); err != nil {
		return err
	}
	if fr.n == 0 {
		return nil
	}
	return l.restoreFromLocked(first, fr)
}

// restoreBatchBytes bounds the memory a restore holds before appending.
const restoreBatchBytes = 1 << 20

// restoreFromLocked appends first and the rest of fr, checking that
// offsets are dense. The caller holds writeMu.
func (l *Log) restoreFromLocked(first Record, fr *frameReader) error {
	batch := []Record{first}
	size := len(first.Value)
	want := first.Offset + 1
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := l.appendLocked(batch); err != nil {
			return err
		}
		batch, size = batch[:0], 0
		return nil
	}
	for {
		rec, err := fr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if rec.Offset != want {
			return fmt.Errorf("%w: restore stream jumps from offset %d to %d", ErrCorrupt, want-1, rec.Offset)
		}
		want++
		batch = append(batch, rec)
		size += len(rec.Value)
		if size >= restoreBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// frameReader decodes frames from a stream. Each record's Value is freshly
// allocated, since records are batched before being appended.
type frameReader struct {
	r        *bufio.Reader
	maxValue uint32
	n        int // frames read
}

func newFrameReader(r io.Reader, maxValue uint32) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 256<<10), maxValue: maxValue}
}

// next returns io.EOF at a clean end of stream, ErrCorrupt for a damaged or
// truncated frame.
func (f *frameReader) next() (Record, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Record{}, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Record{}, fmt.Errorf("%w: restore stream ends inside a frame header", ErrCorrupt)
		}
		return Record{}, err
	}
	l := binary.LittleEndian.Uint32(hdr[0:4])
	if l < payloadHeaderSize {
		return Record{}, fmt.Errorf("%w: restore stream frame %d has a bad length %d", ErrCorrupt, f.n, l)
	}
	if uint64(l)-payloadHeaderSize > uint64(f.maxValue) {
		return Record{}, fmt.Errorf("%w: restore stream frame %d holds %d bytes, limit %d",
			ErrRecordTooLarge, f.n, uint64(l)-payloadHeaderSize, f.maxValue)
	}
	b := make([]byte, frameHeaderSize+int(l))
	copy(b, hdr[:])
	if _, err := io.ReadFull(f.r, b[frameHeaderSize:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Record{}, fmt.Errorf("%w: restore stream ends inside frame %d", ErrCorrupt, f.n)
		}
		return Record{}, err
	}
	rec, ferr := decodeFrame(b)
	if ferr != nil {
		return Record{}, fmt.Errorf("%w: restore stream frame %d: %s", ErrCorrupt, f.n, ferr.reason)
	}
	f.n++
	return rec, nil
}
