package actors

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// Defaults of the root supervisor.
const (
	// DefaultMaxActorRestarts and DefaultActorRestartWindow: a top-level
	// actor that crashes more often than this is stopped and the node
	// reported unhealthy, rather than restarted in a tight loop.
	DefaultMaxActorRestarts   = 5
	DefaultActorRestartWindow = time.Minute
)

// Supervisor is the root of the actor tree: the guardian strategy of the
// top-level actors (log and sessions). It is what turns an escalation into
// a health report, so that a node whose storage failed says so on /healthz
// instead of dying or limping on silently.
//
//   - A storage failure escalated by the log actor (ErrStorageFailed) is
//     recorded and the log actor is resumed: it keeps serving the segments
//     that still work and answers Unavailable for the rest.
//   - Any other crash of a top-level actor (a bug) restarts it; one that
//     crashes more than MaxRestarts times within Window is stopped and
//     recorded.
//
// protoactor calls HandleFailure on the failing actor's goroutine, so the
// state is guarded by a mutex.
type Supervisor struct {
	log         *logrus.Entry
	maxRestarts int
	window      time.Duration

	mu       sync.Mutex
	failures map[string][]time.Time
	restarts map[string]uint64 // by actor name, since the node started
	err      error
}

// NewSupervisor returns a root supervisor that logs to log (nil discards)
// and gives up on an actor after maxRestarts crashes within window (zero
// values take the defaults).
func NewSupervisor(log *logrus.Entry, maxRestarts int, window time.Duration) *Supervisor {
	if log == nil {
		log = discardLogger()
	}
	if maxRestarts <= 0 {
		maxRestarts = DefaultMaxActorRestarts
	}
	if window <= 0 {
		window = DefaultActorRestartWindow
	}
	return &Supervisor{log: log, maxRestarts: maxRestarts, window: window, failures: make(map[string][]time.Time), restarts: make(map[string]uint64)}
}

// Err returns the first failure that made the node unhealthy, or nil.
func (s *Supervisor) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Restarts returns how often each top-level actor, by name, has been
// restarted after a crash since the supervisor was made.
func (s *Supervisor) Restarts() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.restarts)
}

func (s *Supervisor) setErr(err error) {
	if s.err == nil {
		s.err = err
	}
}

// HandleFailure implements actor.SupervisorStrategy.
func (s *Supervisor) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, _ any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.log.WithFields(logrus.Fields{"actor": child.GetId(), "reason": fmt.Sprint(reason)})
	if err, ok := reason.(error); ok && errors.Is(err, ErrStorageFailed) {
		log.Error("storage failure escalated; the node is unhealthy")
		s.setErr(err)
		supervisor.ResumeChildren(child)
		return
	}
	now := time.Now()
	id := child.GetId()
	f := slices.DeleteFunc(s.failures[id], func(t time.Time) bool { return now.Sub(t) > s.window })
	f = append(f, now)
	s.failures[id] = f
	if len(f) > s.maxRestarts {
		log.Error("actor crashed too often; stopping it, the node is unhealthy")
		s.setErr(&ActorFailedError{Actor: id, Reason: fmt.Sprint(reason)})
		supervisor.StopChildren(child)
		return
	}
	log.Warn("actor crashed; restarting it")
	s.restarts[id]++
	supervisor.RestartChildren(child)
}

var _ actor.SupervisorStrategy = (*Supervisor)(nil)
