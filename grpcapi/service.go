package grpcapi

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Produce appends one batch through the caller's session.
func (s *Server) Produce(ctx context.Context, req *messages.ProduceRequest) (*messages.ProduceResponse, error) {
	res, err := s.unary(ctx, req, 0)
	if err != nil {
		return nil, err
	}
	if r, ok := res.(*messages.ProduceResponse); ok {
		return r, nil
	}
	return nil, replyError(res)
}

// Consume reads through the caller's session; a long poll's wait lengthens
// the time the node is given to answer.
func (s *Server) Consume(ctx context.Context, req *messages.ConsumeRequest) (*messages.ConsumeResponse, error) {
	res, err := s.unary(ctx, req, time.Duration(req.GetWaitMs())*time.Millisecond)
	if err != nil {
		return nil, err
	}
	if r, ok := res.(*messages.ConsumeResponse); ok {
		return r, nil
	}
	return nil, replyError(res)
}

// GetServers lists the members through the caller's session.
func (s *Server) GetServers(ctx context.Context, req *messages.ServersRequest) (*messages.ServersResponse, error) {
	res, err := s.unary(ctx, req, 0)
	if err != nil {
		return nil, err
	}
	if r, ok := res.(*messages.ServersResponse); ok {
		return r, nil
	}
	return nil, replyError(res)
}

// streamSession opens the session of one stream, and registers the
// stream's cancel function for Stop.
func (s *Server) streamSession(ctx context.Context, cancel context.CancelFunc, name string) (*actor.PID, map[string]string, error) {
	untrack, err := s.track(cancel)
	if err != nil {
		return nil, nil, callError(ctx, err)
	}
	// The stream's context ends with the handler; untrack then.
	context.AfterFunc(ctx, untrack)
	h := s.headers(ctx, s.callerOf(ctx))
	pid, err := s.openSession(ctx, h, name)
	if err != nil {
		return nil, nil, callError(ctx, err)
	}
	return pid, h, nil
}

// ProduceStream pipelines produce requests: a reader goroutine sends each
// to the stream's session as it arrives (at most StreamWindow unanswered),
// and the handler sends the answers back in request order.
func (s *Server) ProduceStream(stream grpc.BidiStreamingServer[messages.ProduceRequest, messages.ProduceResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	first, h, err := s.streamSession(ctx, cancel, "grpc-produce-stream")
	if err != nil {
		return err
	}
	// The session idles out when the stream sends nothing for the
	// sessions' idle timeout; the stream then opens another (see below),
	// which the reader picks up.
	var sess atomic.Pointer[actor.PID]
	sess.Store(first)
	defer func() { s.closeSession(sess.Load()) }()

	inflight := make(chan *reply, s.cfg.StreamWindow)
	var recvErr error // set by the reader before it closes inflight
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(inflight)
		for {
			req, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					recvErr = err
				}
				return
			}
			r, err := s.send(sess.Load(), h, req)
			if err != nil {
				recvErr = status.Errorf(codes.Internal, "actorlog: %v", err)
				return
			}
			select {
			case inflight <- r:
			case <-ctx.Done():
				s.done(r)
				return
			}
		}
	}()
	// On the way out the reader may still be blocked in Recv, which only
	// returns once the handler has returned and gRPC has ended the stream;
	// it stops then, and the replies it left are released after it.
	defer func() {
		cancel()
		go func() {
			wg.Wait()
			for r := range inflight {
				s.done(r)
			}
		}()
	}()

	for r := range inflight {
		res, err := s.wait(ctx, r, s.cfg.RequestTimeout)
		s.done(r)
		if err != nil {
			return s.streamError(ctx, err)
		}
		if _, dead := res.(*actor.DeadLetterResponse); dead {
			// The session was gone: the request reached nobody, so it is
			// sent again, on a new session (once for all the requests
			// that went to the old one).
			if res, err = s.resend(ctx, &sess, h, r); err != nil {
				return s.streamError(ctx, err)
			}
		}
		resp, ok := res.(*messages.ProduceResponse)
		if !ok {
			return replyError(res)
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	if recvErr != nil {
		return callError(ctx, recvErr)
	}
	return nil
}

// resend sends r's request again on a live session, opening one when the
// stream's session is the one that has gone.
func (s *Server) resend(ctx context.Context, sess *atomic.Pointer[actor.PID], h map[string]string, r *reply) (any, error) {
	gone := sess.Load()
	if target := r.target; target == nil || target.Equal(gone) {
		pid, err := s.openSession(ctx, h, "grpc-produce-stream")
		if err != nil {
			return nil, err
		}
		if sess.CompareAndSwap(gone, pid) {
			s.closeSession(gone)
		} else {
			s.closeSession(pid)
		}
	}
	return s.ask(ctx, sess.Load(), h, r.req, 0)
}

// inbox receives a ConsumeStream subscription's pushes. Its channel holds
// one push per granted record at most, so the subscription's sends never
// block (a push carries at least one record, and credit counts records).
type inbox struct {
	ch chan any
}

func (in *inbox) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	select {
	case in.ch <- msg:
	default:
		// More than granted: the stream cannot be trusted any more; it
		// ends when it sees the overflow.
		select {
		case in.ch <- errOverflow:
		default:
		}
	}
}

func (in *inbox) SendSystemMessage(*actor.PID, any) {}
func (in *inbox) Stop(*actor.PID)                   {}

var errOverflow = errors.New("more records pushed than granted")

// ConsumeStream follows the log from req.offset through a subscription of
// the stream's session. Credit is granted back only once gRPC has taken
// the records, so a reader that does not read stops the subscription.
func (s *Server) ConsumeStream(req *messages.ConsumeStreamRequest, stream grpc.ServerStreamingServer[messages.ConsumeStreamResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	sess, h, err := s.streamSession(ctx, cancel, "grpc-consume-stream")
	if err != nil {
		return err
	}
	defer s.closeSession(sess)

	credit := s.cfg.StreamCredit
	in := &inbox{ch: make(chan any, int(credit)+4)}
	inPID, ok := s.sys.ProcessRegistry.Add(in, "grpc-inbox$"+s.sys.ProcessRegistry.NextId())
	if !ok {
		return status.Error(codes.Internal, "actorlog: inbox id already registered")
	}
	defer s.sys.ProcessRegistry.Remove(inPID)

	maxBytes := req.GetMaxBytes()
	if maxBytes == 0 {
		maxBytes = s.cfg.StreamMaxBytes
	}
	res, err := s.ask(ctx, sess, h, &messages.Subscribe{
		Offset: req.GetOffset(), InitialCredit: credit, MaxBytes: maxBytes,
		SubscriberAddress: inPID.GetAddress(), SubscriberId: inPID.GetId(),
		Topic: req.GetTopic(), Partition: req.GetPartition(),
	}, 0)
	if err != nil {
		return callError(ctx, err)
	}
	ack, ok := res.(*messages.SubscribeAck)
	if !ok {
		return replyError(res)
	}
	subID := ack.GetSubscriptionId()
	defer s.sys.Root.Send(sess, &messages.Unsubscribe{SubscriptionId: subID})

	for {
		select {
		case <-ctx.Done():
			return s.streamError(ctx, ctx.Err())
		case m := <-in.ch:
			switch m := m.(type) {
			case *messages.SubscriptionRecords:
				recs := m.GetRecords()
				if err := stream.Send(&messages.ConsumeStreamResponse{Records: recs}); err != nil {
					return err
				}
				s.sys.Root.Send(sess, &messages.Credit{SubscriptionId: subID, Records: uint32(len(recs))})
			case *messages.SubscriptionEnded:
				return withDetails(codes.Unavailable, "the stream ended: "+m.GetReason()+"; resume from the next offset",
					&messages.Unavailable{Reason: m.GetReason()}, info(ReasonUnavailable))
			case error:
				return status.Errorf(codes.Internal, "actorlog: %v", m)
			}
		}
	}
}

// streamError is callError, except that a stream ended by Stop reports
// Unavailable (go elsewhere), not Canceled.
func (s *Server) streamError(ctx context.Context, err error) error {
	if s.stopping() && errors.Is(err, context.Canceled) {
		err = ErrStopped
	}
	return callError(ctx, err)
}
