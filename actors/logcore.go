package actors

import (
	"fmt"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// logCore is the log actor's state machine: the segment table, the offsets,
// the segments' states, roll-over, retention, idle segments, scrubbing and
// the requests in flight. It is deterministic: it is given events (a
// message the log received, a segment's reply, a timer that fired, a
// segment that crashed or stopped) with the time they happen at, and
// returns commands (send this, stop that segment, arm a timer, ...) that
// the log actor carries out in order. It starts no goroutine, reads no
// clock and touches no actor context; the PIDs it holds are only
// addresses that the commands carry. Spawning a segment actor is the one
// thing it asks for directly (spawner), because what it does next depends
// on whether the spawn succeeded.
type logCore struct {
	cfg   LogConfig
	log   *logrus.Entry
	epoch uint64
	spawn spawner

	// now is the time of the event being handled.
	now time.Time
	// out collects the commands of the event being handled.
	out []logCmd

	// fence, when set, refuses reads at and past its offset: this replica
	// diverged and is being repaired (node/repair.go).
	fence *messages.ReadFence
	// internalRead is set while a read of the FSM is routed: the fence
	// does not apply to it.
	internalRead bool

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
	ops map[uint64]*segOp
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

// spawner starts the actor of a segment and returns its PID; the
// segment's SegmentReady follows.
type spawner func(segmentSpawn) (*actor.PID, error)

// segmentSpawn is what the log decides about a segment actor it spawns.
type segmentSpawn struct {
	base   uint64
	sealed bool
	// next is where a sealed segment ends (see segmentSpec.next).
	next  uint64
	epoch uint64
}

func newLogCore(cfg LogConfig, log *logrus.Entry, epoch uint64, spawn spawner) *logCore {
	return &logCore{
		cfg:        cfg,
		log:        log,
		epoch:      epoch,
		spawn:      spawn,
		byID:       make(map[string]*segState),
		inProgress: make(map[dedupeKey]*produceReq),
		producers:  newProducerTable(cfg.DedupeProducers, cfg.DedupeWindow),
		waiters:    make(map[uint64]*waiter),
		ops:        make(map[uint64]*segOp),

		maxRequestRecords: int(min(indexCapacity(cfg.Storage), 1<<31-1)),
	}
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

// segState is the log's view of one segment actor.
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

// waiter is a long poll parked at the end of the log; its deadline is a
// timer the log actor holds (timerPoll).
type waiter struct {
	from *actor.PID
	req  *messages.ConsumeRequest
}

type deferred struct {
	from *actor.PID
	msg  any
}

type resetReq struct {
	from *actor.PID
	base uint64
}

// ---------------------------------------------------------------------------
// Events

// A logEvent is what the core is given: one of the messages the log actor
// handles (a *messages.X, taken as it is) or one of the ev types below.
type logEvent = any

// evStart is the log actor's start: what its data directory holds.
type evStart struct {
	// segments are the segments found, sorted by base; the last one is
	// the active segment (its size is not used). Never empty without err.
	segments []diskSegment
	err      error
}

// diskSegment is a segment file found at startup.
type diskSegment struct {
	base, size uint64
	lastAppend int64
}

// evProduce is a ProduceRequest with the trace context it came with.
type evProduce struct {
	req   *messages.ProduceRequest
	trace map[string]string
}

// evStopping: the log is stopping or restarting; why is told to everyone
// still waiting.
type evStopping struct{ why string }

// evTerminated: a child actor of the log stopped.
type evTerminated struct{ id string }

// evCrashed: a segment actor crashed while handling a message.
type evCrashed struct {
	id     string
	reason any
	// command is the crashed message's (epoch, request id), when it was a
	// command of the log.
	command        bool
	epoch, request uint64
}

// ---------------------------------------------------------------------------
// Commands

type cmdKind int

const (
	cmdSend         cmdKind = iota // send msg to to, from no one
	cmdCtxSend                     // send msg to to through the log's context
	cmdRespond                     // answer the sender of the message being handled
	cmdForward                     // send msg to to, with sender as its sender
	cmdAppend                      // send the append msg of batch to to, with its trace context
	cmdStop                        // stop the segment actor to
	cmdStopChild                   // supervisor: stop the crashed segment actor
	cmdRestartChild                // supervisor: restart the crashed segment actor
	cmdEscalate                    // supervisor: escalate err
	cmdArm                         // arm timer to fire after
	cmdDisarm                      // stop timer
	cmdCorrupt                     // report damaged records from offset from
)

type timerKind int

const (
	timerRetention timerKind = iota
	timerIdle
	timerScrub
	timerPoll // one per parked read, told apart by waiter
)

// logCmd is one thing the log actor does for the core.
type logCmd struct {
	kind   cmdKind
	to     *actor.PID
	msg    any
	sender *actor.PID   // cmdForward
	batch  *appendBatch // cmdAppend
	timer  timerKind    // cmdArm, cmdDisarm
	after  time.Duration
	waiter uint64 // timerPoll
	err    error  // cmdEscalate
	from   uint64 // cmdCorrupt
	reason string // cmdCorrupt
}

// step handles one event at now and returns the commands it leads to.
func (c *logCore) step(now time.Time, from *actor.PID, ev logEvent) []logCmd {
	c.now = now
	c.out = nil
	switch m := ev.(type) {
	case evStart:
		c.start(m)
	case evStopping:
		c.shutdown(m.why)
	case evTerminated:
		c.childTerminated(m.id)
	case evCrashed:
		c.crashed(m)

	case *messages.SegmentReady:
		c.segmentReady(m)
	case *messages.SegmentAppended:
		c.appended(m)
	case *messages.SegmentReadResult:
		c.readResult(m)
	case *messages.SegmentSealed:
		if op := c.takeOp(m.GetEpoch(), m.GetRequestId()); op != nil {
			op.seg.size, op.seg.lastAppend = m.GetSizeBytes(), m.GetLastAppendUnixNano()
			if c.rolling && op.seg == c.active() {
				c.rolled()
			}
		}
	case *messages.SegmentTruncated:
		c.truncated(m)
	case *messages.SegmentRemoved:
		if op := c.takeOp(m.GetEpoch(), m.GetRequestId()); op != nil {
			if e := m.GetError(); e != "" {
				c.log.WithField("segment", op.seg.base).Warnf("removing a retained-out segment: %s", e)
			}
			c.stop(op.seg.pid)
		}

	case evProduce:
		c.produce(from, m.req, m.trace)
	case *messages.ConsumeRequest:
		c.consume(from, m)
	case *messages.FSMRead:
		// The FSM reads what it wrote (its last record, snapshots) even
		// through a read fence.
		c.internalRead = true
		c.consume(from, m.GetRequest())
		c.internalRead = false
	case *messages.CheckOffset:
		c.checkOffset(from, m)
	case *messages.PollExpired:
		c.pollExpired(m.GetWaiterId())
	case *messages.RetentionTick:
		c.applyRetention()
		c.armRetention()
	case *messages.IdleTick:
		c.stopIdle()
		c.armIdle()
	case *messages.ScrubTick:
		c.scrubStep()
		c.armScrub()
	case *messages.LogStatusRequest:
		if m.GetWaitReady() && !c.ready {
			c.statusWaiters = append(c.statusWaiters, from)
			break
		}
		c.respond(c.status())
	case *messages.InjectSegmentFault:
		c.injectFault(m)
	case *messages.DrainLog:
		c.drain(from)
	case *messages.LogSync:
		c.sync(from, m)
	case *messages.LogReset:
		c.reset(from, m)
	case *messages.ReadFence:
		c.fence = m
		if !m.GetOn() {
			c.fence = nil
		}
		c.respond(&messages.ReadFenced{})
	}
	out := c.out
	c.out = nil
	return out
}

// send has msg sent to to; a nil to is no one.
func (c *logCore) send(to *actor.PID, msg any) {
	if to != nil {
		c.out = append(c.out, logCmd{kind: cmdSend, to: to, msg: msg})
	}
}

// ctxSend has a command sent to a segment actor through the log's context.
func (c *logCore) ctxSend(to *actor.PID, msg any) {
	c.out = append(c.out, logCmd{kind: cmdCtxSend, to: to, msg: msg})
}

func (c *logCore) respond(msg any) {
	c.out = append(c.out, logCmd{kind: cmdRespond, msg: msg})
}

// stop has the actor of a segment stopped.
func (c *logCore) stop(pid *actor.PID) {
	c.out = append(c.out, logCmd{kind: cmdStop, to: pid})
}

func (c *logCore) arm(t timerKind, after time.Duration, waiter uint64) {
	c.out = append(c.out, logCmd{kind: cmdArm, timer: t, after: after, waiter: waiter})
}

func (c *logCore) disarm(t timerKind, waiter uint64) {
	c.out = append(c.out, logCmd{kind: cmdDisarm, timer: t, waiter: waiter})
}

func (c *logCore) id() uint64 { c.nextID++; return c.nextID }

func unavailable(format string, args ...any) *messages.Unavailable {
	return &messages.Unavailable{Reason: fmt.Sprintf(format, args...)}
}

// fenced answers a read the fence refuses; it reports whether it did.
func (c *logCore) fenced(from *actor.PID, off uint64) bool {
	if c.fence == nil || c.internalRead || off < c.fence.GetFromOffset() {
		return false
	}
	c.send(from, unavailable("%s", c.fence.GetReason()))
	return true
}

// readLimit is the end of what reads may return: the log's end, or the
// fence.
func (c *logCore) readLimit() uint64 {
	if c.fence != nil && !c.internalRead {
		return min(c.next, c.fence.GetFromOffset())
	}
	return c.next
}

// sync has the active segment fsync everything appended before it; the
// segment answers the asker directly. Only the active segment can hold
// unsynced records: a segment is fsynced when it is sealed.
func (c *logCore) sync(from *actor.PID, m *messages.LogSync) {
	act := c.active()
	if !c.ready || act == nil || act.status != segReady || c.resetting != nil {
		c.respond(unavailable("the log cannot sync right now; retry"))
		return
	}
	c.out = append(c.out, logCmd{kind: cmdForward, to: act.pid, msg: m, sender: from})
}

// reset deletes every segment and starts an empty log at the given base
// offset; it replies LogResetDone once the new active segment is spawned.
// A raft snapshot restore uses it to replace the log. It is refused while
// anything is in flight, so the asker retries.
func (c *logCore) reset(from *actor.PID, m *messages.LogReset) {
	busy := !c.ready || c.inflight != nil || c.retry != nil || len(c.pending) > 0 || c.rolling || c.resetting != nil || c.draining
	for _, s := range c.segs {
		if s.status == segStopping || s.status == segFailed || s.status == segRestarting || s.status == segReconciling {
			busy = true
		}
	}
	if busy {
		c.respond(unavailable("the log is busy and cannot be reset; retry"))
		return
	}
	c.answerWaiters(&messages.ConsumeResponse{LowOffset: c.low, NextOffset: c.next})
	c.resetting = &resetReq{from: from, base: m.GetBaseOffset()}
	c.log.WithFields(logrus.Fields{"low": c.low, "next": c.next, "base": m.GetBaseOffset()}).Info("resetting the log")
	segs := c.segs
	c.segs = nil
	c.low, c.next = m.GetBaseOffset(), m.GetBaseOffset()
	for _, s := range segs {
		if c.ensureOpen(s) != nil {
			continue
		}
		s.status = segRemoving
		op := c.newOp(s, opRemove)
		c.send(s.pid, &messages.SegmentRemove{Epoch: c.epoch, RequestId: op.id})
	}
	c.resetProgress()
}

// resetProgress finishes a reset once every old segment actor is gone.
func (c *logCore) resetProgress() {
	r := c.resetting
	if r == nil {
		return
	}
	for _, s := range c.byID {
		if s.status == segRemoving {
			return
		}
	}
	c.resetting = nil
	// The offsets start over: what the table says was appended where is
	// no longer true, and would answer the new appends without writing
	// them.
	c.producers = newProducerTable(c.cfg.DedupeProducers, c.cfg.DedupeWindow)
	if _, err := c.spawnSegment(r.base, false); err != nil {
		c.failed, c.noAppends = err, err
		c.send(r.from, unavailable("reset failed: %v", err))
		return
	}
	c.send(r.from, &messages.LogResetDone{})
}

// answerWaiters answers every parked read with reply.
func (c *logCore) answerWaiters(reply any) {
	for id, w := range c.waiters {
		c.disarm(timerPoll, id)
		delete(c.waiters, id)
		c.send(w.from, reply)
	}
}

func (c *logCore) status() *messages.LogStatus {
	st := &messages.LogStatus{
		Ready:           c.ready,
		Healthy:         c.failed == nil,
		LowOffset:       c.low,
		NextOffset:      c.next,
		Segments:        uint32(len(c.segs)),
		SegmentRestarts: c.restarts,
		ParkedReads:     uint32(len(c.waiters)),
		SegmentReads:    c.reads,
		SegmentAppends:  c.appends,
		Draining:        c.draining,
	}
	if c.failed != nil {
		st.Reason = c.failed.Error()
	}
	for _, s := range c.segs {
		st.SizeBytes += s.size
		if s.pid != nil && s.status != segIdle {
			st.OpenSegments++
		}
	}
	return st
}

func (c *logCore) injectFault(m *messages.InjectSegmentFault) {
	if !c.cfg.FaultInjection {
		c.respond(&messages.InvalidRequest{Field: "mode", Reason: "fault injection is disabled on this node"})
		return
	}
	act := c.active()
	if act == nil || act.status == segFailed {
		c.respond(unavailable("no active segment"))
		return
	}
	c.log.WithFields(logrus.Fields{"segment": act.base, "mode": m.GetMode().String()}).Warn("injecting a segment fault")
	c.ctxSend(act.pid, &messages.SegmentFault{Mode: m.GetMode()})
	c.respond(&messages.FaultInjected{SegmentBaseOffset: act.base})
}

// drain refuses new appends, answers parked polls, and replies LogDrained
// once the appends and reads in flight are done.
func (c *logCore) drain(from *actor.PID) {
	c.draining = true
	c.answerWaiters(&messages.ConsumeResponse{LowOffset: c.low, NextOffset: c.next})
	c.drainWaiters = append(c.drainWaiters, from)
	if c.noAppends != nil {
		c.failPending(unavailable("the node is shutting down"))
	}
	c.checkDrained()
}

func (c *logCore) checkDrained() {
	if !c.draining || len(c.drainWaiters) == 0 {
		return
	}
	if c.inflight != nil || c.retry != nil || len(c.pending) > 0 || c.readsInFlight > 0 {
		return
	}
	for _, w := range c.drainWaiters {
		c.send(w, &messages.LogDrained{})
	}
	c.drainWaiters = nil
}

// shutdown answers everything the log still holds; it runs before the log
// stops or restarts, when its children are about to be stopped.
func (c *logCore) shutdown(why string) {
	c.disarm(timerRetention, 0)
	c.disarm(timerIdle, 0)
	c.disarm(timerScrub, 0)
	reply := unavailable("%s", why)
	c.answerWaiters(reply)
	for _, op := range c.ops {
		c.forgetOp(op)
		c.failOp(op, reply)
	}
	for _, s := range c.segs {
		for _, d := range s.waiting {
			c.send(d.from, reply)
		}
		s.waiting = nil
	}
	c.inflight = nil
	c.failPending(reply)
	for _, d := range c.deferred {
		c.send(d.from, reply)
	}
	c.deferred = nil
	st := c.status()
	st.Healthy, st.Reason = false, why
	for _, w := range c.statusWaiters {
		c.send(w, st)
	}
	c.statusWaiters = nil
	for _, w := range c.drainWaiters {
		c.send(w, &messages.LogDrained{})
	}
	c.drainWaiters = nil
}
