package actors

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"time"

	"actorlog/messages"
	"actorlog/segmentstore"
	"actorlog/tracing"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// NewLogProps returns the props of the log actor. Spawn it under the root
// supervisor with the well-known name LogName.
func NewLogProps(cfg LogConfig) *actor.Props {
	cfg = cfg.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return newLogActor(cfg) })
}

type segStatus int

const (
	segOpening     segStatus = iota // spawned, waiting for its first SegmentReady
	segReady                        // serving
	segRestarting                   // crashed; waiting for SegmentReady from the new instance
	segReconciling                  // restarted; dropping records that were never acknowledged
	segFailed                       // stopped after too many failures
	segRemoving                     // deleted by retention, waiting for SegmentRemoved
	segIdle                         // sealed, no actor: spawned when a read needs it
	segStopping                     // sealed and idle, stopped; waiting for Terminated
)

// segState is the log actor's view of one segment actor.
type segState struct {
	base uint64
	// next is one past the last acknowledged record of the segment.
	next       uint64
	size       uint64
	lastAppend int64
	pid        *actor.PID
	sealed     bool
	status     segStatus
	failures   []time.Time
	// ops counts the requests in flight to the segment actor.
	ops int
	// lastUsed is when a request last went to the segment actor; a sealed
	// one idle for SegmentIdleTimeout is stopped.
	lastUsed time.Time
	// waiting holds reads that arrived while the actor was stopping.
	waiting []deferred
}

type opKind int

const (
	opAppend opKind = iota
	opRead
	opSeal
	opTruncate
	opRemove
)

type segOp struct {
	id    uint64
	kind  opKind
	seg   *segState
	batch *appendBatch             // opAppend
	from  *actor.PID               // opRead: who gets the ConsumeResponse
	read  *messages.ConsumeRequest // opRead
	scrub bool                     // opRead by the scrubber: no one to answer
}

// produceReq is one ProduceRequest waiting to be appended.
type produceReq struct {
	sender *actor.PID
	req    *messages.ProduceRequest
	bytes  int // value bytes
	key    dedupeKey
	dupes  []*actor.PID      // retries of the same (producer, sequence) that arrived meanwhile
	trace  map[string]string // the request's trace context; nil when untraced
}

type dedupeKey struct {
	producer string
	seq      uint64
}

// appendBatch is the produce requests coalesced into one segment append.
type appendBatch struct {
	reqs    []*produceReq
	records []*messages.Record
}

// waiter is a long poll parked at the end of the log.
type waiter struct {
	from  *actor.PID
	req   *messages.ConsumeRequest
	timer *time.Timer
}

type deferred struct {
	from *actor.PID
	msg  any
}

// logActor owns the ordered list of segments: it spawns and supervises the
// segment actors, assigns every append to the active segment, routes every
// read to the segment that holds the offset, rolls segments over, applies
// retention and parks long polls. See the package documentation for the
// protocol.
type logActor struct {
	cfg LogConfig
	log *logrus.Entry
	// fence, when set, refuses reads at and past its offset: this replica
	// diverged and is being repaired (node/repair.go).
	fence *messages.ReadFence
	// internalRead is set while a read of the FSM is routed: the fence
	// does not apply to it.
	internalRead bool
	// traced: the segments trace the appends of traced requests, so the
	// log passes their trace context on.
	traced bool
	epoch  uint64
	sys    *actor.ActorSystem
	self   *actor.PID
	// ctx is the log actor's own context, kept to spawn segment actors
	// from code that runs on the actor's goroutine outside Receive
	// (HandleFailure, deferred work).
	ctx actor.Context

	segs    []*segState // sorted by base, contiguous; the last is active
	byID    map[string]*segState
	opening int // segments spawned at startup that are not ready yet
	ready   bool
	failed  error // a storage failure: the log is unhealthy
	// noAppends refuses appends: the log could not open, a roll-over
	// failed, or the active segment failed for good.
	noAppends error
	// maxRequestRecords is the most records one request may carry: what an
	// empty segment can hold.
	maxRequestRecords int

	low, next uint64 // acknowledged range [low, next)

	pending      []*produceReq
	pendingBytes int          // value bytes in pending, bounded by MaxPendingBytes
	retry        *appendBatch // a batch refused as full, to be sent to the next segment first
	inflight     *segOp       // the one append in flight, if any
	inProgress   map[dedupeKey]*produceReq
	producers    *producerTable

	waiters  map[uint64]*waiter
	deferred []deferred
	// statusWaiters hold LogStatusRequests with wait_ready.
	statusWaiters []*actor.PID
	draining      bool
	drainWaiters  []*actor.PID
	readsInFlight int

	// ops are the requests sent to segment actors and not answered yet.
	ops       map[uint64]*segOp
	retention *time.Timer
	idle      *time.Timer
	scrub     *time.Timer
	// scrubNext is the next offset the scrubber reads; scrubbing is true
	// while its read is in flight.
	scrubNext uint64
	scrubbing bool
	// rolling is set while the active segment is being sealed; the next
	// segment is created once the seal is durable.
	rolling bool
	nextID  uint64

	restarts, reads, appends uint64
	// resetting is the LogReset in progress, if any.
	resetting *resetReq
}

func newLogActor(cfg LogConfig) *logActor {
	return &logActor{
		cfg:        cfg,
		log:        cfg.Logger.WithField("actor", LogName),
		traced:     tracing.Enabled(cfg.TracerProvider),
		epoch:      rand.Uint64(),
		byID:       make(map[string]*segState),
		inProgress: make(map[dedupeKey]*produceReq),
		producers:  newProducerTable(cfg.DedupeProducers, cfg.DedupeWindow),
		waiters:    make(map[uint64]*waiter),
		ops:        make(map[uint64]*segOp),

		maxRequestRecords: int(min(indexCapacity(cfg.Storage), 1<<31-1)),
	}
}

func (a *logActor) id() uint64 { a.nextID++; return a.nextID }

func (a *logActor) send(to *actor.PID, msg any) {
	if to != nil {
		a.sys.Root.Send(to, msg)
	}
}

func unavailable(format string, args ...any) *messages.Unavailable {
	return &messages.Unavailable{Reason: fmt.Sprintf(format, args...)}
}

func (a *logActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.sys, a.self, a.ctx = ctx.ActorSystem(), ctx.Self(), ctx
		a.start(ctx)
	case *actor.Stopping:
		a.shutdown("the log is stopping")
	case *actor.Restarting:
		a.shutdown("the log restarted after a crash")
	case *actor.Terminated:
		a.childTerminated(m.GetWho())

	case *messages.SegmentReady:
		a.segmentReady(ctx, m)
	case *messages.SegmentAppended:
		a.appended(ctx, m)
	case *messages.SegmentReadResult:
		a.readResult(m)
	case *messages.SegmentSealed:
		if op := a.takeOp(m.GetEpoch(), m.GetRequestId()); op != nil {
			op.seg.size, op.seg.lastAppend = m.GetSizeBytes(), m.GetLastAppendUnixNano()
			if a.rolling && op.seg == a.active() {
				a.rolled(ctx)
			}
		}
	case *messages.SegmentTruncated:
		a.truncated(ctx, m)
	case *messages.SegmentRemoved:
		if op := a.takeOp(m.GetEpoch(), m.GetRequestId()); op != nil {
			if e := m.GetError(); e != "" {
				a.log.WithField("segment", op.seg.base).Warnf("removing a retained-out segment: %s", e)
			}
			ctx.Stop(op.seg.pid)
		}

	case *messages.ProduceRequest:
		a.produce(ctx, ctx.Sender(), m)
	case *messages.ConsumeRequest:
		a.consume(ctx.Sender(), m)
	case *messages.FSMRead:
		// The FSM reads what it wrote (its last record, snapshots) even
		// through a read fence.
		a.internalRead = true
		a.consume(ctx.Sender(), m.GetRequest())
		a.internalRead = false
	case *messages.CheckOffset:
		a.checkOffset(ctx, m)
	case *messages.PollExpired:
		a.pollExpired(m.GetWaiterId())
	case *messages.RetentionTick:
		a.applyRetention()
		a.armRetention()
	case *messages.IdleTick:
		a.stopIdle(ctx)
		a.armIdle()
	case *messages.ScrubTick:
		a.scrubStep()
		a.armScrub()
	case *messages.LogStatusRequest:
		if m.GetWaitReady() && !a.ready {
			a.statusWaiters = append(a.statusWaiters, ctx.Sender())
			return
		}
		ctx.Respond(a.status())
	case *messages.InjectSegmentFault:
		a.injectFault(ctx, m)
	case *messages.DrainLog:
		a.drain(ctx)
	case *messages.LogSync:
		a.sync(ctx, m)
	case *messages.LogReset:
		a.reset(ctx, m)
	case *messages.ReadFence:
		a.fence = m
		if !m.GetOn() {
			a.fence = nil
		}
		ctx.Respond(&messages.ReadFenced{})
	}
}

// fenced answers a read the fence refuses; it reports whether it did.
func (a *logActor) fenced(from *actor.PID, off uint64) bool {
	if a.fence == nil || a.internalRead || off < a.fence.GetFromOffset() {
		return false
	}
	a.send(from, unavailable("%s", a.fence.GetReason()))
	return true
}

// readLimit is the end of what reads may return: the log's end, or the
// fence.
func (a *logActor) readLimit() uint64 {
	if a.fence != nil && !a.internalRead {
		return min(a.next, a.fence.GetFromOffset())
	}
	return a.next
}

// sync has the active segment fsync everything appended before it; the
// segment answers the asker directly. Only the active segment can hold
// unsynced records: a segment is fsynced when it is sealed.
func (a *logActor) sync(ctx actor.Context, m *messages.LogSync) {
	act := a.active()
	if !a.ready || act == nil || act.status != segReady || a.resetting != nil {
		ctx.Respond(unavailable("the log cannot sync right now; retry"))
		return
	}
	ctx.RequestWithCustomSender(act.pid, m, ctx.Sender())
}

// reset deletes every segment and starts an empty log at the given base
// offset; it replies LogResetDone once the new active segment is spawned.
// A raft snapshot restore uses it to replace the log. It is refused while
// anything is in flight, so the asker retries.
func (a *logActor) reset(ctx actor.Context, m *messages.LogReset) {
	busy := !a.ready || a.inflight != nil || a.retry != nil || len(a.pending) > 0 || a.rolling || a.resetting != nil || a.draining
	for _, s := range a.segs {
		if s.status == segStopping || s.status == segFailed || s.status == segRestarting || s.status == segReconciling {
			busy = true
		}
	}
	if busy {
		ctx.Respond(unavailable("the log is busy and cannot be reset; retry"))
		return
	}
	for id, w := range a.waiters {
		w.timer.Stop()
		delete(a.waiters, id)
		a.send(w.from, &messages.ConsumeResponse{LowOffset: a.low, NextOffset: a.next})
	}
	a.resetting = &resetReq{from: ctx.Sender(), base: m.GetBaseOffset()}
	a.log.WithFields(logrus.Fields{"low": a.low, "next": a.next, "base": m.GetBaseOffset()}).Info("resetting the log")
	segs := a.segs
	a.segs = nil
	a.low, a.next = m.GetBaseOffset(), m.GetBaseOffset()
	for _, s := range segs {
		if a.ensureOpen(s) != nil {
			continue
		}
		s.status = segRemoving
		op := a.newOp(s, opRemove)
		a.send(s.pid, &messages.SegmentRemove{Epoch: a.epoch, RequestId: op.id})
	}
	a.resetProgress()
}

type resetReq struct {
	from *actor.PID
	base uint64
}

// resetProgress finishes a reset once every old segment actor is gone.
func (a *logActor) resetProgress() {
	r := a.resetting
	if r == nil {
		return
	}
	for _, s := range a.byID {
		if s.status == segRemoving {
			return
		}
	}
	a.resetting = nil
	// The offsets start over: what the table says was appended where is
	// no longer true, and would answer the new appends without writing
	// them.
	a.producers = newProducerTable(a.cfg.DedupeProducers, a.cfg.DedupeWindow)
	if _, err := a.spawnSegment(a.ctx, r.base, false); err != nil {
		a.failed, a.noAppends = err, err
		a.send(r.from, unavailable("reset failed: %v", err))
		return
	}
	a.send(r.from, &messages.LogResetDone{})
}

// start lists the data directory and spawns one segment actor per segment;
// the log is ready when every one has reported its recovered state.
func (a *logActor) start(ctx actor.Context) {
	bases, err := segmentstore.ListSegments(a.cfg.Dir)
	if err != nil {
		a.failStartup(fmt.Errorf("%w: %v", ErrStorageFailed, err))
		return
	}
	if len(bases) == 0 {
		bases = []uint64{a.cfg.Storage.InitialOffset}
	}
	// Sealed segments are complete on disk (a segment is sealed and
	// fsynced before the next one is created), so their range follows from
	// the file names: they are opened when a read first needs them, and
	// startup costs the active segment's recovery only, however long the
	// log.
	for i, base := range bases[:len(bases)-1] {
		s := &segState{base: base, next: bases[i+1], sealed: true, status: segIdle}
		if st, err := os.Stat(fileOf(a.cfg.Dir, base)); err == nil {
			s.size, s.lastAppend = uint64(st.Size()), st.ModTime().UnixNano()
		}
		a.segs = append(a.segs, s)
	}
	if _, err := a.spawnSegment(ctx, bases[len(bases)-1], false); err != nil {
		a.failStartup(err)
		return
	}
	a.opening = 1
	a.log.WithFields(logrus.Fields{"dir": a.cfg.Dir, "segments": len(bases)}).Debug("opening the active segment")
}

func (a *logActor) spawnSegment(ctx actor.Context, base uint64, sealed bool) (*segState, error) {
	s := &segState{base: base, next: base, sealed: sealed}
	if err := a.spawnActor(ctx, s); err != nil {
		return nil, err
	}
	a.segs = append(a.segs, s)
	return s, nil
}

// spawnActor starts the segment actor of s; its SegmentReady follows.
func (a *logActor) spawnActor(ctx actor.Context, s *segState) error {
	base, sealed := s.base, s.sealed
	storage := a.cfg.Storage
	spec := segmentSpec{dir: a.cfg.Dir, base: base, cfg: storage, epoch: a.epoch, sealed: sealed, next: s.next,
		log: a.cfg.Logger.WithField("actor", segmentName(base)), tr: newActorTracer(a.cfg.TracerProvider),
		values: a.cfg.Values}
	pid, err := ctx.SpawnNamed(newSegmentProps(spec), segmentName(base))
	if err != nil {
		return fmt.Errorf("%w: spawn segment %d: %v", ErrStorageFailed, base, err)
	}
	s.pid, s.status, s.lastUsed = pid, segOpening, time.Now()
	a.byID[pid.GetId()] = s
	return nil
}

// ensureOpen spawns the actor of an idle sealed segment; requests sent to
// it right away wait in its mailbox until it has opened its files.
func (a *logActor) ensureOpen(s *segState) error {
	if s.status != segIdle {
		return nil
	}
	if err := a.spawnActor(a.ctx, s); err != nil {
		a.failSegment(s, err)
		return err
	}
	return nil
}

func (a *logActor) failStartup(err error) {
	a.log.WithError(err).Error("log failed to open")
	a.failed = err
	a.noAppends = err
	a.becomeReady()
}

func (a *logActor) becomeReady() {
	if a.ready {
		return
	}
	a.ready = true
	for _, w := range a.statusWaiters {
		a.send(w, a.status())
	}
	a.statusWaiters = nil
	queued := a.deferred
	a.deferred = nil
	for _, d := range queued {
		switch m := d.msg.(type) {
		case *messages.ProduceRequest:
			a.produce(nil, d.from, m)
		case *messages.ConsumeRequest:
			a.consume(d.from, m)
		case *messages.CheckOffset:
			a.checkOffsetFrom(d.from, m)
		}
	}
	a.armRetention()
	a.armIdle()
	a.armScrub()
}

func (a *logActor) segmentReady(ctx actor.Context, m *messages.SegmentReady) {
	if m.GetEpoch() != a.epoch {
		return
	}
	s := a.segAt(m.GetBaseOffset())
	if s == nil {
		// Not in the list any more: one that retention is removing.
		for _, r := range a.byID {
			if r.base == m.GetBaseOffset() && r.status == segRemoving {
				s = r
			}
		}
		if s == nil {
			return
		}
	}
	switch s.status {
	case segOpening:
		if s.sealed && m.GetNextOffset() != s.next {
			// A sealed segment opened on demand must end where the next
			// one starts; anything else is damage, reported, never served.
			a.log.WithFields(logrus.Fields{"segment": s.base, "next": m.GetNextOffset(), "expected": s.next}).Error("damaged sealed segment")
			reason := fmt.Sprintf("sealed segment holds offsets up to %d but the next segment starts at %d", m.GetNextOffset(), s.next)
			a.sealedDamaged(s, max(s.base, m.GetNextOffset()), reason, func() { ctx.Stop(s.pid) })
			return
		}
		s.next, s.size, s.lastAppend = m.GetNextOffset(), m.GetSizeBytes(), m.GetLastAppendUnixNano()
		s.status = segReady
		if !a.ready {
			a.opening--
			if a.opening == 0 {
				a.finishStartup()
			}
			return
		}
		// A segment created by a roll-over: the queued appends can go.
		a.flush()
	case segRestarting:
		got := m.GetNextOffset()
		log := a.log.WithFields(logrus.Fields{"segment": s.base, "acknowledged": s.next, "on_disk": got})
		switch {
		case got < s.next:
			// Acknowledged records are gone: this must never happen, since a
			// restart closes (flushes) the old files first.
			err := &SegmentFailedError{BaseOffset: s.base, Restarts: len(s.failures), Window: a.cfg.RestartWindow,
				Reason: fmt.Sprintf("reopened with next offset %d below the acknowledged %d", got, s.next)}
			log.Error("acknowledged records lost in a segment restart")
			a.failSegment(s, err)
			return
		case got > s.next:
			// The crashed append reached the disk but was never
			// acknowledged (its client got Unavailable): drop it, so a retry
			// appends it again at the same offsets and nothing is doubled.
			log.Warn("dropping unacknowledged records after a segment restart")
			s.status = segReconciling
			op := a.newOp(s, opTruncate)
			ctx.Send(s.pid, &messages.SegmentTruncate{Epoch: a.epoch, RequestId: op.id, FromOffset: s.next})
		default:
			log.Info("segment restarted")
			a.segmentRecovered(ctx, s)
		}
	case segRemoving:
		// Crashed while being removed (its remove op was answered by the
		// crash): finish the job.
		if s.ops == 0 {
			op := a.newOp(s, opRemove)
			ctx.Send(s.pid, &messages.SegmentRemove{Epoch: a.epoch, RequestId: op.id})
		}
	}
}

func (a *logActor) truncated(ctx actor.Context, m *messages.SegmentTruncated) {
	op := a.takeOp(m.GetEpoch(), m.GetRequestId())
	if op == nil {
		return
	}
	s := op.seg
	s.size = m.GetSizeBytes()
	if m.GetNextOffset() != s.next {
		a.failSegment(s, &SegmentFailedError{BaseOffset: s.base, Restarts: len(s.failures), Window: a.cfg.RestartWindow,
			Reason: fmt.Sprintf("truncated to %d, expected %d", m.GetNextOffset(), s.next)})
		return
	}
	a.segmentRecovered(ctx, s)
}

// segmentRecovered puts a restarted segment back in service.
func (a *logActor) segmentRecovered(ctx actor.Context, s *segState) {
	s.status = segReady
	if s.sealed {
		// The new instance opened writable; make it read-only again.
		op := a.newOp(s, opSeal)
		ctx.Send(s.pid, &messages.SegmentSeal{Epoch: a.epoch, RequestId: op.id})
	}
	a.flush()
}

// finishStartup checks that the recovered segments are contiguous and
// starts serving.
func (a *logActor) finishStartup() {
	for i := 0; i+1 < len(a.segs); i++ {
		cur, nxt := a.segs[i], a.segs[i+1]
		if cur.next != nxt.base {
			a.failStartup(fmt.Errorf("%w: segment %d ends at offset %d but the next segment starts at %d",
				ErrStorageFailed, cur.base, cur.next, nxt.base))
			return
		}
	}
	a.low, a.next = a.segs[0].base, a.segs[len(a.segs)-1].next
	a.log.WithFields(logrus.Fields{"low": a.low, "next": a.next, "segments": len(a.segs)}).Info("log ready")
	a.becomeReady()
	a.applyRetention()
}

func (a *logActor) active() *segState {
	if len(a.segs) == 0 {
		return nil
	}
	return a.segs[len(a.segs)-1]
}

func (a *logActor) segAt(base uint64) *segState {
	i := sort.Search(len(a.segs), func(i int) bool { return a.segs[i].base >= base })
	if i < len(a.segs) && a.segs[i].base == base {
		return a.segs[i]
	}
	return nil
}

// segFor returns the segment holding off, which must be in [low, next).
func (a *logActor) segFor(off uint64) *segState {
	i := sort.Search(len(a.segs), func(i int) bool { return a.segs[i].base > off })
	if i == 0 {
		return nil
	}
	return a.segs[i-1]
}

func (a *logActor) newOp(s *segState, kind opKind) *segOp {
	op := &segOp{id: a.id(), kind: kind, seg: s}
	a.ops[op.id] = op
	s.ops++
	s.lastUsed = time.Now()
	return op
}

// forgetOp removes op from the ops in flight.
func (a *logActor) forgetOp(op *segOp) {
	if _, ok := a.ops[op.id]; ok {
		delete(a.ops, op.id)
		op.seg.ops--
	}
}

// takeOp finds and forgets the op a reply answers; nil for a stale reply.
func (a *logActor) takeOp(epoch, id uint64) *segOp {
	if epoch != a.epoch {
		return nil
	}
	op, ok := a.ops[id]
	if !ok {
		return nil
	}
	a.forgetOp(op)
	return op
}

// ---------------------------------------------------------------------------
// Produce

func (a *logActor) produce(ctx actor.Context, from *actor.PID, m *messages.ProduceRequest) {
	if !a.ready {
		a.deferred = append(a.deferred, deferred{from, m})
		return
	}
	switch {
	case len(m.GetRecords()) == 0:
		a.send(from, &messages.InvalidRequest{Field: "records", Reason: "empty batch: at least one record is required"})
		return
	case len(m.GetRecords()) > a.maxRequestRecords:
		a.send(from, &messages.InvalidRequest{Field: "records", Reason: fmt.Sprintf(
			"batch of %d records exceeds the limit of %d records per request (one segment's index)", len(m.GetRecords()), a.maxRequestRecords)})
		return
	}
	pr := &produceReq{sender: from, req: m}
	if a.traced && ctx != nil { // nil: queued before the log was ready
		pr.trace = headerMap(ctx)
	}
	for _, r := range m.GetRecords() {
		pr.bytes += len(r.GetValue())
	}
	if p := m.GetProducerId(); p != "" {
		pr.key = dedupeKey{producer: p, seq: m.GetSequence()}
		if b, ok := a.producers.lookup(p, m.GetSequence()); ok {
			a.send(from, &messages.ProduceResponse{Offsets: offsetRange(b.first, int(b.count))})
			return
		}
		if orig, ok := a.inProgress[pr.key]; ok {
			orig.dupes = append(orig.dupes, from)
			return
		}
	}
	// A retry of an applied request is answered above even now.
	switch {
	case a.noAppends != nil:
		a.send(from, unavailable("storage failed: %v", a.noAppends))
		return
	case a.draining:
		a.send(from, unavailable("the node is shutting down"))
		return
	}
	if a.pendingBytes > 0 && a.pendingBytes+pr.bytes > a.cfg.MaxPendingBytes {
		// The disk is not keeping up; queueing more would only grow memory
		// until the clients' deadlines pass.
		a.send(from, unavailable("the log is overloaded (%d bytes waiting to be appended); retry", a.pendingBytes))
		return
	}
	if pr.key.producer != "" {
		a.inProgress[pr.key] = pr
	}
	a.pending = append(a.pending, pr)
	a.pendingBytes += pr.bytes
	a.flush()
}

func offsetRange(first uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

// flush sends the queued produce requests to the active segment as one
// append, unless an append is already in flight: one at a time per log
// keeps offsets simple to reason about across crashes, and everything that
// queues meanwhile goes out together next (group commit).
func (a *logActor) flush() {
	if a.inflight != nil || !a.ready {
		return
	}
	act := a.active()
	if act == nil || act.status != segReady || act.sealed {
		return
	}
	b := a.retry
	a.retry = nil
	if b == nil {
		if len(a.pending) == 0 {
			a.checkDrained()
			return
		}
		b = a.takeBatch()
	}
	op := a.newOp(act, opAppend)
	op.batch = b
	a.inflight = op
	a.appends++
	a.send(act.pid, tracedMessage(batchTrace(b), &messages.SegmentAppend{
		Epoch: a.epoch, RequestId: op.id, Records: b.records, TimestampUnixNano: time.Now().UnixNano(),
	}))
}

// takeBatch takes queued requests up to the append limits (at least one).
func (a *logActor) takeBatch() *appendBatch {
	n, recs, bytes := 0, 0, 0
	for n < len(a.pending) {
		r := a.pending[n].req.GetRecords()
		sz := a.pending[n].bytes
		if n > 0 && (recs+len(r) > a.cfg.MaxAppendRecords || bytes+sz > a.cfg.MaxAppendBytes) {
			break
		}
		n, recs, bytes = n+1, recs+len(r), bytes+sz
	}
	a.pendingBytes -= bytes
	b := &appendBatch{reqs: slices.Clone(a.pending[:n])}
	clear(a.pending[:n])
	a.pending = a.pending[n:]
	if len(a.pending) == 0 {
		a.pending = a.pending[:0:0]
	}
	if n == 1 {
		b.records = b.reqs[0].req.GetRecords()
	} else {
		b.records = make([]*messages.Record, 0, recs)
		for _, pr := range b.reqs {
			b.records = append(b.records, pr.req.GetRecords()...)
		}
	}
	return b
}

func (a *logActor) appended(ctx actor.Context, m *messages.SegmentAppended) {
	op := a.takeOp(m.GetEpoch(), m.GetRequestId())
	if op == nil {
		return
	}
	a.inflight = nil
	s := op.seg
	if e := m.GetError(); e != nil && e.GetCode() != messages.SegmentErrorCode_SEGMENT_OK {
		switch e.GetCode() {
		case messages.SegmentErrorCode_SEGMENT_FULL:
			if s.next == s.base {
				// Cannot happen: batches are capped at a segment's capacity.
				a.failBatch(op.batch, unavailable("batch does not fit an empty segment: %s", e.GetMessage()))
			} else {
				a.retry = op.batch
				a.roll(ctx)
			}
		case messages.SegmentErrorCode_SEGMENT_RECORD_TOO_LARGE:
			a.failBatch(op.batch, &messages.InvalidRequest{Field: "records", Reason: e.GetMessage()})
		default:
			a.failBatch(op.batch, unavailable("append failed: %s", e.GetMessage()))
		}
		a.flush()
		return
	}
	first, n := m.GetFirstOffset(), uint64(m.GetCount())
	if first != s.next {
		a.log.WithFields(logrus.Fields{"segment": s.base, "expected": s.next, "got": first}).Error("segment assigned unexpected offsets")
	}
	s.next, s.size = m.GetNextOffset(), m.GetSizeBytes()
	s.lastAppend = time.Now().UnixNano()
	a.next = s.next
	// One allocation for the offsets of the whole batch; each reply gets
	// its sub-slice.
	all := offsetRange(first, int(n))
	at := 0
	for _, pr := range op.batch.reqs {
		k := len(pr.req.GetRecords())
		offs := all[at : at+k : at+k]
		at += k
		resp := &messages.ProduceResponse{Offsets: offs}
		a.send(pr.sender, resp)
		for _, d := range pr.dupes {
			a.send(d, resp)
		}
		if pr.key.producer != "" {
			delete(a.inProgress, pr.key)
			a.producers.record(pr.key.producer, pr.key.seq, offs[0], uint32(k))
		}
	}
	if m.GetFull() {
		a.roll(ctx)
	}
	a.wakeWaiters()
	a.flush()
	a.checkDrained()
}

// failBatch answers every request of a batch with reply.
func (a *logActor) failBatch(b *appendBatch, reply any) {
	if b == nil {
		return
	}
	for _, pr := range b.reqs {
		a.failProduce(pr, reply)
	}
}

func (a *logActor) failProduce(pr *produceReq, reply any) {
	a.send(pr.sender, reply)
	for _, d := range pr.dupes {
		a.send(d, reply)
	}
	if pr.key.producer != "" {
		delete(a.inProgress, pr.key)
	}
}

// roll seals the active segment and spawns the next one at the log's next
// offset; appends wait until it is ready.
func (a *logActor) roll(ctx actor.Context) {
	act := a.active()
	if act == nil || act.sealed || act.next == act.base {
		return
	}
	act.sealed = true
	a.rolling = true
	op := a.newOp(act, opSeal)
	ctx.Send(act.pid, &messages.SegmentSeal{Epoch: a.epoch, RequestId: op.id})
}

// rolled creates the next segment once the previous one is sealed, so that
// a sealed segment is complete and durable before the next one exists.
func (a *logActor) rolled(ctx actor.Context) {
	a.rolling = false
	sealed := a.active()
	if _, err := a.spawnSegment(ctx, a.next, false); err != nil {
		a.failed, a.noAppends = err, err
		a.log.WithError(err).Error("roll-over failed")
		a.failPending(unavailable("storage failed: %v", err))
		return
	}
	a.log.WithFields(logrus.Fields{"sealed": sealed.base, "active": a.next}).Debug("rolled over")
	a.applyRetention()
}

func (a *logActor) failPending(reply any) {
	a.failBatch(a.retry, reply)
	a.retry = nil
	for _, pr := range a.pending {
		a.failProduce(pr, reply)
	}
	a.pending, a.pendingBytes = nil, 0
}

// ---------------------------------------------------------------------------
// Consume

func (a *logActor) consume(from *actor.PID, m *messages.ConsumeRequest) {
	if !a.ready {
		a.deferred = append(a.deferred, deferred{from, m})
		return
	}
	off := m.GetOffset()
	if a.fenced(from, off) {
		return
	}
	if off < a.low || off > a.next || (off == a.next && m.GetWaitMs() == 0) {
		a.send(from, &messages.OffsetOutOfRange{Offset: off, LowOffset: a.low, NextOffset: a.next})
		return
	}
	if off == a.next {
		if a.draining {
			// Not an empty answer: a subscription would poll again at once.
			a.send(from, unavailable("the node is shutting down"))
			return
		}
		a.park(from, m)
		return
	}
	a.route(from, m)
}

// park holds a long poll at the end of the log until records arrive or its
// deadline passes; the deadline is a timer that sends PollExpired, so a
// parked poll costs nothing while it waits.
func (a *logActor) park(from *actor.PID, m *messages.ConsumeRequest) {
	wait := min(time.Duration(m.GetWaitMs())*time.Millisecond, a.cfg.MaxWait)
	id := a.id()
	sys, self := a.sys, a.self
	a.waiters[id] = &waiter{from: from, req: m, timer: time.AfterFunc(wait, func() {
		sys.Root.Send(self, &messages.PollExpired{WaiterId: id})
	})}
}

func (a *logActor) pollExpired(id uint64) {
	w, ok := a.waiters[id]
	if !ok {
		return
	}
	delete(a.waiters, id)
	a.send(w.from, &messages.ConsumeResponse{LowOffset: a.low, NextOffset: a.next})
}

func (a *logActor) wakeWaiters() {
	if len(a.waiters) == 0 {
		return
	}
	for id, w := range a.waiters {
		w.timer.Stop()
		delete(a.waiters, id)
		a.route(w.from, w.req)
	}
}

// route sends a read to the segment holding its offset; the segment's reply
// comes back here and is forwarded with the log's bounds.
func (a *logActor) route(from *actor.PID, m *messages.ConsumeRequest) {
	if a.fenced(from, m.GetOffset()) {
		return
	}
	s := a.segFor(m.GetOffset())
	if s == nil {
		a.send(from, &messages.OffsetOutOfRange{Offset: m.GetOffset(), LowOffset: a.low, NextOffset: a.next})
		return
	}
	switch s.status {
	case segFailed:
		a.send(from, unavailable("segment %d failed: %v", s.base, a.failed))
		return
	case segStopping:
		s.waiting = append(s.waiting, deferred{from, m})
		return
	case segIdle:
		if a.ensureOpen(s) != nil {
			a.send(from, unavailable("segment %d cannot be opened", s.base))
			return
		}
	}
	maxRecords := m.GetMaxRecords()
	if maxRecords == 0 {
		maxRecords = a.cfg.DefaultReadRecords
	}
	maxBytes := m.GetMaxBytes()
	if maxBytes == 0 {
		maxBytes = a.cfg.DefaultReadBytes
	}
	op := a.newOp(s, opRead)
	op.from, op.read = from, m
	a.reads++
	a.readsInFlight++
	a.send(s.pid, &messages.SegmentRead{
		Epoch: a.epoch, RequestId: op.id, Offset: m.GetOffset(),
		MaxRecords: min(maxRecords, a.cfg.MaxReadRecords), MaxBytes: min(maxBytes, a.cfg.MaxReadBytes),
		Limit: a.readLimit(),
	})
}

func (a *logActor) readResult(m *messages.SegmentReadResult) {
	op := a.takeOp(m.GetEpoch(), m.GetRequestId())
	if op == nil {
		return
	}
	a.readsInFlight--
	defer a.checkDrained()
	if op.scrub {
		a.scrubbed(op, m)
		return
	}
	if e := m.GetError(); e != nil && e.GetCode() != messages.SegmentErrorCode_SEGMENT_OK {
		switch e.GetCode() {
		case messages.SegmentErrorCode_SEGMENT_CORRUPT:
			a.corrupt(op.read.GetOffset(), e.GetMessage())
			a.send(op.from, unavailable("read at offset %d failed: %s", op.read.GetOffset(), e.GetMessage()))
		case messages.SegmentErrorCode_SEGMENT_OUT_OF_RANGE:
			// Retention removed the records meanwhile.
			a.send(op.from, &messages.OffsetOutOfRange{Offset: op.read.GetOffset(), LowOffset: a.low, NextOffset: a.next})
		default:
			a.send(op.from, unavailable("read at offset %d failed: %s", op.read.GetOffset(), e.GetMessage()))
		}
		return
	}
	a.send(op.from, &messages.ConsumeResponse{Records: m.GetRecords(), LowOffset: a.low, NextOffset: a.next})
}

func (a *logActor) checkOffset(ctx actor.Context, m *messages.CheckOffset) {
	if !a.ready {
		a.deferred = append(a.deferred, deferred{ctx.Sender(), m})
		return
	}
	a.checkOffsetFrom(ctx.Sender(), m)
}

func (a *logActor) checkOffsetFrom(from *actor.PID, m *messages.CheckOffset) {
	if m.GetOffset() < a.low || m.GetOffset() > a.next {
		a.send(from, &messages.OffsetOutOfRange{Offset: m.GetOffset(), LowOffset: a.low, NextOffset: a.next})
		return
	}
	a.send(from, &messages.OffsetAccepted{LowOffset: a.low, NextOffset: a.next})
}

// ---------------------------------------------------------------------------
// Retention

func (a *logActor) armRetention() {
	if a.cfg.Storage.RetentionBytes == 0 && a.cfg.Storage.RetentionAge == 0 {
		return
	}
	if a.retention != nil {
		a.retention.Stop()
	}
	sys, self := a.sys, a.self
	a.retention = time.AfterFunc(a.cfg.RetentionCheckInterval, func() { sys.Root.Send(self, &messages.RetentionTick{}) })
}

// applyRetention deletes whole sealed segments from the front while the log
// is over its byte budget or they are older than the age limit. The active
// segment is never deleted.
func (a *logActor) applyRetention() {
	maxBytes, maxAge := a.cfg.Storage.RetentionBytes, a.cfg.Storage.RetentionAge
	if !a.ready || (maxBytes == 0 && maxAge == 0) {
		return
	}
	var total uint64
	for _, s := range a.segs {
		total += s.size
	}
	now := time.Now()
	for len(a.segs) > 1 {
		s := a.segs[0]
		if !s.sealed || (s.status != segReady && s.status != segIdle) {
			break
		}
		overBytes := maxBytes > 0 && total > maxBytes
		tooOld := maxAge > 0 && now.Sub(time.Unix(0, s.lastAppend)) > maxAge
		if !overBytes && !tooOld {
			break
		}
		if a.ensureOpen(s) != nil {
			break
		}
		a.segs = a.segs[1:]
		total -= s.size
		s.status = segRemoving
		op := a.newOp(s, opRemove)
		a.send(s.pid, &messages.SegmentRemove{Epoch: a.epoch, RequestId: op.id})
		a.log.WithFields(logrus.Fields{"segment": s.base, "bytes": s.size, "by_bytes": overBytes, "by_age": tooOld}).Info("retention removes segment")
	}
	a.low = a.segs[0].base
}

// ---------------------------------------------------------------------------
// Scrubbing: damage in records nobody reads is found too

func (a *logActor) armScrub() {
	if a.cfg.ScrubInterval < 0 || a.draining {
		return
	}
	if a.scrub != nil {
		a.scrub.Stop()
	}
	sys, self := a.sys, a.self
	a.scrub = time.AfterFunc(a.cfg.ScrubInterval, func() { sys.Root.Send(self, &messages.ScrubTick{}) })
}

// scrubStep reads the next chunk of sealed records through their segment
// actor, which checks every record's CRC as any read does. It goes round
// the sealed segments from the lowest retained offset; the active segment
// is left out (its tail is being written, and recovery checked it).
func (a *logActor) scrubStep() {
	act := a.active()
	if !a.ready || a.draining || a.scrubbing || a.resetting != nil || act == nil {
		return
	}
	if a.scrubNext < a.low || a.scrubNext >= act.base {
		a.scrubNext = a.low
	}
	if a.scrubNext >= act.base {
		return // nothing sealed yet
	}
	s := a.segFor(a.scrubNext)
	if s == nil || !s.sealed {
		return
	}
	switch s.status {
	case segIdle:
		if a.ensureOpen(s) != nil {
			return
		}
	case segReady:
	case segFailed:
		a.scrubNext = s.next // reported already
		return
	default:
		return // opening, restarting or going away: next tick
	}
	op := a.newOp(s, opRead)
	op.scrub, op.read = true, &messages.ConsumeRequest{Offset: a.scrubNext}
	a.scrubbing = true
	a.readsInFlight++
	a.send(s.pid, &messages.SegmentRead{
		Epoch: a.epoch, RequestId: op.id, Offset: a.scrubNext,
		MaxRecords: a.cfg.MaxReadRecords, MaxBytes: a.cfg.ScrubBytes, Limit: a.readLimit(),
	})
}

// scrubbed moves the scrubber past what it read, or reports the damage it
// found and moves on to the next segment.
func (a *logActor) scrubbed(op *segOp, m *messages.SegmentReadResult) {
	a.scrubbing = false
	from := op.read.GetOffset()
	if e := m.GetError(); e != nil && e.GetCode() != messages.SegmentErrorCode_SEGMENT_OK {
		if e.GetCode() == messages.SegmentErrorCode_SEGMENT_CORRUPT {
			a.corrupt(from, e.GetMessage())
			a.scrubNext = op.seg.next
		}
		return
	}
	recs := m.GetRecords()
	if len(recs) == 0 {
		a.scrubNext = op.seg.next
		return
	}
	a.scrubNext = recs[len(recs)-1].GetOffset() + 1
}

// corrupt reports a damaged record: logged here, repaired by the node.
func (a *logActor) corrupt(from uint64, reason string) {
	a.log.WithFields(logrus.Fields{"from_offset": from, "reason": reason}).Error("damaged record found; it is never served")
	if a.cfg.OnCorrupt != nil {
		a.cfg.OnCorrupt(from, reason)
	}
}

// ---------------------------------------------------------------------------
// Idle sealed segments

func (a *logActor) armIdle() {
	if a.cfg.SegmentIdleTimeout < 0 {
		return
	}
	sys, self := a.sys, a.self
	a.idle = time.AfterFunc(a.cfg.SegmentIdleTimeout/2, func() { sys.Root.Send(self, &messages.IdleTick{}) })
}

// stopIdle stops the actors of sealed segments that served nothing for
// SegmentIdleTimeout, releasing their files; a later read respawns them.
// A long log thus keeps only the segments in use open.
func (a *logActor) stopIdle(ctx actor.Context) {
	now := time.Now()
	for _, s := range a.segs {
		if s == a.active() || !s.sealed || s.status != segReady || s.ops > 0 || now.Sub(s.lastUsed) < a.cfg.SegmentIdleTimeout {
			continue
		}
		s.status = segStopping
		ctx.Stop(s.pid)
	}
}

// ---------------------------------------------------------------------------
// Supervision of the segment actors

// HandleFailure makes the log actor the supervisor of its segment actors
// (protoactor calls it on the log actor's own goroutine, between messages).
// It restarts a crashed segment actor, one-for-one, after answering the
// request that crashed it with Unavailable: protoactor drops that message,
// and its sender would otherwise wait forever. Requests still queued in the
// segment's mailbox survive the restart and are served by the new instance.
// More than MaxSegmentRestarts failures within RestartWindow stop the
// segment for good and escalate to the root supervisor.
func (a *logActor) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, message any) {
	s, ok := a.byID[child.GetId()]
	if !ok {
		supervisor.StopChildren(child)
		return
	}
	a.restarts++
	now := time.Now()
	s.failures = slices.DeleteFunc(s.failures, func(t time.Time) bool { return now.Sub(t) > a.cfg.RestartWindow })
	s.failures = append(s.failures, now)
	why := fmt.Sprint(reason)
	log := a.log.WithFields(logrus.Fields{"segment": s.base, "failures": len(s.failures), "reason": why})

	if op := a.crashedOp(message); op != nil {
		a.forgetOp(op)
		a.failOp(op, unavailable("segment %d crashed while serving the request; retry", s.base))
	}
	if err, ok := reason.(error); ok && s.sealed && errors.Is(err, segmentstore.ErrCorrupt) {
		// A sealed segment whose files no longer hold the records it must
		// (its tail cut while the node was down): a restart cannot mend
		// that. Reported as damage, as a read that finds it is, so the
		// node rebuilds the replica from a peer instead of going unhealthy.
		log.Error("damaged sealed segment")
		a.sealedDamaged(s, s.base, why, func() { supervisor.StopChildren(child) })
		return
	}
	if len(s.failures) > a.cfg.MaxSegmentRestarts {
		err := &SegmentFailedError{BaseOffset: s.base, Restarts: len(s.failures), Window: a.cfg.RestartWindow, Reason: why}
		log.Error("segment failed too often; stopping it and escalating")
		supervisor.StopChildren(child)
		a.failSegment(s, err)
		supervisor.EscalateFailure(err, message)
		return
	}
	a.checkDrained()
	log.Warn("segment crashed; restarting it")
	if s.status != segRemoving && s.status != segOpening {
		// An opening segment stays opening: its first SegmentReady is the
		// one that counts.
		s.status = segRestarting
	}
	supervisor.RestartChildren(child)
}

// sealedDamaged takes a sealed segment whose files lack records they must
// hold out of service for good, after stop has stopped its actor, and
// reports the records from from on as damaged: they are gone here, not
// elsewhere, so the node repairs this replica from a peer.
func (a *logActor) sealedDamaged(s *segState, from uint64, reason string, stop func()) {
	stop()
	a.failSegment(s, &SegmentFailedError{BaseOffset: s.base, Restarts: len(s.failures), Window: a.cfg.RestartWindow, Reason: reason})
	a.corrupt(from, reason)
}

// crashedOp finds the op whose command was being handled when the segment
// crashed.
func (a *logActor) crashedOp(message any) *segOp {
	type command interface {
		GetEpoch() uint64
		GetRequestId() uint64
	}
	c, ok := actor.UnwrapEnvelopeMessage(message).(command)
	if !ok || c.GetEpoch() != a.epoch {
		return nil
	}
	return a.ops[c.GetRequestId()]
}

// failOp answers the request behind op, which will get no reply.
func (a *logActor) failOp(op *segOp, reply any) {
	switch op.kind {
	case opAppend:
		if a.inflight == op {
			a.inflight = nil
		}
		a.failBatch(op.batch, reply)
	case opRead:
		a.readsInFlight--
		if op.scrub {
			a.scrubbing = false
		}
		a.send(op.from, reply)
	}
	// Seal, truncate and remove are redone when the segment is back.
}

// failSegment takes a segment out of service for good: everything in flight
// to it is answered, and appends are refused if it was the active one.
func (a *logActor) failSegment(s *segState, err error) {
	wasOpening := s.status == segOpening
	s.status = segFailed
	reply := unavailable("segment %d failed: %v", s.base, err)
	for _, op := range a.ops {
		if op.seg == s {
			a.forgetOp(op)
			a.failOp(op, reply)
		}
	}
	for _, d := range s.waiting {
		a.send(d.from, reply)
	}
	s.waiting = nil
	if a.failed == nil {
		a.failed = err
	}
	if wasOpening && !a.ready {
		a.failStartup(err)
	}
	if s == a.active() {
		a.noAppends = err
		a.failPending(reply)
	}
	a.checkDrained()
}

func (a *logActor) childTerminated(who *actor.PID) {
	s, ok := a.byID[who.GetId()]
	if !ok {
		return
	}
	delete(a.byID, who.GetId())
	switch s.status {
	case segRemoving:
		for _, op := range a.ops {
			if op.seg == s {
				a.forgetOp(op)
				a.failOp(op, unavailable("segment %d was removed by retention", s.base))
			}
		}
		a.resetProgress()
		return
	case segStopping:
		s.status, s.pid = segIdle, nil
		if waiting := s.waiting; len(waiting) > 0 {
			s.waiting = nil
			for _, d := range waiting {
				a.route(d.from, d.msg.(*messages.ConsumeRequest))
			}
		}
		return
	}
	if s.status != segFailed {
		// Stopped without our asking (the system is shutting down).
		a.failSegment(s, fmt.Errorf("segment %d stopped", s.base))
	}
}

// ---------------------------------------------------------------------------
// Operations

func (a *logActor) status() *messages.LogStatus {
	st := &messages.LogStatus{
		Ready:           a.ready,
		Healthy:         a.failed == nil,
		LowOffset:       a.low,
		NextOffset:      a.next,
		Segments:        uint32(len(a.segs)),
		SegmentRestarts: a.restarts,
		ParkedReads:     uint32(len(a.waiters)),
		SegmentReads:    a.reads,
		SegmentAppends:  a.appends,
		Draining:        a.draining,
	}
	if a.failed != nil {
		st.Reason = a.failed.Error()
	}
	for _, s := range a.segs {
		st.SizeBytes += s.size
		if s.pid != nil && s.status != segIdle {
			st.OpenSegments++
		}
	}
	return st
}

func (a *logActor) injectFault(ctx actor.Context, m *messages.InjectSegmentFault) {
	if !a.cfg.FaultInjection {
		ctx.Respond(&messages.InvalidRequest{Field: "mode", Reason: "fault injection is disabled on this node"})
		return
	}
	act := a.active()
	if act == nil || act.status == segFailed {
		ctx.Respond(unavailable("no active segment"))
		return
	}
	a.log.WithFields(logrus.Fields{"segment": act.base, "mode": m.GetMode().String()}).Warn("injecting a segment fault")
	ctx.Send(act.pid, &messages.SegmentFault{Mode: m.GetMode()})
	ctx.Respond(&messages.FaultInjected{SegmentBaseOffset: act.base})
}

// drain refuses new appends, answers parked polls, and replies LogDrained
// once the appends and reads in flight are done.
func (a *logActor) drain(ctx actor.Context) {
	a.draining = true
	for id, w := range a.waiters {
		w.timer.Stop()
		delete(a.waiters, id)
		a.send(w.from, &messages.ConsumeResponse{LowOffset: a.low, NextOffset: a.next})
	}
	a.drainWaiters = append(a.drainWaiters, ctx.Sender())
	if a.noAppends != nil {
		a.failPending(unavailable("the node is shutting down"))
	}
	a.checkDrained()
}

func (a *logActor) checkDrained() {
	if !a.draining || len(a.drainWaiters) == 0 {
		return
	}
	if a.inflight != nil || a.retry != nil || len(a.pending) > 0 || a.readsInFlight > 0 {
		return
	}
	for _, w := range a.drainWaiters {
		a.send(w, &messages.LogDrained{})
	}
	a.drainWaiters = nil
}

// shutdown answers everything the log still holds; it runs before the log
// stops or restarts, when its children are about to be stopped.
func (a *logActor) shutdown(why string) {
	if a.retention != nil {
		a.retention.Stop()
	}
	if a.idle != nil {
		a.idle.Stop()
	}
	if a.scrub != nil {
		a.scrub.Stop()
	}
	reply := unavailable("%s", why)
	for id, w := range a.waiters {
		w.timer.Stop()
		delete(a.waiters, id)
		a.send(w.from, reply)
	}
	for _, op := range a.ops {
		a.forgetOp(op)
		a.failOp(op, reply)
	}
	for _, s := range a.segs {
		for _, d := range s.waiting {
			a.send(d.from, reply)
		}
		s.waiting = nil
	}
	a.inflight = nil
	a.failPending(reply)
	for _, d := range a.deferred {
		a.send(d.from, reply)
	}
	a.deferred = nil
	st := a.status()
	st.Healthy, st.Reason = false, why
	for _, w := range a.statusWaiters {
		a.send(w, st)
	}
	a.statusWaiters = nil
	for _, w := range a.drainWaiters {
		a.send(w, &messages.LogDrained{})
	}
	a.drainWaiters = nil
}

var _ actor.SupervisorStrategy = (*logActor)(nil)
