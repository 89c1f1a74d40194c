package actors

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/sirupsen/logrus"
)

// The core's segment table: startup, segment actors spawned, recovered,
// supervised and stopped, retention and idle segments.

// start takes the segments found in the data directory: the sealed ones
// stay closed until a read needs them, the active one is spawned; the log
// is ready when it has reported its recovered state.
func (c *logCore) start(ev evStart) {
	if ev.err != nil {
		c.failStartup(ev.err)
		return
	}
	// Sealed segments are complete on disk (a segment is sealed and
	// fsynced before the next one is created), so their range follows from
	// the file names: they are opened when a read first needs them, and
	// startup costs the active segment's recovery only, however long the
	// log.
	found := ev.segments
	for i, d := range found[:len(found)-1] {
		c.segs = append(c.segs, &segState{base: d.base, next: found[i+1].base, sealed: true, status: segIdle,
			size: d.size, lastAppend: d.lastAppend})
	}
	if _, err := c.spawnSegment(found[len(found)-1].base, false); err != nil {
		c.failStartup(err)
		return
	}
	c.opening = 1
	c.log.WithFields(logrus.Fields{"dir": c.cfg.Dir, "segments": len(found)}).Debug("opening the active segment")
}

func (c *logCore) spawnSegment(base uint64, sealed bool) (*segState, error) {
	s := &segState{base: base, next: base, sealed: sealed}
	if err := c.spawnActor(s); err != nil {
		return nil, err
	}
	c.segs = append(c.segs, s)
	return s, nil
}

// spawnActor starts the segment actor of s; its SegmentReady follows.
func (c *logCore) spawnActor(s *segState) error {
	pid, err := c.spawn(segmentSpawn{base: s.base, sealed: s.sealed, next: s.next, epoch: c.epoch})
	if err != nil {
		return fmt.Errorf("%w: spawn segment %d: %v", ErrStorageFailed, s.base, err)
	}
	s.pid, s.status, s.lastUsed = pid, segOpening, c.now
	c.byID[pid.GetId()] = s
	return nil
}

// ensureOpen spawns the actor of an idle sealed segment; requests sent to
// it right away wait in its mailbox until it has opened its files.
func (c *logCore) ensureOpen(s *segState) error {
	if s.status != segIdle {
		return nil
	}
	if err := c.spawnActor(s); err != nil {
		c.failSegment(s, err)
		return err
	}
	return nil
}

func (c *logCore) failStartup(err error) {
	c.log.WithError(err).Error("log failed to open")
	c.failed = err
	c.noAppends = err
	c.becomeReady()
}

func (c *logCore) becomeReady() {
	if c.ready {
		return
	}
	c.ready = true
	for _, w := range c.statusWaiters {
		c.send(w, c.status())
	}
	c.statusWaiters = nil
	queued := c.deferred
	c.deferred = nil
	for _, d := range queued {
		switch m := d.msg.(type) {
		case *messages.ProduceRequest:
			c.produce(d.from, m, nil)
		case *messages.ConsumeRequest:
			c.consume(d.from, m)
		case *messages.CheckOffset:
			c.checkOffsetFrom(d.from, m)
		}
	}
	c.armRetention()
	c.armIdle()
	c.armScrub()
}

func (c *logCore) segmentReady(m *messages.SegmentReady) {
	if m.GetEpoch() != c.epoch {
		return
	}
	s := c.segAt(m.GetBaseOffset())
	if s == nil {
		// Not in the list any more: one that retention is removing.
		for _, r := range c.byID {
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
			c.log.WithFields(logrus.Fields{"segment": s.base, "next": m.GetNextOffset(), "expected": s.next}).Error("damaged sealed segment")
			reason := fmt.Sprintf("sealed segment holds offsets up to %d but the next segment starts at %d", m.GetNextOffset(), s.next)
			c.sealedDamaged(s, max(s.base, m.GetNextOffset()), reason, logCmd{kind: cmdStop, to: s.pid})
			return
		}
		s.next, s.size, s.lastAppend = m.GetNextOffset(), m.GetSizeBytes(), m.GetLastAppendUnixNano()
		s.status = segReady
		if !c.ready {
			c.opening--
			if c.opening == 0 {
				c.finishStartup()
			}
			return
		}
		// A segment created by a roll-over: the queued appends can go.
		c.flush()
	case segRestarting:
		got := m.GetNextOffset()
		log := c.log.WithFields(logrus.Fields{"segment": s.base, "acknowledged": s.next, "on_disk": got})
		switch {
		case got < s.next:
			// Acknowledged records are gone: this must never happen, since a
			// restart closes (flushes) the old files first.
			err := &SegmentFailedError{BaseOffset: s.base, Restarts: len(s.failures), Window: c.cfg.RestartWindow,
				Reason: fmt.Sprintf("reopened with next offset %d below the acknowledged %d", got, s.next)}
			log.Error("acknowledged records lost in a segment restart")
			c.failSegment(s, err)
			return
		case got > s.next:
			// The crashed append reached the disk but was never
			// acknowledged (its client got Unavailable): drop it, so a retry
			// appends it again at the same offsets and nothing is doubled.
			log.Warn("dropping unacknowledged records after a segment restart")
			s.status = segReconciling
			op := c.newOp(s, opTruncate)
			c.ctxSend(s.pid, &messages.SegmentTruncate{Epoch: c.epoch, RequestId: op.id, FromOffset: s.next})
		default:
			log.Info("segment restarted")
			c.segmentRecovered(s)
		}
	case segRemoving:
		// Crashed while being removed (its remove op was answered by the
		// crash): finish the job.
		if s.ops == 0 {
			op := c.newOp(s, opRemove)
			c.ctxSend(s.pid, &messages.SegmentRemove{Epoch: c.epoch, RequestId: op.id})
		}
	}
}

func (c *logCore) truncated(m *messages.SegmentTruncated) {
	op := c.takeOp(m.GetEpoch(), m.GetRequestId())
	if op == nil {
		return
	}
	s := op.seg
	s.size = m.GetSizeBytes()
	if m.GetNextOffset() != s.next {
		c.failSegment(s, &SegmentFailedError{BaseOffset: s.base, Restarts: len(s.failures), Window: c.cfg.RestartWindow,
			Reason: fmt.Sprintf("truncated to %d, expected %d", m.GetNextOffset(), s.next)})
		return
	}
	c.segmentRecovered(s)
}

// segmentRecovered puts a restarted segment back in service.
func (c *logCore) segmentRecovered(s *segState) {
	s.status = segReady
	if s.sealed {
		// The new instance opened writable; make it read-only again.
		op := c.newOp(s, opSeal)
		c.ctxSend(s.pid, &messages.SegmentSeal{Epoch: c.epoch, RequestId: op.id})
	}
	c.flush()
}

// finishStartup checks that the recovered segments are contiguous and
// starts serving.
func (c *logCore) finishStartup() {
	for i := 0; i+1 < len(c.segs); i++ {
		cur, nxt := c.segs[i], c.segs[i+1]
		if cur.next != nxt.base {
			c.failStartup(fmt.Errorf("%w: segment %d ends at offset %d but the next segment starts at %d",
				ErrStorageFailed, cur.base, cur.next, nxt.base))
			return
		}
	}
	c.low, c.next = c.segs[0].base, c.segs[len(c.segs)-1].next
	c.log.WithFields(logrus.Fields{"low": c.low, "next": c.next, "segments": len(c.segs)}).Info("log ready")
	c.becomeReady()
	c.applyRetention()
}

func (c *logCore) active() *segState {
	if len(c.segs) == 0 {
		return nil
	}
	return c.segs[len(c.segs)-1]
}

func segBase(s *segState) uint64 { return s.base }

func segSize(s *segState) uint64 { return s.size }

func segLastAppend(s *segState) time.Time { return time.Unix(0, s.lastAppend) }

func (c *logCore) segAt(base uint64) *segState {
	i := segmentstore.SegmentFrom(c.segs, segBase, base)
	if i < len(c.segs) && c.segs[i].base == base {
		return c.segs[i]
	}
	return nil
}

// segFor returns the segment holding off, which must be in [low, next).
func (c *logCore) segFor(off uint64) *segState {
	i := segmentstore.SegmentHolding(c.segs, segBase, off)
	if i < 0 {
		return nil
	}
	return c.segs[i]
}

func (c *logCore) newOp(s *segState, kind opKind) *segOp {
	op := &segOp{id: c.id(), kind: kind, seg: s}
	c.ops[op.id] = op
	s.ops++
	s.lastUsed = c.now
	return op
}

// forgetOp removes op from the ops in flight.
func (c *logCore) forgetOp(op *segOp) {
	if _, ok := c.ops[op.id]; ok {
		delete(c.ops, op.id)
		op.seg.ops--
	}
}

// takeOp finds and forgets the op a reply answers; nil for a stale reply.
func (c *logCore) takeOp(epoch, id uint64) *segOp {
	if epoch != c.epoch {
		return nil
	}
	op, ok := c.ops[id]
	if !ok {
		return nil
	}
	c.forgetOp(op)
	return op
}

// ---------------------------------------------------------------------------
// Retention

func (c *logCore) armRetention() {
	if c.cfg.Storage.RetentionBytes == 0 && c.cfg.Storage.RetentionAge == 0 {
		return
	}
	c.arm(timerRetention, c.cfg.RetentionCheckInterval, 0)
}

// applyRetention deletes whole sealed segments from the front while the log
// is over its byte budget or they are older than the age limit, as
// segmentstore.RetentionCut decides. The active segment is never deleted,
// and neither is a segment that is not serving, nor any after it.
func (c *logCore) applyRetention() {
	maxBytes, maxAge := c.cfg.Storage.RetentionBytes, c.cfg.Storage.RetentionAge
	if !c.ready || (maxBytes == 0 && maxAge == 0) {
		return
	}
	var total uint64
	for _, s := range c.segs {
		total += s.size
	}
	for n := segmentstore.RetentionCut(c.segs, segSize, segLastAppend, maxBytes, maxAge, c.now); n > 0; n-- {
		s := c.segs[0]
		if !s.sealed || (s.status != segReady && s.status != segIdle) {
			break
		}
		if c.ensureOpen(s) != nil {
			break
		}
		overBytes := maxBytes > 0 && total > maxBytes
		tooOld := maxAge > 0 && c.now.Sub(time.Unix(0, s.lastAppend)) > maxAge
		c.segs = c.segs[1:]
		total -= s.size
		s.status = segRemoving
		op := c.newOp(s, opRemove)
		c.send(s.pid, &messages.SegmentRemove{Epoch: c.epoch, RequestId: op.id})
		c.log.WithFields(logrus.Fields{"segment": s.base, "bytes": s.size, "by_bytes": overBytes, "by_age": tooOld}).Info("retention removes segment")
	}
	c.low = c.segs[0].base
}

// ---------------------------------------------------------------------------
// Idle sealed segments

func (c *logCore) armIdle() {
	if c.cfg.SegmentIdleTimeout < 0 {
		return
	}
	c.arm(timerIdle, c.cfg.SegmentIdleTimeout/2, 0)
}

// stopIdle stops the actors of sealed segments that served nothing for
// SegmentIdleTimeout, releasing their files; a later read respawns them.
// A long log thus keeps only the segments in use open.
func (c *logCore) stopIdle() {
	for _, s := range c.segs {
		if s == c.active() || !s.sealed || s.status != segReady || s.ops > 0 || c.now.Sub(s.lastUsed) < c.cfg.SegmentIdleTimeout {
			continue
		}
		s.status = segStopping
		c.stop(s.pid)
	}
}

// ---------------------------------------------------------------------------
// Supervision of the segment actors

// crashed handles a segment actor's crash: the log actor supervises its
// segment actors and hands each failure here. It restarts the segment
// actor, one-for-one, after answering the request that crashed it with
// Unavailable: protoactor drops that message, and its sender would
// otherwise wait forever. Requests still queued in the segment's mailbox
// survive the restart and are served by the new instance. More than
// MaxSegmentRestarts failures within RestartWindow stop the segment for
// good and escalate to the root supervisor.
func (c *logCore) crashed(ev evCrashed) {
	s, ok := c.byID[ev.id]
	if !ok {
		c.out = append(c.out, logCmd{kind: cmdStopChild})
		return
	}
	c.restarts++
	now := c.now
	s.failures = slices.DeleteFunc(s.failures, func(t time.Time) bool { return now.Sub(t) > c.cfg.RestartWindow })
	s.failures = append(s.failures, now)
	why := fmt.Sprint(ev.reason)
	log := c.log.WithFields(logrus.Fields{"segment": s.base, "failures": len(s.failures), "reason": why})

	if op := c.crashedOp(ev); op != nil {
		c.forgetOp(op)
		c.failOp(op, unavailable("segment %d crashed while serving the request; retry", s.base))
	}
	if err, ok := ev.reason.(error); ok && s.sealed && errors.Is(err, segmentstore.ErrCorrupt) {
		// A sealed segment whose files no longer hold the records it must
		// (its tail cut while the node was down): a restart cannot mend
		// that. Reported as damage, as a read that finds it is, so the
		// node rebuilds the replica from a peer instead of going unhealthy.
		log.Error("damaged sealed segment")
		c.sealedDamaged(s, s.base, why, logCmd{kind: cmdStopChild})
		return
	}
	if len(s.failures) > c.cfg.MaxSegmentRestarts {
		err := &SegmentFailedError{BaseOffset: s.base, Restarts: len(s.failures), Window: c.cfg.RestartWindow, Reason: why}
		log.Error("segment failed too often; stopping it and escalating")
		c.out = append(c.out, logCmd{kind: cmdStopChild})
		c.failSegment(s, err)
		c.out = append(c.out, logCmd{kind: cmdEscalate, err: err})
		return
	}
	c.checkDrained()
	log.Warn("segment crashed; restarting it")
	if s.status != segRemoving && s.status != segOpening {
		// An opening segment stays opening: its first SegmentReady is the
		// one that counts.
		s.status = segRestarting
	}
	c.out = append(c.out, logCmd{kind: cmdRestartChild})
}

// sealedDamaged takes a sealed segment whose files lack records they must
// hold out of service for good, after stop has stopped its actor, and
// reports the records from from on as damaged: they are gone here, not
// elsewhere, so the node repairs this replica from a peer.
func (c *logCore) sealedDamaged(s *segState, from uint64, reason string, stop logCmd) {
	c.out = append(c.out, stop)
	c.failSegment(s, &SegmentFailedError{BaseOffset: s.base, Restarts: len(s.failures), Window: c.cfg.RestartWindow, Reason: reason})
	c.corrupt(from, reason)
}

// crashedOp finds the op whose command was being handled when the segment
// crashed.
func (c *logCore) crashedOp(ev evCrashed) *segOp {
	if !ev.command || ev.epoch != c.epoch {
		return nil
	}
	return c.ops[ev.request]
}

// failOp answers the request behind op, which will get no reply.
func (c *logCore) failOp(op *segOp, reply any) {
	switch op.kind {
	case opAppend:
		if c.inflight == op {
			c.inflight = nil
		}
		c.failBatch(op.batch, reply)
	case opRead:
		c.readsInFlight--
		if op.scrub {
			c.scrubbing = false
		}
		c.send(op.from, reply)
	}
	// Seal, truncate and remove are redone when the segment is back.
}

// failSegment takes a segment out of service for good: everything in flight
// to it is answered, and appends are refused if it was the active one.
func (c *logCore) failSegment(s *segState, err error) {
	wasOpening := s.status == segOpening
	s.status = segFailed
	reply := unavailable("segment %d failed: %v", s.base, err)
	for _, op := range c.ops {
		if op.seg == s {
			c.forgetOp(op)
			c.failOp(op, reply)
		}
	}
	for _, d := range s.waiting {
		c.send(d.from, reply)
	}
	s.waiting = nil
	if c.failed == nil {
		c.failed = err
	}
	if wasOpening && !c.ready {
		c.failStartup(err)
	}
	if s == c.active() {
		c.noAppends = err
		c.failPending(reply)
	}
	c.checkDrained()
}

func (c *logCore) childTerminated(id string) {
	s, ok := c.byID[id]
	if !ok {
		return
	}
	delete(c.byID, id)
	switch s.status {
	case segRemoving:
		for _, op := range c.ops {
			if op.seg == s {
				c.forgetOp(op)
				c.failOp(op, unavailable("segment %d was removed by retention", s.base))
			}
		}
		c.resetProgress()
		return
	case segStopping:
		s.status, s.pid = segIdle, nil
		if waiting := s.waiting; len(waiting) > 0 {
			s.waiting = nil
			for _, d := range waiting {
				c.route(d.from, d.msg.(*messages.ConsumeRequest))
			}
		}
		return
	}
	if s.status != segFailed {
		// Stopped without our asking (the system is shutting down).
		c.failSegment(s, fmt.Errorf("segment %d stopped", s.base))
	}
}
