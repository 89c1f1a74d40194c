package actors

import (
	"fmt"
	"slices"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// The core's appends and reads: produce requests queued and coalesced into
// one append at a time, reads routed to the segment that holds them, long
// polls parked at the end of the log, and the scrubber.

// ---------------------------------------------------------------------------
// Produce

func (c *logCore) produce(from *actor.PID, m *messages.ProduceRequest, trace map[string]string) {
	if !c.ready {
		c.deferred = append(c.deferred, deferred{from, m})
		return
	}
	switch {
	case len(m.GetRecords()) == 0:
		c.send(from, &messages.InvalidRequest{Field: "records", Reason: "empty batch: at least one record is required"})
		return
	case len(m.GetRecords()) > c.maxRequestRecords:
		c.send(from, &messages.InvalidRequest{Field: "records", Reason: fmt.Sprintf(
			"batch of %d records exceeds the limit of %d records per request (one segment's index)", len(m.GetRecords()), c.maxRequestRecords)})
		return
	}
	pr := &produceReq{sender: from, req: m, trace: trace}
	for _, r := range m.GetRecords() {
		pr.bytes += len(r.GetValue())
	}
	if p := m.GetProducerId(); p != "" {
		pr.key = dedupeKey{producer: p, seq: m.GetSequence()}
		if b, ok := c.producers.lookup(p, m.GetSequence()); ok {
			c.send(from, &messages.ProduceResponse{Offsets: offsetRange(b.first, int(b.count))})
			return
		}
		if orig, ok := c.inProgress[pr.key]; ok {
			orig.dupes = append(orig.dupes, from)
			return
		}
	}
	// A retry of an applied request is answered above even now.
	switch {
	case c.noAppends != nil:
		c.send(from, unavailable("storage failed: %v", c.noAppends))
		return
	case c.draining:
		c.send(from, unavailable("the node is shutting down"))
		return
	}
	if c.pendingBytes > 0 && c.pendingBytes+pr.bytes > c.cfg.MaxPendingBytes {
		// The disk is not keeping up; queueing more would only grow memory
		// until the clients' deadlines pass.
		c.send(from, unavailable("the log is overloaded (%d bytes waiting to be appended); retry", c.pendingBytes))
		return
	}
	if pr.key.producer != "" {
		c.inProgress[pr.key] = pr
	}
	c.pending = append(c.pending, pr)
	c.pendingBytes += pr.bytes
	c.flush()
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
func (c *logCore) flush() {
	if c.inflight != nil || !c.ready {
		return
	}
	act := c.active()
	if act == nil || act.status != segReady || act.sealed {
		return
	}
	b := c.retry
	c.retry = nil
	if b == nil {
		if len(c.pending) == 0 {
			c.checkDrained()
			return
		}
		b = c.takeBatch()
	}
	op := c.newOp(act, opAppend)
	op.batch = b
	c.inflight = op
	c.appends++
	c.out = append(c.out, logCmd{kind: cmdAppend, to: act.pid, batch: b, msg: &messages.SegmentAppend{
		Epoch: c.epoch, RequestId: op.id, Records: b.records, TimestampUnixNano: c.now.UnixNano(),
	}})
}

// takeBatch takes queued requests up to the append limits (at least one).
func (c *logCore) takeBatch() *appendBatch {
	n, recs, bytes := 0, 0, 0
	for n < len(c.pending) {
		r := c.pending[n].req.GetRecords()
		sz := c.pending[n].bytes
		if n > 0 && (recs+len(r) > c.cfg.MaxAppendRecords || bytes+sz > c.cfg.MaxAppendBytes) {
			break
		}
		n, recs, bytes = n+1, recs+len(r), bytes+sz
	}
	c.pendingBytes -= bytes
	b := &appendBatch{reqs: slices.Clone(c.pending[:n])}
	clear(c.pending[:n])
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = c.pending[:0:0]
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

func (c *logCore) appended(m *messages.SegmentAppended) {
	op := c.takeOp(m.GetEpoch(), m.GetRequestId())
	if op == nil {
		return
	}
	c.inflight = nil
	s := op.seg
	if e := m.GetError(); e != nil && e.GetCode() != messages.SegmentErrorCode_SEGMENT_OK {
		switch e.GetCode() {
		case messages.SegmentErrorCode_SEGMENT_FULL:
			if s.next == s.base {
				// Cannot happen: batches are capped at a segment's capacity.
				c.failBatch(op.batch, unavailable("batch does not fit an empty segment: %s", e.GetMessage()))
			} else {
				c.retry = op.batch
				c.roll()
			}
		case messages.SegmentErrorCode_SEGMENT_RECORD_TOO_LARGE:
			c.failBatch(op.batch, &messages.InvalidRequest{Field: "records", Reason: e.GetMessage()})
		default:
			c.failBatch(op.batch, unavailable("append failed: %s", e.GetMessage()))
		}
		c.flush()
		return
	}
	first, n := m.GetFirstOffset(), uint64(m.GetCount())
	if first != s.next {
		c.log.WithFields(logrus.Fields{"segment": s.base, "expected": s.next, "got": first}).Error("segment assigned unexpected offsets")
	}
	s.next, s.size = m.GetNextOffset(), m.GetSizeBytes()
	s.lastAppend = c.now.UnixNano()
	c.next = s.next
	// One allocation for the offsets of the whole batch; each reply gets
	// its sub-slice.
	all := offsetRange(first, int(n))
	at := 0
	for _, pr := range op.batch.reqs {
		k := len(pr.req.GetRecords())
		offs := all[at : at+k : at+k]
		at += k
		resp := &messages.ProduceResponse{Offsets: offs}
		c.send(pr.sender, resp)
		for _, d := range pr.dupes {
			c.send(d, resp)
		}
		if pr.key.producer != "" {
			delete(c.inProgress, pr.key)
			c.producers.record(pr.key.producer, pr.key.seq, offs[0], uint32(k))
		}
	}
	if m.GetFull() {
		c.roll()
	}
	c.wakeWaiters()
	c.flush()
	c.checkDrained()
}

// failBatch answers every request of a batch with reply.
func (c *logCore) failBatch(b *appendBatch, reply any) {
	if b == nil {
		return
	}
	for _, pr := range b.reqs {
		c.failProduce(pr, reply)
	}
}

func (c *logCore) failProduce(pr *produceReq, reply any) {
	c.send(pr.sender, reply)
	for _, d := range pr.dupes {
		c.send(d, reply)
	}
	if pr.key.producer != "" {
		delete(c.inProgress, pr.key)
	}
}

// roll seals the active segment and spawns the next one at the log's next
// offset; appends wait until it is ready.
func (c *logCore) roll() {
	act := c.active()
	if act == nil || act.sealed || act.next == act.base {
		return
	}
	act.sealed = true
	c.rolling = true
	op := c.newOp(act, opSeal)
	c.ctxSend(act.pid, &messages.SegmentSeal{Epoch: c.epoch, RequestId: op.id})
}

// rolled creates the next segment once the previous one is sealed, so that
// a sealed segment is complete and durable before the next one exists.
func (c *logCore) rolled() {
	c.rolling = false
	sealed := c.active()
	if _, err := c.spawnSegment(c.next, false); err != nil {
		c.failed, c.noAppends = err, err
		c.log.WithError(err).Error("roll-over failed")
		c.failPending(unavailable("storage failed: %v", err))
		return
	}
	c.log.WithFields(logrus.Fields{"sealed": sealed.base, "active": c.next}).Debug("rolled over")
	c.applyRetention()
}

func (c *logCore) failPending(reply any) {
	c.failBatch(c.retry, reply)
	c.retry = nil
	for _, pr := range c.pending {
		c.failProduce(pr, reply)
	}
	c.pending, c.pendingBytes = nil, 0
}

// ---------------------------------------------------------------------------
// Consume

func (c *logCore) consume(from *actor.PID, m *messages.ConsumeRequest) {
	if !c.ready {
		c.deferred = append(c.deferred, deferred{from, m})
		return
	}
	off := m.GetOffset()
	if c.fenced(from, off) {
		return
	}
	if off < c.low || off > c.next || (off == c.next && m.GetWaitMs() == 0) {
		c.send(from, &messages.OffsetOutOfRange{Offset: off, LowOffset: c.low, NextOffset: c.next})
		return
	}
	if off == c.next {
		if c.draining {
			// Not an empty answer: a subscription would poll again at once.
			c.send(from, unavailable("the node is shutting down"))
			return
		}
		c.park(from, m)
		return
	}
	c.route(from, m)
}

// park holds a long poll at the end of the log until records arrive or its
// deadline passes; the deadline is a timer that sends PollExpired, so a
// parked poll costs nothing while it waits.
func (c *logCore) park(from *actor.PID, m *messages.ConsumeRequest) {
	wait := min(time.Duration(m.GetWaitMs())*time.Millisecond, c.cfg.MaxWait)
	id := c.id()
	c.waiters[id] = &waiter{from: from, req: m}
	c.arm(timerPoll, wait, id)
}

func (c *logCore) pollExpired(id uint64) {
	w, ok := c.waiters[id]
	if !ok {
		return
	}
	delete(c.waiters, id)
	c.send(w.from, &messages.ConsumeResponse{LowOffset: c.low, NextOffset: c.next})
}

func (c *logCore) wakeWaiters() {
	if len(c.waiters) == 0 {
		return
	}
	for id, w := range c.waiters {
		c.disarm(timerPoll, id)
		delete(c.waiters, id)
		c.route(w.from, w.req)
	}
}

// route sends a read to the segment holding its offset; the segment's reply
// comes back here and is forwarded with the log's bounds.
func (c *logCore) route(from *actor.PID, m *messages.ConsumeRequest) {
	if c.fenced(from, m.GetOffset()) {
		return
	}
	s := c.segFor(m.GetOffset())
	if s == nil {
		c.send(from, &messages.OffsetOutOfRange{Offset: m.GetOffset(), LowOffset: c.low, NextOffset: c.next})
		return
	}
	switch s.status {
	case segFailed:
		c.send(from, unavailable("segment %d failed: %v", s.base, c.failed))
		return
	case segStopping:
		s.waiting = append(s.waiting, deferred{from, m})
		return
	case segIdle:
		if c.ensureOpen(s) != nil {
			c.send(from, unavailable("segment %d cannot be opened", s.base))
			return
		}
	}
	maxRecords := m.GetMaxRecords()
	if maxRecords == 0 {
		maxRecords = c.cfg.DefaultReadRecords
	}
	maxBytes := m.GetMaxBytes()
	if maxBytes == 0 {
		maxBytes = c.cfg.DefaultReadBytes
	}
	op := c.newOp(s, opRead)
	op.from, op.read = from, m
	c.reads++
	c.readsInFlight++
	c.send(s.pid, &messages.SegmentRead{
		Epoch: c.epoch, RequestId: op.id, Offset: m.GetOffset(),
		MaxRecords: min(maxRecords, c.cfg.MaxReadRecords), MaxBytes: min(maxBytes, c.cfg.MaxReadBytes),
		Limit: c.readLimit(),
	})
}

func (c *logCore) readResult(m *messages.SegmentReadResult) {
	op := c.takeOp(m.GetEpoch(), m.GetRequestId())
	if op == nil {
		return
	}
	c.readsInFlight--
	defer c.checkDrained()
	if op.scrub {
		c.scrubbed(op, m)
		return
	}
	if e := m.GetError(); e != nil && e.GetCode() != messages.SegmentErrorCode_SEGMENT_OK {
		switch e.GetCode() {
		case messages.SegmentErrorCode_SEGMENT_CORRUPT:
			c.corrupt(op.read.GetOffset(), e.GetMessage())
			c.send(op.from, unavailable("read at offset %d failed: %s", op.read.GetOffset(), e.GetMessage()))
		case messages.SegmentErrorCode_SEGMENT_OUT_OF_RANGE:
			// Retention removed the records meanwhile.
			c.send(op.from, &messages.OffsetOutOfRange{Offset: op.read.GetOffset(), LowOffset: c.low, NextOffset: c.next})
		default:
			c.send(op.from, unavailable("read at offset %d failed: %s", op.read.GetOffset(), e.GetMessage()))
		}
		return
	}
	c.send(op.from, &messages.ConsumeResponse{Records: m.GetRecords(), LowOffset: c.low, NextOffset: c.next})
}

func (c *logCore) checkOffset(from *actor.PID, m *messages.CheckOffset) {
	if !c.ready {
		c.deferred = append(c.deferred, deferred{from, m})
		return
	}
	c.checkOffsetFrom(from, m)
}

func (c *logCore) checkOffsetFrom(from *actor.PID, m *messages.CheckOffset) {
	if m.GetOffset() < c.low || m.GetOffset() > c.next {
		c.send(from, &messages.OffsetOutOfRange{Offset: m.GetOffset(), LowOffset: c.low, NextOffset: c.next})
		return
	}
	c.send(from, &messages.OffsetAccepted{LowOffset: c.low, NextOffset: c.next})
}

// ---------------------------------------------------------------------------
// Scrubbing: damage in records nobody reads is found too

func (c *logCore) armScrub() {
	if c.cfg.ScrubInterval < 0 || c.draining {
		return
	}
	c.arm(timerScrub, c.cfg.ScrubInterval, 0)
}

// scrubStep reads the next chunk of sealed records through their segment
// actor, which checks every record's CRC as any read does. It goes round
// the sealed segments from the lowest retained offset; the active segment
// is left out (its tail is being written, and recovery checked it).
func (c *logCore) scrubStep() {
	act := c.active()
	if !c.ready || c.draining || c.scrubbing || c.resetting != nil || act == nil {
		return
	}
	if c.scrubNext < c.low || c.scrubNext >= act.base {
		c.scrubNext = c.low
	}
	if c.scrubNext >= act.base {
		return // nothing sealed yet
	}
	s := c.segFor(c.scrubNext)
	if s == nil || !s.sealed {
		return
	}
	switch s.status {
	case segIdle:
		if c.ensureOpen(s) != nil {
			return
		}
	case segReady:
	case segFailed:
		c.scrubNext = s.next // reported already
		return
	default:
		return // opening, restarting or going away: next tick
	}
	op := c.newOp(s, opRead)
	op.scrub, op.read = true, &messages.ConsumeRequest{Offset: c.scrubNext}
	c.scrubbing = true
	c.readsInFlight++
	c.send(s.pid, &messages.SegmentRead{
		Epoch: c.epoch, RequestId: op.id, Offset: c.scrubNext,
		MaxRecords: c.cfg.MaxReadRecords, MaxBytes: c.cfg.ScrubBytes, Limit: c.readLimit(),
	})
}

// scrubbed moves the scrubber past what it read, or reports the damage it
// found and moves on to the next segment.
func (c *logCore) scrubbed(op *segOp, m *messages.SegmentReadResult) {
	c.scrubbing = false
	from := op.read.GetOffset()
	if e := m.GetError(); e != nil && e.GetCode() != messages.SegmentErrorCode_SEGMENT_OK {
		if e.GetCode() == messages.SegmentErrorCode_SEGMENT_CORRUPT {
			c.corrupt(from, e.GetMessage())
			c.scrubNext = op.seg.next
		}
		return
	}
	recs := m.GetRecords()
	if len(recs) == 0 {
		c.scrubNext = op.seg.next
		return
	}
	c.scrubNext = recs[len(recs)-1].GetOffset() + 1
}

// corrupt reports a damaged record: logged here, repaired by the node.
func (c *logCore) corrupt(from uint64, reason string) {
	c.log.WithFields(logrus.Fields{"from_offset": from, "reason": reason}).Error("damaged record found; it is never served")
	if c.cfg.OnCorrupt != nil {
		c.out = append(c.out, logCmd{kind: cmdCorrupt, from: from, reason: reason})
	}
}
