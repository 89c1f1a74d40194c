package actors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/raft"
)

// Handles let code inside a node that is not an actor (the HTTP API) talk
// to the node's actors with plain calls: each method sends the request
// message, waits for the reply within the node's request timeout (or ctx),
// and turns a typed error reply into a RefusedError.

// ErrTimeout is a handle's error when the actor did not answer in time.
var ErrTimeout = actor.ErrTimeout

// ErrSessionClosed is a SessionHandle's error once it is closed.
var ErrSessionClosed = errors.New("the node is shutting down")

// RefusedError is a request the actors answered with a typed error reply
// instead of the expected one: InvalidRequest, OffsetOutOfRange,
// Unavailable, NotLeader or Unauthorized (or, from a confused peer,
// anything else). Reply is that message.
type RefusedError struct {
	Reply any
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused: %T %v", e.Reply, e.Reply)
}

// ask sends msg to pid and waits for the reply within timeout or ctx.
func ask(ctx context.Context, root *actor.RootContext, pid *actor.PID, msg any, timeout time.Duration) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return FutureResult(ctx, root.RequestFuture(pid, msg, timeout))
}

// FutureResult waits for f's answer, or for ctx to end first. The future's
// own timeout bounds the wait either way, and ends the goroutine that
// waits for it when ctx ends first.
func FutureResult(ctx context.Context, f *actor.Future) (any, error) {
	if ctx.Done() == nil {
		return f.Result()
	}
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f.Result()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SessionHandle is a client session of this node, as the HTTP API uses
// it: requests go through the same session actor as a remote client's
// (validation, authorisation, the produce target), so both paths behave
// the same. A session that is gone (its acceptor restarted after a crash)
// is opened again once per request.
type SessionHandle struct {
	root     *actor.RootContext
	acceptor *actor.PID
	name     string
	timeout  time.Duration

	mu   sync.Mutex
	sess *actor.PID // nil once closed
}

// OpenSession opens a session at the session acceptor for clientName.
// timeout bounds every request besides a consume's wait.
func OpenSession(root *actor.RootContext, acceptor *actor.PID, clientName string, timeout time.Duration) (*SessionHandle, error) {
	s := &SessionHandle{root: root, acceptor: acceptor, name: clientName, timeout: timeout}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SessionHandle) open() error {
	res, err := s.root.RequestFuture(s.acceptor, &messages.OpenSession{ClientName: s.name}, s.timeout).Result()
	if err != nil {
		return err
	}
	opened, ok := res.(*messages.SessionOpened)
	if !ok {
		return fmt.Errorf("OpenSession answered with %T", res)
	}
	s.mu.Lock()
	s.sess = actor.NewPID(opened.GetAddress(), opened.GetId())
	s.mu.Unlock()
	return nil
}

// Close ends the session; requests fail with ErrSessionClosed from then
// on. It is idempotent.
func (s *SessionHandle) Close() {
	s.mu.Lock()
	sess := s.sess
	s.sess = nil
	s.mu.Unlock()
	if sess != nil {
		_, _ = s.root.RequestFuture(sess, &messages.CloseSession{}, s.timeout).Result()
	}
}

func (s *SessionHandle) ask(ctx context.Context, msg any, timeout time.Duration) (any, error) {
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		sess := s.sess
		s.mu.Unlock()
		if sess == nil {
			return nil, ErrSessionClosed
		}
		res, err := ask(ctx, s.root, sess, msg, timeout)
		if errors.Is(err, actor.ErrDeadLetter) && attempt == 0 {
			if err := s.open(); err != nil {
				return nil, err
			}
			continue
		}
		return res, err
	}
}

// Produce appends req's records and returns their offsets.
func (s *SessionHandle) Produce(ctx context.Context, req *messages.ProduceRequest) ([]uint64, error) {
	res, err := s.ask(ctx, req, s.timeout)
	if err != nil {
		return nil, err
	}
	resp, ok := res.(*messages.ProduceResponse)
	if !ok {
		return nil, &RefusedError{Reply: res}
	}
	return resp.GetOffsets(), nil
}

// Consume reads what req asks for, waiting up to req.WaitMs for records
// past the end.
func (s *SessionHandle) Consume(ctx context.Context, req *messages.ConsumeRequest) (*messages.ConsumeResponse, error) {
	wait := time.Duration(req.GetWaitMs()) * time.Millisecond
	res, err := s.ask(ctx, req, s.timeout+wait)
	if err != nil {
		return nil, err
	}
	resp, ok := res.(*messages.ConsumeResponse)
	if !ok {
		return nil, &RefusedError{Reply: res}
	}
	return resp, nil
}

// LogHandle is the node's log actor.
type LogHandle struct {
	root    *actor.RootContext
	pid     *actor.PID
	timeout time.Duration
}

// NewLogHandle is a handle on the log actor pid; timeout bounds each
// request.
func NewLogHandle(root *actor.RootContext, pid *actor.PID, timeout time.Duration) *LogHandle {
	return &LogHandle{root: root, pid: pid, timeout: timeout}
}

// Status is the log's state: its bounds, health and segments.
func (l *LogHandle) Status(ctx context.Context) (*messages.LogStatus, error) {
	res, err := ask(ctx, l.root, l.pid, &messages.LogStatusRequest{}, l.timeout)
	if err != nil {
		return nil, err
	}
	st, ok := res.(*messages.LogStatus)
	if !ok {
		return nil, &RefusedError{Reply: res}
	}
	return st, nil
}

// InjectFault makes the active segment actor crash (fault injection; the
// log refuses it unless it was started with it) and returns the base
// offset of the segment it crashes.
func (l *LogHandle) InjectFault(ctx context.Context, mode messages.FaultMode) (uint64, error) {
	res, err := ask(ctx, l.root, l.pid, &messages.InjectSegmentFault{Mode: mode}, l.timeout)
	if err != nil {
		return 0, err
	}
	m, ok := res.(*messages.FaultInjected)
	if !ok {
		return 0, &RefusedError{Reply: res}
	}
	return m.GetSegmentBaseOffset(), nil
}

// RaftHandle is the node's raft actor, and the raft it runs.
type RaftHandle struct {
	root    *actor.RootContext
	pid     *actor.PID
	raft    *raft.Raft
	timeout time.Duration
}

// NewRaftHandle is a handle on the raft actor pid, which runs r; timeout
// bounds each request.
func NewRaftHandle(root *actor.RootContext, pid *actor.PID, r *raft.Raft, timeout time.Duration) *RaftHandle {
	return &RaftHandle{root: root, pid: pid, raft: r, timeout: timeout}
}

// Server is one server of the raft configuration.
type Server struct {
	*messages.Server
	// Voter is false for a member that is not a voter yet (it joined and
	// has not been promoted).
	Voter bool
}

// Servers lists the servers of the raft configuration, as the raft actor
// answers a client's ServersRequest, each with whether it votes.
func (h *RaftHandle) Servers(ctx context.Context) ([]Server, error) {
	res, err := ask(ctx, h.root, h.pid, &messages.ServersRequest{}, h.timeout)
	if err != nil {
		return nil, err
	}
	resp, ok := res.(*messages.ServersResponse)
	if !ok {
		return nil, &RefusedError{Reply: res}
	}
	voters := map[string]bool{}
	if f := h.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			voters[string(s.ID)] = s.Suffrage == raft.Voter
		}
	}
	out := make([]Server, 0, len(resp.GetServers()))
	for _, s := range resp.GetServers() {
		out = append(out, Server{Server: s, Voter: voters[s.GetId()]})
	}
	return out, nil
}

// RaftStatus is what raft says of itself.
type RaftStatus struct {
	State        string
	LeaderID     string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
}

// Status is raft's state, leader, term and indexes. raft answers these
// itself, without the actor's mailbox, so a status is never queued behind
// produces.
func (h *RaftHandle) Status() RaftStatus {
	_, leader := h.raft.LeaderWithID()
	term, _ := strconv.ParseUint(h.raft.Stats()["term"], 10, 64)
	return RaftStatus{State: h.raft.State().String(), LeaderID: string(leader), Term: term,
		CommitIndex: h.raft.CommitIndex(), AppliedIndex: h.raft.AppliedIndex()}
}
