package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// reply is the receiving end of one request to a session: a process
// registered in the actor system under a fresh id, which hands the first
// message it gets to the waiting goroutine. Unlike a protoactor Future it
// can be abandoned when the call's context ends.
type reply struct {
	pid    *actor.PID
	ch     chan any
	req    any        // what was sent, for a stream to send again
	target *actor.PID // where it was sent
}

func (r *reply) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	select {
	case r.ch <- msg:
	default: // keep the first answer only
	}
}

// SendSystemMessage ignores system messages: nobody watches a reply.
func (r *reply) SendSystemMessage(*actor.PID, any) {}

func (r *reply) Stop(*actor.PID) {}

// replyPrefix starts the id of every reply process; see send.
const replyPrefix = "future$grpc-"

// errNoAnswer: the session did not answer within the request timeout.
var errNoAnswer = errors.New("no answer")

// send hands msg to target with the headers h, its reply going to a new
// reply process, which the caller must release with done.
func (s *Server) send(target *actor.PID, h map[string]string, msg any) (*reply, error) {
	r := &reply{ch: make(chan any, 1), req: msg, target: target}
	// The id starts like protoactor's futures: a produce forwarded to the
	// leader is answered by the leader's node straight to this process,
	// and the actor remote's guard lets other nodes reach only futures
	// (replies to this node's own requests), never other local processes.
	pid, ok := s.sys.ProcessRegistry.Add(r, replyPrefix+s.sys.ProcessRegistry.NextId())
	if !ok {
		return nil, fmt.Errorf("reply id %s already registered", pid.GetId())
	}
	r.pid = pid
	s.sys.Root.Send(target, &actor.MessageEnvelope{Header: h, Message: msg, Sender: pid})
	return r, nil
}

func (s *Server) done(r *reply) { s.sys.ProcessRegistry.Remove(r.pid) }

// wait waits for r's answer, at most timeout and never past ctx. A dead
// letter (the session is gone) comes back as *actor.DeadLetterResponse.
func (s *Server) wait(ctx context.Context, r *reply, timeout time.Duration) (any, error) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		// The call's own deadline comes first (clients send one per
		// attempt): it alone can end the wait, and no timer is needed.
		select {
		case m := <-r.ch:
			return m, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-r.ch:
		return m, nil
	case <-timer.C:
		return nil, errNoAnswer
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ask sends msg to target and waits for the answer; extra lengthens the
// request timeout (a long poll's wait).
func (s *Server) ask(ctx context.Context, target *actor.PID, h map[string]string, msg any, extra time.Duration) (any, error) {
	r, err := s.send(target, h, msg)
	if err != nil {
		return nil, err
	}
	defer s.done(r)
	return s.wait(ctx, r, s.cfg.RequestTimeout+extra)
}

// openSession asks the acceptor for a session of the caller's identity.
func (s *Server) openSession(ctx context.Context, h map[string]string, name string) (*actor.PID, error) {
	res, err := s.ask(ctx, s.cfg.Sessions, h, &messages.OpenSession{ClientName: name}, 0)
	if err != nil {
		return nil, err
	}
	opened, ok := res.(*messages.SessionOpened)
	if !ok {
		return nil, replyError(res)
	}
	return actor.NewPID(opened.GetAddress(), opened.GetId()), nil
}

// closeSession ends a stream's session; its subscriptions end with it.
func (s *Server) closeSession(pid *actor.PID) {
	s.sys.Root.Send(pid, &messages.CloseSession{})
}

// shared returns the session that serves the unary calls of c, opening it
// on first use.
func (s *Server) shared(ctx context.Context, c caller, h map[string]string) (*actor.PID, error) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil, ErrStopped
	}
	pid := s.sessions[c]
	s.mu.Unlock()
	if pid != nil {
		return pid, nil
	}
	pid, err := s.openSession(ctx, h, "grpc")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		s.closeSession(pid)
		return nil, ErrStopped
	}
	if other := s.sessions[c]; other != nil {
		// Another call opened one meanwhile: keep that one.
		s.closeSession(pid)
		return other, nil
	}
	s.sessions[c] = pid
	return pid, nil
}

// forget drops a shared session that has ended (it idled out).
func (s *Server) forget(c caller, pid *actor.PID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.sessions[c]; cur != nil && cur.Equal(pid) {
		delete(s.sessions, c)
	}
}

// unary serves one unary call through the caller's shared session. A
// session that is gone (it idled out) is replaced once.
func (s *Server) unary(ctx context.Context, msg any, extra time.Duration) (any, error) {
	c := s.callerOf(ctx)
	h := s.headers(ctx, c)
	for attempt := 0; ; attempt++ {
		pid, err := s.shared(ctx, c, h)
		if err != nil {
			return nil, callError(ctx, err)
		}
		res, err := s.ask(ctx, pid, h, msg, extra)
		if err != nil {
			return nil, callError(ctx, err)
		}
		if _, dead := res.(*actor.DeadLetterResponse); dead && attempt == 0 {
			s.forget(c, pid)
			continue
		}
		return res, nil
	}
}
