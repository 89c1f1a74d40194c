package actors

import (
	"fmt"
	"math/rand/v2"
	"os"
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

// logActor owns the ordered list of segments: it spawns and supervises the
// segment actors, assigns every append to the active segment, routes every
// read to the segment that holds the offset, rolls segments over, applies
// retention and parks long polls. See the package documentation for the
// protocol. The decisions are logCore's; the actor turns the messages it
// receives into the core's events, and the core's commands into sends,
// spawns, stops and timers.
type logActor struct {
	cfg  LogConfig
	log  *logrus.Entry
	core *logCore
	// traced: the segments trace the appends of traced requests, so the
	// log passes their trace context on.
	traced bool
	sys    *actor.ActorSystem
	self   *actor.PID
	// ctx is the log actor's own context, kept to spawn segment actors
	// from code that runs on the actor's goroutine outside Receive
	// (HandleFailure, deferred work).
	ctx actor.Context

	retention, idle, scrub *time.Timer
	// polls are the deadlines of the parked reads, by waiter.
	polls map[uint64]*time.Timer
}

func newLogActor(cfg LogConfig) *logActor {
	a := &logActor{
		cfg:    cfg,
		log:    cfg.Logger.WithField("actor", LogName),
		traced: tracing.Enabled(cfg.TracerProvider),
		polls:  make(map[uint64]*time.Timer),
	}
	a.core = newLogCore(cfg, a.log, rand.Uint64(), a.spawnSegment)
	return a
}

func (a *logActor) send(to *actor.PID, msg any) {
	if to != nil {
		a.sys.Root.Send(to, msg)
	}
}

func (a *logActor) Receive(ctx actor.Context) {
	var ev logEvent
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.sys, a.self, a.ctx = ctx.ActorSystem(), ctx.Self(), ctx
		ev = a.started()
	case *actor.Stopping:
		ev = evStopping{why: "the log is stopping"}
	case *actor.Restarting:
		ev = evStopping{why: "the log restarted after a crash"}
	case *actor.Terminated:
		ev = evTerminated{id: m.GetWho().GetId()}
	case *messages.ProduceRequest:
		p := evProduce{req: m}
		if a.traced {
			p.trace = headerMap(ctx)
		}
		ev = p
	case *messages.PollExpired:
		delete(a.polls, m.GetWaiterId())
		ev = m
	default:
		ev = m
	}
	a.run(ctx, nil, nil, a.core.step(time.Now(), ctx.Sender(), ev))
}

// started lists the data directory: the segments it holds, the active one
// last, with the size and age of the sealed ones, which stay closed.
func (a *logActor) started() evStart {
	bases, err := segmentstore.ListSegments(a.cfg.Dir)
	if err != nil {
		return evStart{err: fmt.Errorf("%w: %v", ErrStorageFailed, err)}
	}
	if len(bases) == 0 {
		bases = []uint64{a.cfg.Storage.InitialOffset}
	}
	found := make([]diskSegment, len(bases))
	for i, base := range bases {
		found[i].base = base
		if i == len(bases)-1 {
			break
		}
		if st, err := os.Stat(fileOf(a.cfg.Dir, base)); err == nil {
			found[i].size, found[i].lastAppend = uint64(st.Size()), st.ModTime().UnixNano()
		}
	}
	return evStart{segments: found}
}

// spawnSegment starts a segment actor as the core decided.
func (a *logActor) spawnSegment(s segmentSpawn) (*actor.PID, error) {
	spec := segmentSpec{dir: a.cfg.Dir, base: s.base, cfg: a.cfg.Storage, epoch: s.epoch, sealed: s.sealed, next: s.next,
		log: a.cfg.Logger.WithField("actor", segmentName(s.base)), tr: newActorTracer(a.cfg.TracerProvider),
		values: a.cfg.Values}
	return a.ctx.SpawnNamed(newSegmentProps(spec), segmentName(s.base))
}

// run carries out the core's commands in order. ctx is the context of the
// message being handled, nil in HandleFailure, which passes the supervisor
// and the crashed child instead.
func (a *logActor) run(ctx actor.Context, sup actor.Supervisor, crash *crashInfo, cmds []logCmd) {
	for _, c := range cmds {
		switch c.kind {
		case cmdSend:
			a.send(c.to, c.msg)
		case cmdCtxSend:
			a.ctx.Send(c.to, c.msg)
		case cmdRespond:
			ctx.Respond(c.msg)
		case cmdForward:
			a.ctx.RequestWithCustomSender(c.to, c.msg, c.sender)
		case cmdAppend:
			a.send(c.to, tracedMessage(batchTrace(c.batch), c.msg))
		case cmdStop:
			a.ctx.Stop(c.to)
		case cmdStopChild:
			sup.StopChildren(crash.child)
		case cmdRestartChild:
			sup.RestartChildren(crash.child)
		case cmdEscalate:
			sup.EscalateFailure(c.err, crash.message)
		case cmdArm:
			a.arm(c.timer, c.after, c.waiter)
		case cmdDisarm:
			a.disarm(c.timer, c.waiter)
		case cmdCorrupt:
			a.cfg.OnCorrupt(c.from, c.reason)
		}
	}
}

type crashInfo struct {
	child   *actor.PID
	message any
}

// arm starts a timer that sends its tick to the log.
func (a *logActor) arm(t timerKind, after time.Duration, waiter uint64) {
	sys, self := a.sys, a.self
	tick := func(m any) func() { return func() { sys.Root.Send(self, m) } }
	switch t {
	case timerRetention:
		if a.retention != nil {
			a.retention.Stop()
		}
		a.retention = time.AfterFunc(after, tick(&messages.RetentionTick{}))
	case timerIdle:
		a.idle = time.AfterFunc(after, tick(&messages.IdleTick{}))
	case timerScrub:
		if a.scrub != nil {
			a.scrub.Stop()
		}
		a.scrub = time.AfterFunc(after, tick(&messages.ScrubTick{}))
	case timerPoll:
		a.polls[waiter] = time.AfterFunc(after, tick(&messages.PollExpired{WaiterId: waiter}))
	}
}

func (a *logActor) disarm(t timerKind, waiter uint64) {
	var tm *time.Timer
	switch t {
	case timerRetention:
		tm = a.retention
	case timerIdle:
		tm = a.idle
	case timerScrub:
		tm = a.scrub
	case timerPoll:
		tm = a.polls[waiter]
		delete(a.polls, waiter)
	}
	if tm != nil {
		tm.Stop()
	}
}

// HandleFailure makes the log actor the supervisor of its segment actors
// (protoactor calls it on the log actor's own goroutine, between messages);
// the core decides what a crash leads to (see logCore.crashed).
func (a *logActor) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, message any) {
	ev := evCrashed{id: child.GetId(), reason: reason}
	type command interface {
		GetEpoch() uint64
		GetRequestId() uint64
	}
	if c, ok := actor.UnwrapEnvelopeMessage(message).(command); ok {
		ev.command, ev.epoch, ev.request = true, c.GetEpoch(), c.GetRequestId()
	}
	a.run(nil, supervisor, &crashInfo{child: child, message: message}, a.core.step(time.Now(), nil, ev))
}

var _ actor.SupervisorStrategy = (*logActor)(nil)
