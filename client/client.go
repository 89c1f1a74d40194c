package client

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"actorlog/internal/backoff"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// sessionsActor is the well-known name of a node's session acceptor.
const sessionsActor = "sessions"

// Client is a connection to an actorlog cluster. It is safe for concurrent
// use. Create one with New and release it with Close.
type Client struct {
	cfg       Config
	log       *logrus.Entry
	tr        *transport // shared with other Clients: see shared.go
	releaseTr func()
	tel       *telemetry

	// closeCtx ends when Close starts; every operation and background
	// goroutine watches it.
	closeCtx  context.Context
	closeFn   context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup // background goroutines (subscriptions)

	// lanes hands out producer identities, one request in flight per lane:
	// see produce.go.
	lanes chan *lane

	// route is the view of the cluster and the routing decisions made
	// from it (see routing.go). Its lock is innermost: mu may be held
	// while calling it. Nil with TransportGRPC.
	route *router

	mu sync.Mutex // guards everything below
	// refreshing is set while a refresh of the member list runs (or
	// waits to); refreshAgain asks it for one more round, for a failure
	// seen meanwhile; refreshed is when the last one ended.
	refreshing   bool
	refreshAgain bool
	refreshed    time.Time
	sessions     map[string]*sessionSlot
	subs         map[*Subscription]struct{}

	unwatch func()

	// g is set with TransportGRPC: every operation goes through it (see
	// grpc.go) and none of the actor fields above is used.
	g *grpcConn
}

// session is an open session with one node: the session actor's PID and the
// limits it announced.
type session struct {
	server         string
	pid            *actor.PID
	maxRecordBytes uint32
	maxBatchBytes  uint32
	maxBatchRecs   uint32
}

// sessionSlot holds the session with one server. Its lock is held while a
// session is being opened, so concurrent callers open it once. The lock is a
// channel so that a caller whose deadline passes can stop waiting for it.
type sessionSlot struct {
	lock chan struct{} // capacity 1: full while held
	sess *session
}

func newSessionSlot() *sessionSlot { return &sessionSlot{lock: make(chan struct{}, 1)} }

func (s *sessionSlot) acquire(ctx context.Context) error {
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sessionSlot) tryAcquire() bool {
	select {
	case s.lock <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *sessionSlot) release() { <-s.lock }

// discardLogger is the default: a library writes nothing unless asked to.
// It is one logger for the process, so Clients without a Logger can share
// their transport.
var discardLogger = sync.OnceValue(func() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.PanicLevel)
	return l
})

// New starts the client's actor system and listener and opens a session with
// the first server that answers, so that a wrong address or a cluster that is
// down is reported here rather than on the first request. ctx bounds that
// first session only.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Transport == TransportGRPC {
		return newGRPCClient(ctx, cfg)
	}
	if err := cfg.lookupConsul(ctx); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = discardLogger()
	}
	log := logger.WithField("component", "client")
	tel, err := newTelemetry(cfg)
	if err != nil {
		return nil, err
	}
	tr, release, err := acquireTransport(cfg, logger, log)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		log:       log,
		tel:       tel,
		tr:        tr,
		releaseTr: release,
		lanes:     make(chan *lane, cfg.MaxInFlight),
		route:     newRouter(cfg.Servers),
		sessions:  make(map[string]*sessionSlot),
		subs:      make(map[*Subscription]struct{}),
	}
	c.closeCtx, c.closeFn = context.WithCancel(context.Background())
	for range cfg.MaxInFlight {
		c.lanes <- newLane()
	}
	c.unwatch = tr.watch(c.endpointLost)

	if err := c.do(ctx, "connect", routeAny, 0, func(context.Context, *session, time.Duration) error { return nil }); err != nil {
		c.Close()
		return nil, err
	}
	// Learn the members and the leader now, so the first produce goes
	// straight to the leader. A failure here is not one of New: requests
	// go to the node in use, and the next failure refreshes again.
	c.mu.Lock()
	c.refreshing = true
	c.mu.Unlock()
	c.refresh(ctx, false)
	log.WithField("listen", tr.addr).Debug("client started")
	return c, nil
}

// Addr is the address of the client's own listener, which nodes dial back.
// Clients of one process with equal transport settings share it.
// With TransportGRPC there is none: it returns "".
func (c *Client) Addr() string {
	if c.g != nil {
		return ""
	}
	return c.tr.addr
}

// Close ends every subscription and session and stops the client's actor
// system, listener and goroutines (when no other Client in the process
// shares them). Calls in flight fail with ErrClosed. It is safe to call more
// than once; later calls return nil at once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closeFn()
		if c.g != nil {
			c.grpcClose()
			return
		}
		c.mu.Lock()
		subs := make([]*Subscription, 0, len(c.subs))
		for s := range c.subs {
			subs = append(subs, s)
		}
		c.mu.Unlock()
		for _, s := range subs {
			_ = s.Close()
		}
		c.closeSessions()
		c.route.stop()
		c.unwatch()
		c.releaseTr()
		c.wg.Wait()
	})
	return nil
}

// closeSessions tells each node the session is over, so it can free the
// session actor now instead of when it notices the client has gone. It is
// best effort and short: the node may be down.
func (c *Client) closeSessions() {
	c.mu.Lock()
	var open []*session
	for _, slot := range c.sessions {
		if slot.tryAcquire() {
			if slot.sess != nil {
				open = append(open, slot.sess)
			}
			slot.release()
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range open {
		wg.Go(func() {
			_, _ = c.tr.request(context.Background(), s.pid, &messages.CloseSession{}, 500*time.Millisecond)
		})
	}
	wg.Wait()
}

// closed reports whether Close has started.
func (c *Client) closed() bool { return c.closeCtx.Err() != nil }

// minRefreshGap spaces refreshes of the member list triggered by failures,
// so a burst of failed requests costs one ServersRequest, not one each.
const minRefreshGap = 100 * time.Millisecond

// failedOver records that an attempt against server on session s failed
// with err, and acts on the router's decision: the session is dropped or
// the member list refreshed when the failure calls for it. It reports
// whether the next attempt may go at once: the node named the leader.
func (c *Client) failedOver(server string, s *session, err error) (redirected bool) {
	f := c.route.failed(server, err)
	if f.dropSession {
		c.dropSession(s)
	}
	if f.refresh {
		c.refreshSoon()
	}
	return f.redirected
}

// refreshSoon has the member list refreshed in the background: at once, or
// minRefreshGap after the last refresh ended, or after the one running.
func (c *Client) refreshSoon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed():
	case c.refreshing:
		c.refreshAgain = true
	default:
		c.startRefreshLocked(max(minRefreshGap-time.Since(c.refreshed), 0))
	}
}

// refreshIfStale starts a background refresh when the member list is older
// than Config.RefreshInterval, so that members that joined or left are
// noticed even when nothing fails.
func (c *Client) refreshIfStale() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refreshing || c.closed() || time.Since(c.refreshed) < c.cfg.RefreshInterval {
		return
	}
	c.startRefreshLocked(0)
}

// startRefreshLocked runs refresh on a goroutine of the client after delay.
// Holding mu while adding to wg orders it before Close's wait: Close takes
// mu after it cancels closeCtx, and closed() is checked under mu.
func (c *Client) startRefreshLocked(delay time.Duration) {
	c.refreshing = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-c.closeCtx.Done():
				t.Stop()
			}
		}
		ctx, cancel := context.WithTimeout(c.closeCtx, 2*c.cfg.AttemptTimeout)
		defer cancel()
		c.refresh(ctx, true)
	}()
}

// refresh asks the nodes, the leader first, for the member list until one
// answers, and learns it. With untilLeader it goes on, every minRefreshGap,
// until the list names a live leader or ctx ends: after a leader is lost,
// the new one is then known, and the retries waiting for it woken, within
// that gap of its election. The caller has set refreshing; refresh clears
// it.
func (c *Client) refresh(ctx context.Context, untilLeader bool) {
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.refreshing = false
		c.refreshed = time.Now()
		if c.refreshAgain && !c.closed() {
			c.refreshAgain = false
			c.startRefreshLocked(minRefreshGap)
		}
	}()
	for {
		learned := c.refreshOnce(ctx)
		if (learned && c.route.hasLiveLeader()) || !untilLeader {
			return
		}
		t := time.NewTimer(minRefreshGap)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// refreshOnce asks the nodes, the leader first, for the member list until
// one answers, and learns it. It reports whether one answered.
func (c *Client) refreshOnce(ctx context.Context) bool {
	timeout := min(c.cfg.AttemptTimeout, time.Second)
	for _, server := range c.route.refreshOrder() {
		if ctx.Err() != nil {
			return false
		}
		s, err := c.session(ctx, server, timeout)
		var servers []Server
		if err == nil {
			servers, err = c.askServers(ctx, s, timeout)
		}
		if err == nil {
			c.learn(servers)
			c.log.WithFields(logrus.Fields{"node": server, "members": len(servers), "leader": c.route.leaderAddr()}).Debug("member list refreshed")
			return true
		}
		c.log.WithField("node", server).WithError(err).Debug("refreshing the member list")
		if errors.Is(err, errSessionLost) {
			c.dropSession(s)
		}
	}
	c.rediscover(ctx)
	return false
}

// learn takes a node's member list as the client's view of the cluster
// (see router.learn) and remembers each member's node id for the transport.
func (c *Client) learn(servers []Server) {
	if len(servers) == 0 {
		return
	}
	for _, m := range servers {
		c.tr.learnName(m.ActorAddr, m.ID)
	}
	c.route.learn(servers)
}

// endpointLost forgets the session with a node whose connection dropped: a
// node that restarted has lost it, and one that did not will give us a new one.
func (c *Client) endpointLost(addr string) {
	c.route.markDead(addr)
	c.mu.Lock()
	slot := c.sessions[addr]
	c.mu.Unlock()
	if slot == nil {
		return
	}
	// tryAcquire: this runs on protoactor's event goroutine and must not
	// wait for a session being opened; that one is fresh anyway.
	if slot.tryAcquire() {
		slot.sess = nil
		slot.release()
	}
}

// reachable checks a node marked dead with a plain TCP dial, and clears the
// mark when it answers. A node not marked dead is not dialled.
func (c *Client) reachable(ctx context.Context, server string, timeout time.Duration) error {
	if !c.route.isDead(server) {
		return nil
	}
	d := net.Dialer{Timeout: min(timeout, time.Second)}
	conn, err := d.DialContext(ctx, "tcp", server)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnreachable, err)
	}
	_ = conn.Close()
	if err := c.checkTLS(ctx, server, timeout); err != nil {
		return err
	}
	c.route.reached(server)
	return nil
}

func (c *Client) dropSession(s *session) {
	if s == nil {
		return
	}
	c.mu.Lock()
	slot := c.sessions[s.server]
	c.mu.Unlock()
	if slot == nil {
		return
	}
	// No need to wait: whoever holds the slot is opening a new session,
	// which is not s.
	if slot.tryAcquire() {
		if slot.sess == s {
			slot.sess = nil
		}
		slot.release()
	}
}

// session returns the open session with server, opening one when needed.
func (c *Client) session(ctx context.Context, server string, timeout time.Duration) (*session, error) {
	c.mu.Lock()
	slot := c.sessions[server]
	if slot == nil {
		slot = newSessionSlot()
		c.sessions[server] = slot
	}
	c.mu.Unlock()

	if err := slot.acquire(ctx); err != nil {
		return nil, err
	}
	defer slot.release()
	if slot.sess != nil {
		return slot.sess, nil
	}
	if err := c.reachable(ctx, server, timeout); err != nil {
		return nil, err
	}
	reply, err := c.tr.request(ctx, actor.NewPID(server, sessionsActor), &messages.OpenSession{ClientName: c.cfg.Name}, timeout)
	if err != nil {
		return nil, err
	}
	if err := replyError(reply); err != nil {
		return nil, err
	}
	opened, ok := reply.(*messages.SessionOpened)
	if !ok {
		return nil, fmt.Errorf("%w: OpenSession answered with %T", ErrProtocol, reply)
	}
	addr := opened.GetAddress()
	if addr == "" {
		addr = server
	}
	slot.sess = &session{
		server:         server,
		pid:            actor.NewPID(addr, opened.GetId()),
		maxRecordBytes: opened.GetMaxRecordBytes(),
		maxBatchBytes:  opened.GetMaxBatchBytes(),
		maxBatchRecs:   opened.GetMaxBatchRecords(),
	}
	c.log.WithFields(logrus.Fields{"node": server, "session": opened.GetId()}).Debug("session opened")
	return slot.sess, nil
}

// attemptFunc runs one attempt of an operation against an open session.
type attemptFunc func(ctx context.Context, s *session, timeout time.Duration) error

// do runs attempt until it succeeds, fails for good, or the deadline passes.
// The deadline is ctx's, or Config.Timeout from now when ctx has none. extra
// lengthens each attempt's timeout (a long poll's wait). Transient failures
// are retried with jittered exponential backoff, on another node when the
// failure points away from this one; a lost session is reopened.
func (c *Client) do(ctx context.Context, op string, r route, extra time.Duration, attempt attemptFunc) error {
	if c.closed() {
		return fmt.Errorf("client: %s: %w", op, ErrClosed)
	}
	ctx, cancel := c.opContext(ctx)
	defer cancel()

	timeout := c.cfg.AttemptTimeout + extra
	var lastErr error
	redirected := false
	for try := 0; ; try++ {
		// A redirect to a newly named leader goes at once; one that
		// repeats the same leader waits like any other retry.
		if try > 0 && !redirected && !c.backoff(ctx, try) {
			return c.giveUp(ctx, op, lastErr)
		}
		c.refreshIfStale()
		server := c.route.pick(r)
		actx, stop := c.route.attemptContext(ctx, r, server)
		s, err := c.session(actx, server, timeout)
		if err == nil {
			err = attempt(actx, s, timeout)
		}
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), errNewLeader) {
			err = errNewLeader
		}
		stop()
		switch {
		case err == nil:
			c.route.succeeded(server)
			return nil
		case errors.Is(err, ErrClosed) || c.closed():
			return fmt.Errorf("client: %s: %w", op, ErrClosed)
		case ctx.Err() != nil:
			return c.giveUp(ctx, op, lastErr)
		case !retryable(err):
			return fmt.Errorf("%s: %w", op, err)
		}
		lastErr = err
		c.log.WithFields(logrus.Fields{"op": op, "node": server, "try": try + 1}).WithError(err).Debug("retrying")
		redirected = c.failedOver(server, s, err)
	}
}

// opContext gives ctx the default deadline when it has none, and ends it
// when the client closes.
func (c *Client) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	var cancelTimeout context.CancelFunc = func() {}
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancelTimeout = context.WithTimeout(ctx, c.cfg.Timeout)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.closeCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
		cancelTimeout()
	}
}

// retryPolicy is the backoff between the attempts of one request. Jitter
// on the upper half of each wait keeps many clients that failed together
// from retrying together.
func (c *Client) retryPolicy() backoff.Policy {
	return backoff.Policy{Min: c.cfg.MinBackoff, Max: c.cfg.MaxBackoff, Jitter: true}
}

// backoff waits before retry number try. It returns false, without
// waiting, when the wait would end past the deadline: there is no point in
// sleeping only to give up.
func (c *Client) backoff(ctx context.Context, try int) bool {
	d := c.retryPolicy().Delay(try)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	newLeader := c.route.leaderChanged()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-newLeader.Done():
		return true
	case <-ctx.Done():
		return false
	}
}

// giveUp builds the error of an operation that ran out of time. It matches
// both the context's error and the last failure (ErrUnavailable,
// *NotLeaderError), so callers can test for either.
func (c *Client) giveUp(ctx context.Context, op string, lastErr error) error {
	if c.closed() {
		return fmt.Errorf("client: %s: %w", op, ErrClosed)
	}
	cause := ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	if lastErr == nil && errors.Is(cause, context.DeadlineExceeded) {
		// The only attempt was still waiting when time ran out.
		lastErr = errNoReply
	}
	if lastErr == nil {
		return fmt.Errorf("client: %s: %w", op, cause)
	}
	return fmt.Errorf("client: %s: %w (last error: %w)", op, cause, lastErr)
}

// requestOn sends msg to the session and returns the reply, turning typed
// error replies into errors.
func (c *Client) requestOn(ctx context.Context, s *session, msg proto.Message, timeout time.Duration) (any, error) {
	if !c.tel.tracing {
		// A span the caller's own tracing put in ctx is not this client's
		// to send: without a TracerProvider no trace header goes out.
		ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	}
	reply, err := c.tr.request(ctx, s.pid, msg, timeout)
	if err != nil {
		return nil, err
	}
	if err := replyError(reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// Server describes one node of the cluster as a node reports it.
type Server struct {
	ID        string
	ActorAddr string
	RaftAddr  string
	HTTPAddr  string
	// GRPCAddr is the node's gRPC Log service, empty when unknown.
	GRPCAddr string
	IsLeader bool
	// Health as seen by discovery ("passing", "warning", "critical"), or
	// empty when the node runs without discovery.
	Health string
}

// Servers asks a node for the cluster's members, the leader marked. The
// client also takes the answer as its view of the cluster for routing.
func (c *Client) Servers(ctx context.Context) ([]Server, error) {
	if c.g != nil {
		return c.grpcServers(ctx)
	}
	var out []Server
	err := c.do(ctx, "servers", routeAny, 0, func(ctx context.Context, s *session, timeout time.Duration) error {
		var err error
		out, err = c.askServers(ctx, s, timeout)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.learn(out)
	return out, nil
}

// askServers sends one ServersRequest on a session.
func (c *Client) askServers(ctx context.Context, s *session, timeout time.Duration) ([]Server, error) {
	reply, err := c.requestOn(ctx, s, &messages.ServersRequest{}, timeout)
	if err != nil {
		return nil, err
	}
	resp, ok := reply.(*messages.ServersResponse)
	if !ok {
		return nil, fmt.Errorf("%w: ServersRequest answered with %T", ErrProtocol, reply)
	}
	out := make([]Server, 0, len(resp.GetServers()))
	for _, sv := range resp.GetServers() {
		out = append(out, Server{
			ID:        sv.GetId(),
			ActorAddr: sv.GetActorAddress(),
			RaftAddr:  sv.GetRaftAddress(),
			HTTPAddr:  sv.GetHttpAddress(),
			GRPCAddr:  sv.GetGrpcAddress(),
			IsLeader:  sv.GetIsLeader(),
			Health:    sv.GetHealth(),
		})
	}
	return out, nil
}

// randomID returns 16 random bytes in hex: producer ids must not collide
// across clients or restarts.
func randomID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails on the platforms Go supports
	return hex.EncodeToString(b[:])
}
