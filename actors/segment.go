package actors

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// segmentSpec is what a segment actor needs to (re)open its files. It is
// fixed at spawn time; a restarted instance gets the same spec.
type segmentSpec struct {
	dir    string
	base   uint64
	cfg    segmentstore.Config
	epoch  uint64
	sealed bool // open read-only: an older segment found at startup
	// next, when above base, is where a sealed segment ends (the next
	// segment's base): its open then reports damaged records at its end
	// instead of cutting them as a torn tail.
	next uint64
	log  *logrus.Entry
	tr   actorTracer
	// values reads the values of records that refer to their raft entry
	// (data format 2); nil when the log holds none.
	values ValueSource
}

// segmentName is the child name of the segment actor for base.
func segmentName(base uint64) string { return "segment-" + strconv.FormatUint(base, 10) }

// segmentActor is the single writer of one segment's files. It owns a
// *segmentstore.Segment and nothing else; every request comes from its
// parent, the log actor, and every reply goes back there.
//
// Storage errors it cannot answer meaningfully (an I/O error, a sticky
// write error, a file that will not open) make it panic: its in-memory
// state may no longer match the disk, and the supervisor's restart reopens
// the files and rebuilds that state from them. The supervisor answers the
// request that was being handled, which is otherwise lost.
type segmentActor struct {
	spec segmentSpec
	seg  *segmentstore.Segment
	// armed makes the next append panic after it reached the segment
	// (fault injection). A restart clears it.
	armed bool
	// recs is reused between appends so that converting a batch does not
	// allocate once the buffer has grown to the usual batch size.
	recs []segmentstore.Record
	// refs holds the encoded references of an append's records that
	// refer to their raft entry; reused like recs.
	refs []byte
	// entry caches the records of the raft entry read last, so that
	// reading an entry's records one request at a time decodes it once.
	entry entryCache
	// referred is how many more bytes the values that the segment's
	// references stand for take than the references themselves: the
	// segment's size as roll-over and retention count it (size).
	referred int64
}

func newSegmentProps(spec segmentSpec) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &segmentActor{spec: spec} })
}

func (a *segmentActor) Receive(ctx actor.Context) {
	if a.seg == nil {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Restarting, *actor.Stopping, *actor.Stopped:
		default:
			return // removed: the log sends nothing more
		}
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.open(ctx)
	case *actor.Restarting:
		a.close("restarting")
	case *actor.Stopping:
		a.close("stopping")
	case *messages.SegmentAppend:
		a.append(ctx, m)
	case *messages.SegmentRead:
		a.read(ctx, m)
	case *messages.SegmentSeal:
		if err := a.seg.Seal(); err != nil {
			panic(fmt.Errorf("seal segment %d: %w", a.spec.base, err))
		}
		a.spec.sealed, a.spec.next = true, a.seg.NextOffset()
		ctx.Send(ctx.Parent(), &messages.SegmentSealed{
			Epoch: m.GetEpoch(), RequestId: m.GetRequestId(),
			SizeBytes: a.size(), LastAppendUnixNano: a.seg.LastAppendTime().UnixNano(),
		})
	case *messages.SegmentTruncate:
		if err := a.seg.TruncateFrom(m.GetFromOffset()); err != nil {
			panic(fmt.Errorf("truncate segment %d at %d: %w", a.spec.base, m.GetFromOffset(), err))
		}
		a.countReferred()
		ctx.Send(ctx.Parent(), &messages.SegmentTruncated{
			Epoch: m.GetEpoch(), RequestId: m.GetRequestId(),
			NextOffset: a.seg.NextOffset(), SizeBytes: a.size(),
		})
	case *messages.SegmentRemove:
		reply := &messages.SegmentRemoved{Epoch: m.GetEpoch(), RequestId: m.GetRequestId()}
		if err := a.seg.Remove(); err != nil {
			reply.Error = err.Error()
		}
		a.seg = nil
		ctx.Send(ctx.Parent(), reply)
	case *messages.LogSync:
		// Sent by the log with the asker as the sender.
		if err := a.seg.Sync(); err != nil {
			panic(fmt.Errorf("sync segment %d: %w", a.spec.base, err))
		}
		ctx.Respond(&messages.LogSynced{})
	case *messages.SegmentFault:
		if m.GetMode() == messages.FaultMode_FAULT_PANIC_AFTER_NEXT_APPEND {
			a.armed = true
			return
		}
		panic(fmt.Errorf("%w: segment %d", ErrInjectedFault, a.spec.base))
	}
}

// open (re)opens the files and reports the recovered state to the log.
func (a *segmentActor) open(ctx actor.Context) {
	_, statErr := os.Stat(fileOf(a.spec.dir, a.spec.base))
	created := errors.Is(statErr, os.ErrNotExist)
	open := segmentstore.OpenSegment
	if a.spec.sealed {
		// Read-only: no preallocated index, no fsync goroutine.
		open = segmentstore.OpenSealedSegment
		if a.spec.next > a.spec.base {
			open = func(dir string, base uint64, c segmentstore.Config) (*segmentstore.Segment, error) {
				return segmentstore.OpenSealedSegmentRange(dir, base, a.spec.next, c)
			}
		}
	}
	seg, err := open(a.spec.dir, a.spec.base, a.spec.cfg)
	if err != nil {
		panic(fmt.Errorf("open segment %d: %w", a.spec.base, err))
	}
	a.seg = seg
	a.countReferred()
	if created && a.spec.cfg.Sync != segmentstore.SyncNone {
		// Make the new files' directory entries durable, so a synced record
		// never sits in a file that a power loss makes disappear.
		fsys := a.spec.cfg.FS
		if fsys == nil {
			fsys = segmentstore.OSFS{}
		}
		if err := fsys.SyncDir(a.spec.dir); err != nil {
			panic(fmt.Errorf("create segment %d: %w", a.spec.base, err))
		}
	}
	ctx.Send(ctx.Parent(), &messages.SegmentReady{
		Epoch:              a.spec.epoch,
		BaseOffset:         a.spec.base,
		NextOffset:         seg.NextOffset(),
		SizeBytes:          a.size(),
		LastAppendUnixNano: seg.LastAppendTime().UnixNano(),
		Sealed:             seg.IsSealed(),
	})
}

// close flushes and closes the files. It runs on stop and before a restart;
// after a panic the segment may be in any state, so a second panic here is
// contained: the restart reopens from disk either way.
func (a *segmentActor) close(why string) {
	if a.seg == nil {
		return
	}
	seg := a.seg
	a.seg = nil
	defer func() {
		if r := recover(); r != nil {
			a.spec.log.WithFields(logrus.Fields{"segment": a.spec.base, "panic": r}).Error("closing segment panicked")
		}
	}()
	if err := seg.Close(); err != nil {
		a.spec.log.WithError(err).WithFields(logrus.Fields{"segment": a.spec.base, "why": why}).Error("closing segment failed")
	}
}

func (a *segmentActor) append(ctx actor.Context, m *messages.SegmentAppend) {
	in := m.GetRecords()
	if cap(a.recs) < len(in) || cap(a.recs) > 4*len(in)+1024 {
		a.recs = make([]segmentstore.Record, 0, len(in))
	}
	recs := a.recs[:0]
	ts := m.GetTimestampUnixNano()
	// References are written only by a log that can read them back.
	refer := a.spec.values != nil
	refs := a.refs[:0]
	var referred int64
	if need := len(in) * maxRefBytes; refer && cap(refs) < need {
		// Allocated whole up front: the records' values alias it.
		refs = make([]byte, 0, need)
	}
	for _, r := range in {
		// A record replicated through raft carries the leader's timestamp
		// and its raft index (kept in the frame's term field), so every
		// replica writes the same bytes and replay can tell what it holds.
		t := ts
		if rt := r.GetTimestampUnixNano(); rt != 0 {
			t = rt
		}
		rec := segmentstore.Record{Timestamp: t, Term: r.GetRaftIndex(), Value: r.GetValue()}
		if ref, idx := r.GetInEntry(), r.GetRaftIndex(); refer && ref > 0 && idx > 0 && idx&refFlag == 0 {
			at := len(refs)
			refs = appendRef(refs, ref-1, len(r.GetValue()))
			rec.Term, rec.Value = idx|refFlag, refs[at:len(refs):len(refs)]
			referred += int64(len(r.GetValue()) - (len(refs) - at))
		}
		recs = append(recs, rec)
	}
	if cap(refs) <= 1<<20 {
		a.refs = refs[:0]
	} else {
		a.refs = nil
	}
	_, span := a.spec.tr.startChild(ctx, "segment.append")
	first, err := a.seg.Append(recs)
	if err == nil {
		a.referred += referred
		// Hand every append to the operating system before it is
		// acknowledged, so an acknowledged record survives kill -9 of the
		// process whatever the fsync policy (which only decides what
		// survives a power loss). Appends are already batched by the log
		// actor's coalescing, so this is one write(2) per batch.
		err = a.seg.Flush()
	}
	// Drop the references to the request's values; the segment copied them.
	clear(recs)
	a.recs = recs[:0]

	reply := &messages.SegmentAppended{Epoch: m.GetEpoch(), RequestId: m.GetRequestId()}
	switch {
	case err == nil:
		reply.FirstOffset = first
		reply.Count = uint32(len(in))
	case errors.Is(err, segmentstore.ErrSegmentFull):
		reply.Error = &messages.SegmentError{Code: messages.SegmentErrorCode_SEGMENT_FULL, Message: err.Error()}
	case errors.Is(err, segmentstore.ErrRecordTooLarge):
		reply.Error = &messages.SegmentError{Code: messages.SegmentErrorCode_SEGMENT_RECORD_TOO_LARGE, Message: err.Error()}
	case errors.Is(err, segmentstore.ErrSealed):
		reply.Error = &messages.SegmentError{Code: messages.SegmentErrorCode_SEGMENT_SEALED, Message: err.Error()}
	default:
		// A write or fsync error is sticky in the segment: only reopening
		// the files can tell what reached the disk.
		panic(fmt.Errorf("append to segment %d: %w", a.spec.base, err))
	}
	if a.armed && err == nil {
		panic(fmt.Errorf("%w: segment %d after an append of %d records at %d", ErrInjectedFault, a.spec.base, len(in), first))
	}
	reply.NextOffset = a.seg.NextOffset()
	reply.SizeBytes = a.size()
	reply.Full = a.seg.IsFull() || a.size() >= a.spec.cfg.MaxStoreBytes
	a.endAppendSpan(span, in, reply)
	ctx.Send(ctx.Parent(), reply)
}

func (a *segmentActor) read(ctx actor.Context, m *messages.SegmentRead) {
	reply := &messages.SegmentReadResult{Epoch: m.GetEpoch(), RequestId: m.GetRequestId()}
	off, limit := m.GetOffset(), m.GetLimit()
	maxRecords := int(m.GetMaxRecords())
	if off < limit && (maxRecords == 0 || uint64(maxRecords) > limit-off) {
		// Never serve what the log has not acknowledged.
		maxRecords = int(limit - off)
	}
	var recs []segmentstore.Record
	var err error
	if off >= limit {
		err = &segmentstore.OffsetOutOfRangeError{Offset: off, Low: a.spec.base, Next: limit}
	} else {
		recs, err = a.seg.ReadRange(off, maxRecords, int(m.GetMaxBytes()))
	}
	if err == nil {
		recs, err = a.resolve(recs, int(m.GetMaxBytes()))
	}
	switch {
	case err == nil:
		reply.Records = toWire(recs)
	case errors.Is(err, errValueGone):
		// The raft entry a record refers to is not on disk: reported like
		// a damaged record, so the node repairs this replica.
		a.spec.log.WithError(err).WithField("segment", a.spec.base).Error("record without its value")
		reply.Error = &messages.SegmentError{Code: messages.SegmentErrorCode_SEGMENT_CORRUPT, Message: err.Error()}
	case errors.Is(err, errValuesUnavailable):
		reply.Error = &messages.SegmentError{Code: messages.SegmentErrorCode_SEGMENT_UNAVAILABLE, Message: err.Error()}
	case errors.Is(err, segmentstore.ErrOffsetOutOfRange):
		reply.Error = &messages.SegmentError{Code: messages.SegmentErrorCode_SEGMENT_OUT_OF_RANGE, Message: err.Error()}
	case errors.Is(err, segmentstore.ErrCorrupt):
		// Reported, never served; a restart would not make it readable.
		a.spec.log.WithError(err).WithField("segment", a.spec.base).Error("corrupt record")
		reply.Error = &messages.SegmentError{Code: messages.SegmentErrorCode_SEGMENT_CORRUPT, Message: err.Error()}
	default:
		panic(fmt.Errorf("read segment %d at %d: %w", a.spec.base, off, err))
	}
	ctx.Send(ctx.Parent(), reply)
}

// toWire converts records with two allocations however many there are: one
// slab of messages and one slice of pointers into it. The values are shared,
// not copied (ReadRange hands them over).
func toWire(recs []segmentstore.Record) []*messages.Record {
	slab := make([]messages.Record, len(recs))
	out := make([]*messages.Record, len(recs))
	for i := range recs {
		r := &slab[i]
		r.Offset = recs[i].Offset
		r.Value = recs[i].Value
		r.TimestampUnixNano = recs[i].Timestamp
		r.RaftIndex = recs[i].Term &^ refFlag
		out[i] = r
	}
	return out
}

func fileOf(dir string, base uint64) string {
	return dir + string(os.PathSeparator) + segmentstore.SegmentFileName(base, ".store")
}
