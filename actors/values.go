package actors

import (
	"encoding/binary"
	"errors"
	"fmt"

	"actorlog/consensus"
	"actorlog/messages"
	"actorlog/segmentstore"
)

// ValueSource reads the records of a raft entry: in data format 2 a record
// the FSM appends keeps only a reference to its entry (Record.in_entry),
// and its value is read from the raft log (docs/DESIGN.md, "Data directory
// formats"). The node's is consensus.SegmentLogStore. It is called from
// segment actors, concurrently, so it must be safe for that.
type ValueSource interface {
	// EntryRecords returns the records of the produce entry at index.
	// It wraps consensus.ErrEntryGone when the entry is not on disk and
	// consensus.ErrClosed when the raft log is closed.
	EntryRecords(index uint64) ([]*messages.Record, error)
}

// refFlag marks, in a frame's term field (which holds the raft index), a
// record whose value is the uvarint position of the record in that raft
// entry rather than the value itself. Raft indexes never reach 2^63, and
// format 1 never sets it, so the two kinds of frame cannot be confused.
const refFlag = uint64(1) << 63

var (
	// errValueGone: a record refers to a raft entry that is not on disk
	// (or does not hold it). The replica is damaged.
	errValueGone = errors.New("the raft entry holding the record's value is not on disk")
	// errValuesUnavailable: the value source cannot be read now.
	errValuesUnavailable = errors.New("the raft log is not open")
)

// entryCache keeps the records of the raft entry a segment actor read
// last: a consumer that reads an entry's records a few at a time costs one
// read and decode of the entry, not one per request.
type entryCache struct {
	index uint64
	recs  []*messages.Record
}

// resolve replaces every reference in recs by the value it refers to, and
// keeps only as many records as fit maxBytes of values (at least one):
// the segment counted the references' bytes, not the values'.
func (a *segmentActor) resolve(recs []segmentstore.Record, maxBytes int) ([]segmentstore.Record, error) {
	bytes := 0
	for i := range recs {
		r := &recs[i]
		if r.Term&refFlag != 0 {
			v, err := a.valueOf(r.Term&^refFlag, r.Value)
			if err != nil {
				if i > 0 {
					// Serve what was found; the next read reports it.
					return recs[:i], nil
				}
				return nil, err
			}
			r.Value = v
		}
		if maxBytes > 0 && i > 0 && bytes+len(r.Value) > maxBytes {
			return recs[:i], nil
		}
		bytes += len(r.Value)
	}
	return recs, nil
}

// maxRefBytes is the most bytes one reference takes: the record's
// position in its entry and its value's length, each a uvarint.
const maxRefBytes = 2 * binary.MaxVarintLen64

// appendRef encodes a reference: the record's position in its raft entry,
// then its value's length, which lets the segment count the bytes it stands
// for without reading the entry.
func appendRef(b []byte, pos uint32, valueLen int) []byte {
	b = binary.AppendUvarint(b, uint64(pos))
	return binary.AppendUvarint(b, uint64(valueLen))
}

// parseRef decodes a reference.
func parseRef(ref []byte) (pos uint64, valueLen uint64, ok bool) {
	pos, n := binary.Uvarint(ref)
	if n <= 0 {
		return 0, 0, false
	}
	valueLen, m := binary.Uvarint(ref[n:])
	if m <= 0 || n+m != len(ref) {
		return 0, 0, false
	}
	return pos, valueLen, true
}

// size is the segment's size as roll-over and retention count it: its
// files, plus the values its references stand for. Without it, a segment
// of references would roll over, and retention by bytes would let go,
// only after some thirty times the records that the limits say.
func (a *segmentActor) size() uint64 {
	return uint64(a.seg.Size() + a.referred)
}

// countReferred sets referred from the segment's frames (after an open or
// a truncation); only a log with a ValueSource can hold references.
func (a *segmentActor) countReferred() {
	a.referred = 0
	if a.spec.values == nil {
		return
	}
	for off, next := a.seg.BaseOffset(), a.seg.NextOffset(); off < next; {
		recs, err := a.seg.ReadRange(off, 64<<10, 0)
		if err != nil || len(recs) == 0 {
			// Damage is reported when the record is read or scrubbed; the
			// size only steers roll-over and retention.
			return
		}
		for _, r := range recs {
			if r.Term&refFlag == 0 {
				continue
			}
			if _, n, ok := parseRef(r.Value); ok {
				a.referred += int64(n) - int64(len(r.Value))
			}
		}
		off = recs[len(recs)-1].Offset + 1
	}
}

// valueOf returns the value of the record at position ref (uvarint) in the
// raft entry at index.
func (a *segmentActor) valueOf(index uint64, ref []byte) ([]byte, error) {
	pos, valueLen, ok := parseRef(ref)
	if !ok {
		return nil, fmt.Errorf("%w: raft entry %d: reference of %d bytes does not decode", errValueGone, index, len(ref))
	}
	if a.entry.recs == nil || a.entry.index != index {
		src := a.spec.values
		if src == nil {
			return nil, fmt.Errorf("%w: raft entry %d: this log reads no raft entries", errValueGone, index)
		}
		recs, err := src.EntryRecords(index)
		if err != nil {
			if errors.Is(err, consensus.ErrClosed) {
				return nil, fmt.Errorf("%w: %v", errValuesUnavailable, err)
			}
			return nil, fmt.Errorf("%w: %v", errValueGone, err)
		}
		a.entry = entryCache{index: index, recs: recs}
	}
	if pos >= uint64(len(a.entry.recs)) {
		return nil, fmt.Errorf("%w: raft entry %d holds %d records, not %d", errValueGone, index, len(a.entry.recs), pos+1)
	}
	v := a.entry.recs[pos].GetValue()
	if uint64(len(v)) != valueLen {
		return nil, fmt.Errorf("%w: raft entry %d: record %d holds %d bytes, the reference says %d", errValueGone, index, pos, len(v), valueLen)
	}
	return v, nil
}

// CutDanglingReferences makes the record log agree with the raft log
// before either is used, in data format 2. Under the relaxed fsync
// policies a power loss can keep records that refer to raft entries which
// it took (the two logs are different files, written back in no particular
// order), and raft later writes other entries at those indexes: served,
// those records would show another record's bytes. Every record from the
// first one that refers to an entry at or past the raft log's end is cut,
// as if the power loss had taken it too; raft indexes grow with offsets,
// so those are the log's tail. Nothing acknowledged under --sync always is
// cut: there an entry is on disk before it commits, and a record refers to
// it only after that. The FSM's state file never says more is stored than
// what survives this (FSMConfig.SyncValues). It runs before the log actor opens dir, and
// returns how many records it cut. A record log too damaged to open is
// left to the log actor, which reports the damage.
func CutDanglingReferences(dir string, storage segmentstore.Config, end uint64) (cut uint64, err error) {
	storage.Sync = segmentstore.SyncNone // only reads and a truncation
	bases, err := segmentstore.ListSegments(dir)
	if err != nil || len(bases) == 0 {
		return 0, err
	}
	dangling := func(seg *segmentstore.Segment, off uint64) (bool, error) {
		r, err := seg.Read(off)
		if err != nil {
			return false, err
		}
		return r.Term&refFlag != 0 && r.Term&^refFlag >= end, nil
	}
	// Walk back from the last segment, each opened as the log actor opens
	// it (sealed ones read-only, so that nothing of a damaged one is
	// changed here): whole segments that dangle, then the first dangling
	// record of the segment before them. Damage stops the walk: it is the
	// log actor's to report and the node's to repair, which rebuilds both
	// logs from a peer.
	var (
		at    uint64
		found bool
		k     int // the segment that holds at
		last  = len(bases) - 1
		total uint64
	)
	for i := last; i >= 0; i-- {
		var seg *segmentstore.Segment
		if i == last {
			seg, err = segmentstore.OpenSegment(dir, bases[i], storage)
		} else {
			seg, err = segmentstore.OpenSealedSegmentRange(dir, bases[i], bases[i+1], storage)
		}
		if err != nil {
			break
		}
		base, next := seg.BaseOffset(), seg.NextOffset()
		if i == last {
			total = next
		}
		stop := func() bool {
			defer seg.Close()
			if next == base {
				return false // an empty active segment
			}
			if d, err := dangling(seg, next-1); err != nil || !d {
				return true
			}
			d, err := dangling(seg, base)
			if err != nil {
				return true // damage: what was found so far is cut
			}
			at, found, k = base, true, i
			if d {
				return false // the whole segment dangles: look before it
			}
			lo, hi := base, next-1 // lo does not dangle, hi does
			for hi-lo > 1 {
				mid := lo + (hi-lo)/2
				d, err := dangling(seg, mid)
				if err != nil {
					break // everything from hi dangles; cut only that
				}
				if d {
					hi = mid
				} else {
					lo = mid
				}
			}
			at = hi
			return true
		}()
		if stop {
			break
		}
	}
	if !found {
		return 0, nil
	}
	for i := last; i > k; i-- {
		seg, err := segmentstore.OpenSegment(dir, bases[i], storage)
		if err == nil {
			err = seg.Remove()
		}
		if err != nil {
			return 0, fmt.Errorf("%w: remove segment %d, whose records refer to raft entries a power loss took: %v", ErrStorageFailed, bases[i], err)
		}
	}
	seg, err := segmentstore.OpenSegment(dir, bases[k], storage)
	if err != nil {
		return 0, fmt.Errorf("%w: open segment %d to cut records that refer to raft entries a power loss took: %v", ErrStorageFailed, bases[k], err)
	}
	if err := seg.TruncateFrom(at); err != nil {
		_ = seg.Close()
		return 0, fmt.Errorf("%w: cut segment %d at %d: %v", ErrStorageFailed, bases[k], at, err)
	}
	if err := seg.Close(); err != nil {
		return 0, fmt.Errorf("%w: close segment %d: %v", ErrStorageFailed, bases[k], err)
	}
	fsys := storage.FS
	if fsys == nil {
		fsys = segmentstore.OSFS{}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return 0, fmt.Errorf("%w: sync %s: %v", ErrStorageFailed, dir, err)
	}
	if total < at {
		total = at
	}
	return total - at, nil
}
