package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"actorlog/grpcroute"
	"actorlog/messages"
	"actorlog/tracing"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Transport selects how a Client talks to the nodes.
type Transport string

// The transports.
const (
	// TransportActor (the default) is the actor remote: protoactor over
	// gRPC to --actor-addr, with a listener of the client's own that the
	// nodes dial back.
	TransportActor Transport = "actor"
	// TransportGRPC is the gRPC Log service on --grpc-addr: Servers (and
	// Consul's instances) are then gRPC addresses, the client needs no
	// listener (it works behind NAT or a port-forward), and routing is
	// the grpcroute package's resolver and balancer.
	TransportGRPC Transport = "grpc"
)

// grpcConn is the gRPC side of a Client with TransportGRPC.
type grpcConn struct {
	conn     *grpc.ClientConn
	log      messages.LogClient
	resolver *grpcroute.Builder
}

// grpcTarget is the actorlog:// target of the configured seeds and Consul.
func grpcTarget(cfg Config) string {
	t := grpcroute.Scheme + ":///" + strings.Join(cfg.Servers, ",")
	if cfg.Consul != "" {
		q := url.Values{"consul": {cfg.Consul}}
		if cfg.ConsulService != "" {
			q.Set("service", cfg.ConsulService)
		}
		t += "?" + q.Encode()
	}
	return t
}

// newGRPCClient is New for TransportGRPC.
func newGRPCClient(ctx context.Context, cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = discardLogger()
	}
	tel, err := newTelemetry(cfg)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	b := grpcroute.NewBuilder(grpcroute.Config{Interval: cfg.RefreshInterval})
	conn, err := grpc.NewClient(grpcTarget(cfg),
		grpc.WithTransportCredentials(creds),
		grpc.WithResolvers(b),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxMessageBytes), grpc.MaxCallSendMsgSize(cfg.MaxMessageBytes)),
		// Windows of 1 MiB per stream and 4 MiB per connection: a
		// produce request of the default batch size (1 MiB) then never
		// waits a round trip for a window update.
		grpc.WithInitialWindowSize(1<<20),
		grpc.WithInitialConnWindowSize(4<<20),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{
		cfg:   cfg,
		log:   logger.WithField("component", "client"),
		tel:   tel,
		lanes: make(chan *lane, cfg.MaxInFlight),
		subs:  make(map[*Subscription]struct{}),
		g:     &grpcConn{conn: conn, log: messages.NewLogClient(conn), resolver: b},
	}
	c.closeCtx, c.closeFn = context.WithCancel(context.Background())
	for range cfg.MaxInFlight {
		c.lanes <- newLane()
	}
	// Reach the cluster once, so that a wrong address or a cluster that is
	// down is reported here rather than on the first request.
	if _, err := c.grpcServers(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) grpcClose() {
	c.mu.Lock()
	subs := make([]*Subscription, 0, len(c.subs))
	for s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for _, s := range subs {
		_ = s.Close()
	}
	_ = c.g.conn.Close()
}

// callContext puts the trace context of ctx in the outgoing metadata (when
// the client traces) and the route to the leader when asked for.
func (c *Client) callContext(ctx context.Context, toLeader bool) context.Context {
	if c.tel.tracing {
		if h := tracing.Headers(ctx); h != nil {
			kv := make([]string, 0, 2*len(h))
			for k, v := range h {
				kv = append(kv, k, v)
			}
			ctx = metadata.AppendToOutgoingContext(ctx, kv...)
		}
	}
	if toLeader {
		ctx = metadata.AppendToOutgoingContext(ctx, grpcroute.RouteHeader, "leader")
	}
	return ctx
}

// grpcError turns a gRPC status into the client's errors, reading the
// details the node attaches (messages/log.proto).
func grpcError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for _, d := range st.Details() {
		switch m := d.(type) {
		case *messages.OffsetOutOfRange:
			return &OffsetOutOfRangeError{Offset: m.GetOffset(), Low: m.GetLowOffset(), Next: m.GetNextOffset()}
		case *messages.InvalidRequest:
			return &InvalidRequestError{Reason: m.GetReason(), Field: m.GetField()}
		case *messages.NotLeader:
			return &NotLeaderError{LeaderID: m.GetLeaderId(), LeaderAddr: m.GetLeaderGrpcAddress()}
		case *messages.Unauthorized:
			return &UnauthorizedError{Identity: m.GetIdentity(), Action: m.GetAction()}
		}
	}
	switch st.Code() {
	case codes.OutOfRange:
		return &OffsetOutOfRangeError{}
	case codes.InvalidArgument:
		return &InvalidRequestError{Reason: st.Message()}
	case codes.PermissionDenied:
		return &UnauthorizedError{Action: st.Message()}
	case codes.Unauthenticated:
		return fmt.Errorf("%w: %s", ErrTLSHandshake, st.Message())
	case codes.Canceled:
		return fmt.Errorf("client: %w", context.Canceled)
	}
	// Unavailable, DeadlineExceeded of one attempt, and anything else
	// transient: retried within the caller's deadline.
	return fmt.Errorf("%w: %s: %s", ErrUnavailable, st.Code(), st.Message())
}

// grpcDo runs attempt until it succeeds, fails for good, or ctx ends,
// asking the resolver for the member list again after each failure.
func (c *Client) grpcDo(ctx context.Context, op string, attempt func(ctx context.Context) error) error {
	var lastErr error
	for try := 1; ; try++ {
		if err := ctx.Err(); err != nil {
			return c.giveUpGRPC(ctx, op, lastErr)
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		err := attempt(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.giveUpGRPC(ctx, op, err)
		}
		if !retryable(err) {
			return fmt.Errorf("client: %s: %w", op, err)
		}
		lastErr = err
		c.g.resolver.Refresh()
		if !c.grpcBackoff(ctx, try) {
			return c.giveUpGRPC(ctx, op, lastErr)
		}
	}
}

func (c *Client) giveUpGRPC(ctx context.Context, op string, lastErr error) error {
	if c.closed() {
		return fmt.Errorf("client: %s: %w", op, ErrClosed)
	}
	cause := ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	if lastErr == nil {
		return fmt.Errorf("client: %s: %w", op, cause)
	}
	return fmt.Errorf("client: %s: %w (last error: %w)", op, cause, lastErr)
}

func (c *Client) grpcBackoff(ctx context.Context, try int) bool {
	d := c.retryPolicy().Delay(try)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// grpcProduce is produce over gRPC: the batches are split as for the actor
// remote, each on a lane of its own (producer id and sequence kept across
// retries, so a retry appends nothing twice).
func (c *Client) grpcProduce(ctx context.Context, values [][]byte) ([]uint64, error) {
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	batches := split(values, c.cfg.MaxBatchBytes, c.cfg.MaxBatchRecords)
	return produceBatches(ctx, values, batches, c.grpcProduceBatch)
}

func (c *Client) grpcProduceBatch(ctx context.Context, values [][]byte, dst []uint64) error {
	var ln *lane
	select {
	case ln = <-c.lanes:
	case <-ctx.Done():
		return c.giveUpGRPC(ctx, "produce", nil)
	}
	ok := false
	defer func() {
		if ok {
			ln.sequence++
		} else {
			ln = newLane()
		}
		c.lanes <- ln
	}()
	records := make([]*messages.Record, len(values))
	for i, v := range values {
		records[i] = &messages.Record{Value: v}
	}
	req := &messages.ProduceRequest{Records: records, ProducerId: ln.producerID, Sequence: ln.sequence}
	err := c.grpcDo(ctx, "produce", func(actx context.Context) error {
		resp, err := c.g.log.Produce(c.callContext(actx, false), req)
		if err != nil {
			return grpcError(err)
		}
		if len(resp.GetOffsets()) != len(values) {
			return fmt.Errorf("%w: %d offsets for %d records", ErrProtocol, len(resp.GetOffsets()), len(values))
		}
		copy(dst, resp.GetOffsets())
		return nil
	})
	ok = err == nil
	return err
}

// grpcConsume is consume over gRPC: followers serve it unless the options
// ask for the leader; a read past a follower's end is asked of the leader.
func (c *Client) grpcConsume(ctx context.Context, offset uint64, opts ConsumeOptions) (*ConsumeResult, error) {
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	wait := opts.Wait
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - c.cfg.AttemptTimeout/10; wait > left {
			wait = max(left, 0)
		}
	}
	req := &messages.ConsumeRequest{
		Offset: offset, MaxRecords: opts.MaxRecords, MaxBytes: opts.MaxBytes,
		WaitMs: uint32(min(wait.Milliseconds(), math.MaxUint32)), Consistent: opts.Consistent,
	}
	var out *ConsumeResult
	read := func(toLeader bool) error {
		return c.grpcDo(ctx, "consume", func(actx context.Context) error {
			if wait > 0 {
				// The attempt's timeout must leave room for the long poll.
				var cancel context.CancelFunc
				actx, cancel = context.WithTimeout(ctx, c.cfg.AttemptTimeout+wait)
				defer cancel()
			}
			resp, err := c.g.log.Consume(c.callContext(actx, toLeader), req)
			if err != nil {
				return grpcError(err)
			}
			out = &ConsumeResult{Records: make([]Record, len(resp.GetRecords())), LowOffset: resp.GetLowOffset(), NextOffset: resp.GetNextOffset()}
			for i, r := range resp.GetRecords() {
				out.Records[i] = fromWire(r)
			}
			return nil
		})
	}
	toLeader := opts.Consistent || opts.PreferLeader
	err := read(toLeader)
	var oor *OffsetOutOfRangeError
	if !toLeader && errors.As(err, &oor) && offset > oor.Next {
		err = read(true)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// grpcServers is Servers over gRPC.
func (c *Client) grpcServers(ctx context.Context) ([]Server, error) {
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	var out []Server
	err := c.grpcDo(ctx, "servers", func(actx context.Context) error {
		// Wait for the first connection instead of failing fast while
		// the resolver is still asking.
		resp, err := c.g.log.GetServers(c.callContext(actx, false), &messages.ServersRequest{}, grpc.WaitForReady(true))
		if err != nil {
			return grpcError(err)
		}
		out = out[:0]
		for _, sv := range resp.GetServers() {
			out = append(out, Server{
				ID: sv.GetId(), ActorAddr: sv.GetActorAddress(), RaftAddr: sv.GetRaftAddress(), HTTPAddr: sv.GetHttpAddress(),
				GRPCAddr: sv.GetGrpcAddress(), IsLeader: sv.GetIsLeader(), Health: sv.GetHealth(),
			})
		}
		return nil
	})
	return out, err
}

// grpcSub is the gRPC side of a Subscription: a goroutine reads
// ConsumeStream into a channel of Buffer records; when the channel is full
// it stops reading, gRPC's flow control stops the node, and the node's
// stream stops taking records from the log. A stream that fails is opened
// again after the last record received, on any member.
type grpcSub struct {
	ch       chan Record
	err      error // set before ch is closed
	received atomic.Uint64
	buffered atomic.Int64
}

func (c *Client) grpcSubscribe(ctx context.Context, from uint64, opts SubscribeOptions) (*Subscription, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultSubscribeBuffer
	}
	s := &Subscription{c: c, opts: opts, done: make(chan struct{}), g: &grpcSub{ch: make(chan Record, opts.Buffer)}}
	s.ctx, s.cancel = context.WithCancel(c.closeCtx)
	c.mu.Lock()
	if c.closed() {
		c.mu.Unlock()
		return nil, fmt.Errorf("client: subscribe: %w", ErrClosed)
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	// The first stream is opened here, so that a bad offset or a refusal
	// is this call's error.
	stream, err := c.openStream(ctx, s.ctx, from, opts)
	if err != nil {
		s.cancel()
		close(s.done)
		c.mu.Lock()
		delete(c.subs, s)
		c.mu.Unlock()
		return nil, err
	}
	go s.grpcRun(stream, from)
	return s, nil
}

// openStream opens a ConsumeStream from offset and waits for its first
// answer (records, or the refusal).
func (c *Client) openStream(ctx, life context.Context, from uint64, opts SubscribeOptions) (*firstStream, error) {
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	var fs *firstStream
	err := c.grpcDo(ctx, "subscribe", func(actx context.Context) error {
		sctx, scancel := context.WithCancel(life)
		stream, err := c.g.log.ConsumeStream(c.callContext(sctx, false), &messages.ConsumeStreamRequest{Offset: from, MaxBytes: opts.MaxBytes})
		if err != nil {
			scancel()
			return grpcError(err)
		}
		// The node answers a refusal at once; records may take as long
		// as the log is idle. Wait for either, or for the attempt's
		// timeout (then the stream is taken as open).
		first := make(chan error, 1)
		var resp *messages.ConsumeStreamResponse
		go func() {
			r, err := stream.Recv()
			resp = r
			first <- err
		}()
		select {
		case err := <-first:
			if err != nil {
				scancel()
				return grpcError(err)
			}
			fs = &firstStream{stream: stream, cancel: scancel, first: resp}
		case <-actx.Done():
			if ctx.Err() != nil {
				scancel()
				<-first
				return ctx.Err()
			}
			fs = &firstStream{stream: stream, cancel: scancel, pending: first, pendingResp: &resp}
		}
		return nil
	})
	return fs, err
}

// firstStream is an open ConsumeStream with its first answer, or the
// receive still waiting for it.
type firstStream struct {
	stream      grpc.ServerStreamingClient[messages.ConsumeStreamResponse]
	cancel      context.CancelFunc
	first       *messages.ConsumeStreamResponse
	pending     chan error
	pendingResp **messages.ConsumeStreamResponse
}

func (fs *firstStream) recv() (*messages.ConsumeStreamResponse, error) {
	if fs.first != nil {
		r := fs.first
		fs.first = nil
		return r, nil
	}
	if fs.pending != nil {
		err := <-fs.pending
		fs.pending = nil
		return *fs.pendingResp, err
	}
	return fs.stream.Recv()
}

func (s *Subscription) grpcRun(fs *firstStream, next uint64) {
	g := s.g
	defer close(s.done)
	defer close(g.ch)
	for {
		err := s.pump(fs, &next)
		fs.cancel()
		if s.ctx.Err() != nil {
			return
		}
		if e := grpcError(err); !retryable(e) {
			g.err = fmt.Errorf("client: subscription: %w", e)
			return
		}
		s.c.g.resolver.Refresh()
		for try := 1; ; try++ {
			if !s.c.grpcBackoff(s.ctx, try) && s.ctx.Err() != nil {
				return
			}
			fs, err = s.c.openStream(s.ctx, s.ctx, next, s.opts)
			if err == nil {
				break
			}
			if s.ctx.Err() != nil {
				return
			}
			if !retryable(err) {
				g.err = err
				return
			}
		}
	}
}

// pump moves records from the stream to the channel until the stream
// fails or the subscription closes.
func (s *Subscription) pump(fs *firstStream, next *uint64) error {
	for {
		resp, err := fs.recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, "the stream ended")
			}
			return err
		}
		for _, r := range resp.GetRecords() {
			if r.GetOffset() < *next {
				continue // repeated after a resubscription
			}
			select {
			case s.g.ch <- fromWire(r):
				s.g.buffered.Add(1)
				s.g.received.Add(1)
				*next = r.GetOffset() + 1
			case <-s.ctx.Done():
				return s.ctx.Err()
			}
		}
	}
}

func (s *Subscription) grpcNext(ctx context.Context) (Record, error) {
	select {
	case r, ok := <-s.g.ch:
		if !ok {
			if s.g.err != nil {
				return Record{}, s.g.err
			}
			return Record{}, s.endedErr()
		}
		s.g.buffered.Add(-1)
		return r, nil
	case <-ctx.Done():
		return Record{}, ctx.Err()
	}
}

func (s *Subscription) grpcClose() {
	s.cancel()
	<-s.done
	s.c.mu.Lock()
	delete(s.c.subs, s)
	s.c.mu.Unlock()
}
