package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// SubscribeOptions shape a subscription.
type SubscribeOptions struct {
	// Buffer is the most records the subscription holds that Next has not
	// returned yet, counting those the node may still be sending. It is the
	// credit granted to the node, so a consumer that stops reading stops
	// the node from sending, and neither side buffers more. Zero means
	// DefaultSubscribeBuffer.
	Buffer int
	// MaxBytes bounds one push from the node; zero is the node's default.
	MaxBytes uint32
	// Heartbeat is how often the subscription checks that its session is
	// still alive while nothing arrives. Zero means DefaultHeartbeat.
	Heartbeat time.Duration
}

// Subscription is a stream of records pushed by a node as they commit, with
// credit-based flow control. Read it with Next (or Records) from one
// goroutine; Close may be called from any.
//
// It survives node restarts and lost connections: it subscribes again from
// the offset after the last record it received, so records arrive in order,
// without gaps or duplicates.
type Subscription struct {
	c    *Client
	opts SubscribeOptions

	ctx    context.Context // ends on Close or Client.Close
	cancel context.CancelFunc
	done   chan struct{} // closed when run exits
	notify chan struct{} // wakes Next; capacity 1
	kick   chan struct{} // wakes run to subscribe again; capacity 1

	closeOnce sync.Once
	unwatch   func()

	mu      sync.Mutex // guards everything below
	buf     []Record   // received, not yet returned by Next
	next    uint64     // offset of the next record expected
	granted int        // credit the node has not used yet
	inbox   *inbox     // receives pushes for the current subscription
	sess    *session
	subID   string
	lost    bool // the current subscription is gone; run resubscribes
	// subscribing is set while a Subscribe is out: no credit is granted
	// and no probe sent until its answer names the new subscription.
	subscribing bool
	err         error // terminal: returned by Next once buf is empty
	received    uint64

	g *grpcSub // set with TransportGRPC: see grpc.go
}

// inbox is the local process that a node pushes SubscriptionRecords to. A
// new one is registered for every (re)subscription, so pushes that belong to
// an older one cannot be mistaken for current ones.
type inbox struct {
	sub *Subscription
	pid *actor.PID
}

func (in *inbox) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	in.sub.receive(in, msg)
}
func (in *inbox) SendSystemMessage(*actor.PID, any) {}
func (in *inbox) Stop(*actor.PID)                   {}

// Subscribe starts a subscription at offset from. ctx bounds the initial
// subscribe request only; the subscription lives until Close.
func (c *Client) Subscribe(ctx context.Context, from uint64, opts SubscribeOptions) (*Subscription, error) {
	if c.g != nil {
		return c.grpcSubscribe(ctx, from, opts)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultSubscribeBuffer
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	s := &Subscription{
		c:      c,
		opts:   opts,
		done:   make(chan struct{}),
		notify: make(chan struct{}, 1),
		kick:   make(chan struct{}, 1),
		next:   from,
	}
	s.ctx, s.cancel = context.WithCancel(c.closeCtx)

	c.mu.Lock()
	if c.closed() {
		c.mu.Unlock()
		return nil, fmt.Errorf("client: subscribe: %w", ErrClosed)
	}
	c.subs[s] = struct{}{}
	c.wg.Add(1)
	c.mu.Unlock()

	s.unwatch = c.tr.watch(s.endpointLost)
	if err := s.subscribe(ctx); err != nil {
		// A concurrent Client.Close may be in s.Close, waiting for done.
		close(s.done)
		s.unwatch()
		s.cancel()
		s.mu.Lock()
		in := s.inbox
		s.mu.Unlock()
		if in != nil {
			c.tr.unregister(in.pid)
		}
		c.mu.Lock()
		delete(c.subs, s)
		c.mu.Unlock()
		c.wg.Done()
		return nil, err
	}
	go s.run()
	return s, nil
}

// subscribe (re)starts the subscription at s.next with the credit the buffer
// has room for. Every attempt gets a fresh inbox: if an earlier attempt did
// reach the node and only its answer was lost, the subscription it created
// pushes to an inbox that is gone, gets a dead letter back and ends, instead
// of pushing duplicates beside the new one.
func (s *Subscription) subscribe(ctx context.Context) error {
	s.mu.Lock()
	s.subscribing = true
	s.lost = false
	s.mu.Unlock()

	var (
		in   *inbox
		sess *session
		ack  *messages.SubscribeAck
	)
	err := s.c.do(ctx, "subscribe", routeAny, 0, func(ctx context.Context, ss *session, timeout time.Duration) error {
		fresh := &inbox{sub: s}
		pid, err := s.c.tr.register(fresh, "sub")
		if err != nil {
			return err
		}
		fresh.pid = pid
		s.mu.Lock()
		old := s.inbox
		s.inbox = fresh
		from := s.next
		credit := max(s.opts.Buffer-len(s.buf), 0)
		s.granted = credit
		s.mu.Unlock()
		if old != nil {
			s.c.tr.unregister(old.pid)
		}
		in = fresh

		reply, err := s.c.requestOn(ctx, ss, &messages.Subscribe{
			Offset:            from,
			InitialCredit:     uint32(credit),
			SubscriberAddress: pid.GetAddress(),
			SubscriberId:      pid.GetId(),
			MaxBytes:          s.opts.MaxBytes,
		}, timeout)
		if err != nil {
			return err
		}
		a, ok := reply.(*messages.SubscribeAck)
		if !ok {
			return fmt.Errorf("%w: Subscribe answered with %T", ErrProtocol, reply)
		}
		sess, ack = ss, a
		return nil
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	s.subscribing = false
	if err != nil {
		return err
	}
	if s.inbox == in {
		s.sess, s.subID = sess, ack.GetSubscriptionId()
	}
	s.c.log.WithFields(logrus.Fields{"node": sess.server, "subscription": ack.GetSubscriptionId(), "from": s.next}).Debug("subscribed")
	return nil
}

// receive handles a message pushed to the current inbox. It runs on
// protoactor's goroutines and must not block.
func (s *Subscription) receive(in *inbox, msg any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inbox != in || s.err != nil {
		return
	}
	switch m := msg.(type) {
	case *messages.SubscriptionRecords:
		for _, r := range m.GetRecords() {
			// After a resubscription the node may repeat what it had
			// already pushed; the offsets tell.
			if r.GetOffset() < s.next {
				continue
			}
			s.buf = append(s.buf, fromWire(r))
			s.next = r.GetOffset() + 1
			s.granted--
			s.received++
		}
		if len(s.buf) > s.opts.Buffer {
			s.c.log.WithFields(logrus.Fields{"buffered": len(s.buf), "buffer": s.opts.Buffer}).
				Warn("node pushed more records than the credit granted")
		}
		wake(s.notify)
	case *messages.SubscriptionEnded:
		// Ended by the node (we are not closing, or ctx would have
		// stopped us): subscribe again. If the offset is gone for good,
		// that attempt fails with OffsetOutOfRange, which is terminal.
		s.c.log.WithField("reason", m.GetReason()).Debug("subscription ended by the node")
		s.lost = true
		wake(s.kick)
	case *actor.DeadLetterResponse:
		// A credit or heartbeat reached no session: the node lost it.
		s.lost = true
		s.c.dropSession(s.sess)
		wake(s.kick)
	default:
		if err := replyError(msg); err != nil {
			s.c.log.WithError(err).Debug("subscription got an error reply")
		}
	}
}

func (s *Subscription) endpointLost(addr string) {
	s.mu.Lock()
	if s.sess != nil && s.sess.server == addr {
		s.lost = true
		wake(s.kick)
	}
	s.mu.Unlock()
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run keeps the subscription alive: it resubscribes when the subscription
// was lost, and while idle it probes the session so a restarted node that
// did not drop the connection is noticed too.
func (s *Subscription) run() {
	defer s.c.wg.Done()
	defer close(s.done)
	tick := time.NewTicker(s.opts.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.kick:
		case <-tick.C:
			s.probe()
		}
		s.mu.Lock()
		lost := s.lost
		s.mu.Unlock()
		if !lost {
			continue
		}
		err := s.subscribe(s.ctx)
		switch {
		case err == nil:
		case s.ctx.Err() != nil:
			return
		case retryable(err):
			// The default deadline passed with the cluster unreachable;
			// keep trying at the heartbeat's pace until Close.
			s.mu.Lock()
			s.lost = true
			s.mu.Unlock()
		default:
			s.fail(err)
			return
		}
	}
}

// probe sends a zero credit with the inbox as sender: a live session takes
// it as a no-op, a session that is gone makes the node answer with a dead
// letter, which marks the subscription lost.
func (s *Subscription) probe() {
	s.mu.Lock()
	sess, id, in, busy := s.sess, s.subID, s.inbox, s.subscribing
	s.mu.Unlock()
	if sess == nil || in == nil || busy {
		return
	}
	_ = s.c.tr.send(sess.pid, &messages.Credit{SubscriptionId: id, Records: 0}, in.pid)
}

func (s *Subscription) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	wake(s.notify)
}

// Next returns the next record, waiting for one as long as ctx allows. It
// grants the node more credit as the buffer drains. After Close it returns
// ErrSubscriptionEnded; when the subscription cannot go on (its offset is no
// longer retained, say) it returns that error.
func (s *Subscription) Next(ctx context.Context) (Record, error) {
	if s.g != nil {
		return s.grpcNext(ctx)
	}
	for {
		if s.ctx.Err() != nil {
			return Record{}, s.endedErr()
		}
		s.mu.Lock()
		if len(s.buf) > 0 {
			r := s.buf[0]
			s.buf[0] = Record{}
			s.buf = s.buf[1:]
			grant, sess, id, in := s.creditLocked()
			s.mu.Unlock()
			if grant > 0 {
				_ = s.c.tr.send(sess.pid, &messages.Credit{SubscriptionId: id, Records: uint32(grant)}, in.pid)
			}
			return r, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return Record{}, err
		}
		select {
		case <-s.notify:
		case <-s.ctx.Done():
			return Record{}, s.endedErr()
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// endedErr is what Next returns once the subscription or its client closed.
func (s *Subscription) endedErr() error {
	if s.c.closed() {
		return fmt.Errorf("client: subscription: %w", ErrClosed)
	}
	return ErrSubscriptionEnded
}

// creditLocked decides whether to grant credit now. It grants in chunks of a
// quarter of the buffer, so the node sends batches rather than one record
// per credit message, while buffered plus granted never exceeds the buffer.
func (s *Subscription) creditLocked() (grant int, sess *session, id string, in *inbox) {
	if s.lost || s.subscribing || s.sess == nil {
		return 0, nil, "", nil
	}
	free := s.opts.Buffer - len(s.buf) - s.granted
	if free < max(1, s.opts.Buffer/4) {
		return 0, nil, "", nil
	}
	s.granted += free
	return free, s.sess, s.subID, s.inbox
}

// Records iterates over the subscription with Next. It ends quietly after
// Close; when ctx ends or the subscription fails, the last pair carries the
// error.
func (s *Subscription) Records(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			r, err := s.Next(ctx)
			if err != nil {
				if !errors.Is(err, ErrSubscriptionEnded) {
					yield(Record{}, err)
				}
				return
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

// Buffered is the number of records received and not yet returned by Next.
func (s *Subscription) Buffered() int {
	if s.g != nil {
		return int(s.g.buffered.Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}

// Received is the number of records received from the node so far.
func (s *Subscription) Received() uint64 {
	if s.g != nil {
		return s.g.received.Load()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// Close ends the subscription: it tells the node (best effort, briefly),
// stops the background goroutine and releases the inbox. Records still
// buffered are dropped. It is safe to call more than once.
func (s *Subscription) Close() error {
	s.closeOnce.Do(func() {
		if s.g != nil {
			s.grpcClose()
			return
		}
		s.mu.Lock()
		sess, id := s.sess, s.subID
		s.mu.Unlock()
		if sess != nil && !s.c.closed() {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, _ = s.c.tr.request(ctx, sess.pid, &messages.Unsubscribe{SubscriptionId: id}, 500*time.Millisecond)
			cancel()
		} else if sess != nil {
			// The client is closing: don't wait for an answer.
			_ = s.c.tr.send(sess.pid, &messages.Unsubscribe{SubscriptionId: id}, nil)
		}
		s.cancel()
		<-s.done
		s.unwatch()
		s.mu.Lock()
		in := s.inbox
		s.inbox = nil
		s.mu.Unlock()
		if in != nil {
			s.c.tr.unregister(in.pid)
		}
		s.c.mu.Lock()
		delete(s.c.subs, s)
		s.c.mu.Unlock()
	})
	return nil
}
