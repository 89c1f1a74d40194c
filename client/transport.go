package client

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/certs"
	"actorlog/internal/logbridge"
	"actorlog/tracing"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// transport owns the client's actor system and its remote: the listener that
// nodes dial replies back to, the reply processes of requests in flight, and
// the reaction to a lost connection.
//
// Lock order: closeMu, then mu. Neither is held while waiting for anything
// but a buffered channel send that never blocks.
type transport struct {
	sys  *actor.ActorSystem
	rem  *remote.Remote
	log  *logrus.Entry
	addr string // the advertised address of the listener

	// closeMu is held shared by everything that hands a message to
	// protoactor, and exclusively by close: protoactor's remote must not be
	// shut down while a send is half way through it.
	closeMu sync.RWMutex
	closed  bool
	quiet   atomic.Bool // set by close: protoactor's logs go to Debug then

	mu       sync.Mutex // guards pending and watchers
	pending  map[string]*call
	watchers map[int]func(addr string)
	nextW    int

	endpointSub *eventstream.Subscription
	// names maps a node's actor address to its member id, as learned
	// from server lists: with TLS the client accepts, at that address,
	// only the node certificate of that name (see nodeCreds).
	names *sync.Map
}

// learnName records that the node at addr is member id.
func (t *transport) learnName(addr, id string) {
	if t != nil && addr != "" && id != "" {
		t.names.Store(addr, id)
	}
}

// call is the reply side of one request: a process registered in the actor
// system's registry under a unique id, which hands the first message it gets
// to the waiting goroutine. Unlike a protoactor Future it can be abandoned
// when the caller's context ends, and it can be failed from outside when the
// connection to the node drops.
type call struct {
	pid    *actor.PID
	target string
	ch     chan any
}

func (c *call) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	c.deliver(msg)
}

// SendSystemMessage ignores system messages: nobody watches a call.
func (c *call) SendSystemMessage(*actor.PID, any) {}

func (c *call) Stop(*actor.PID) {}

// deliver keeps the first message only; later ones (a reply racing a
// connection loss) are dropped, never blocking the sender.
func (c *call) deliver(msg any) {
	select {
	case c.ch <- msg:
	default:
	}
}

// recoverStream is a gRPC stream interceptor for the client's listener. A node
// (or anything else that reaches the port) that sends a message type this
// binary does not know makes protoactor dereference nil inside the stream
// handler; without this the whole client process would die.
func recoverStream(log *logrus.Entry) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.WithFields(logrus.Fields{"panic": r, "method": info.FullMethod}).
					Warnf("dropped a remote stream that crashed its handler\n%s", debug.Stack())
				err = status.Errorf(codes.Internal, "remote stream handler panicked: %v", r)
			}
		}()
		return handler(srv, ss)
	}
}

// refuseUnary is the unary interceptor of the client's listener: it answers
// every unary call Unimplemented without calling protoactor's handler.
// protoactor's unary methods (ListProcesses, GetProcessDiagnostics) panic
// with "implement me", and grpc-go does not recover unary handlers, so one
// such call from anything that reaches the port would kill the client
// process.
func refuseUnary(_ context.Context, _ any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
	return nil, status.Errorf(codes.Unimplemented, "actorlog client: %s is not served", info.FullMethod)
}

func newTransport(cfg Config, log *logrus.Entry) (t *transport, err error) {
	host, portStr, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("client: listen address %q: %w", cfg.ListenAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("client: listen port %q: %w", portStr, err)
	}

	t = &transport{
		names:    new(sync.Map),
		log:      log,
		pending:  make(map[string]*call),
		watchers: make(map[int]func(string)),
	}
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(system *actor.ActorSystem) *slog.Logger {
			return slog.New(logbridge.NewSlogHandler(log.WithField("lib", "protoactor"), logbridge.SlogOptions{
				Level: logbridge.OneStepDown,
				// While the client closes, protoactor reports its own
				// connections closing as errors.
				Quiet: &t.quiet,
			}))
		}),
		// Requests to a lost session are answered by a dead letter; that is
		// an expected event for a client, not something to log each time.
		actor.WithDeadLetterRequestLogging(false),
	)

	// With TLS the listener requires a node certificate of the CA from
	// whoever dials in (only nodes deliver replies and pushes), and the
	// client dials nodes with its own certificate.
	var serverCreds grpc.ServerOption = grpc.EmptyServerOption{}
	dialCreds := grpc.WithTransportCredentials(insecure.NewCredentials())
	if cfg.TLS != nil {
		serverCreds = grpc.Creds(credentials.NewTLS(certs.RequireNode(cfg.TLS)))
		dialCreds = grpc.WithTransportCredentials(newNodeCreds(cfg.TLS, t.names))
	}
	opts := []remote.ConfigOption{
		remote.WithEndpointWriterBatchSize(cfg.EndpointWriterBatchSize),
		remote.WithServerOptions(
			serverCreds,
			// Close relies on Stop waiting for the stream handlers.
			grpc.WaitForHandlers(true),
			grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
			grpc.MaxSendMsgSize(cfg.MaxMessageBytes),
			grpc.ChainStreamInterceptor(recoverStream(log)),
			grpc.ChainUnaryInterceptor(refuseUnary),
		),
		remote.WithDialOptions(
			dialCreds,
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(cfg.MaxMessageBytes),
				grpc.MaxCallSendMsgSize(cfg.MaxMessageBytes),
			),
		),
	}
	if cfg.AdvertisedAddr != "" {
		opts = append(opts, remote.WithAdvertisedHost(cfg.AdvertisedAddr))
	}
	rcfg := remote.Configure(host, port, opts...)
	// protoactor retries a failed dial MaxRetryCount times with a 2 s sleep
	// each, blocking everything queued for that node. One attempt is enough:
	// the client has its own backoff and fails over to other servers.
	rcfg.MaxRetryCount = 1
	rem := remote.NewRemote(sys, rcfg)

	// remote.Start panics when it cannot listen; turn that into an error.
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("client: start remote on %s: %v", cfg.ListenAddr, r)
			}
		}()
		rem.Start()
	}()
	if err != nil {
		sys.Shutdown()
		return nil, err
	}

	t.sys, t.rem, t.addr = sys, rem, sys.Address()
	t.endpointSub = sys.EventStream.SubscribeWithPredicate(func(evt any) {
		if e, ok := evt.(*remote.EndpointTerminatedEvent); ok {
			t.endpointLost(e.Address)
		}
	}, func(evt any) bool {
		_, ok := evt.(*remote.EndpointTerminatedEvent)
		return ok
	})
	return t, nil
}

// endpointLost fails every request in flight to addr at once, rather than
// letting each wait for its timeout, and tells the watchers (sessions,
// subscriptions) so they reconnect. It runs on protoactor's publishing
// goroutine and must not block.
func (t *transport) endpointLost(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log.WithField("node", addr).Debug("connection to node lost")
	for _, c := range t.pending {
		if c.target == addr {
			c.deliver(errEndpointLost)
		}
	}
	for _, w := range t.watchers {
		w(addr)
	}
}

// watch registers f to run (without blocking) whenever the connection to a
// node is lost. The returned function unregisters it.
func (t *transport) watch(f func(addr string)) (cancel func()) {
	t.mu.Lock()
	id := t.nextW
	t.nextW++
	t.watchers[id] = f
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		delete(t.watchers, id)
		t.mu.Unlock()
	}
}

// request sends msg to target and waits for the first reply, at most timeout
// and never past ctx. It returns the reply message as is; internal failures
// (timeout, lost connection, Close) come back as errors.
func (t *transport) request(ctx context.Context, target *actor.PID, msg proto.Message, timeout time.Duration) (any, error) {
	c := &call{target: target.GetAddress(), ch: make(chan any, 1)}
	id := "req" + t.sys.ProcessRegistry.NextId()

	t.closeMu.RLock()
	if t.closed {
		t.closeMu.RUnlock()
		return nil, ErrClosed
	}
	pid, ok := t.sys.ProcessRegistry.Add(c, id)
	if !ok {
		t.closeMu.RUnlock()
		return nil, fmt.Errorf("client: reply id %s already registered", id)
	}
	c.pid = pid
	t.mu.Lock()
	t.pending[id] = c
	t.mu.Unlock()
	if h := tracing.Headers(ctx); h != nil {
		// The request's trace context travels in the message header.
		t.sys.Root.Send(target, &actor.MessageEnvelope{Header: h, Message: msg, Sender: pid})
	} else {
		t.sys.Root.RequestWithCustomSender(target, msg, pid)
	}
	t.closeMu.RUnlock()

	defer func() {
		t.mu.Lock()
		delete(t.pending, id)
		t.mu.Unlock()
		t.sys.ProcessRegistry.Remove(pid)
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-c.ch:
		if err, ok := m.(error); ok {
			return nil, err
		}
		return m, nil
	case <-timer.C:
		return nil, errAttemptTimeout
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send delivers a one-way message. sender may be nil.
func (t *transport) send(target *actor.PID, msg proto.Message, sender *actor.PID) error {
	t.closeMu.RLock()
	defer t.closeMu.RUnlock()
	if t.closed {
		return ErrClosed
	}
	if sender == nil {
		t.sys.Root.Send(target, msg)
	} else {
		t.sys.Root.RequestWithCustomSender(target, msg, sender)
	}
	return nil
}

// register adds a long-lived local process (a subscription's inbox) under a
// fresh id with the given prefix.
func (t *transport) register(p actor.Process, prefix string) (*actor.PID, error) {
	t.closeMu.RLock()
	defer t.closeMu.RUnlock()
	if t.closed {
		return nil, ErrClosed
	}
	pid, ok := t.sys.ProcessRegistry.Add(p, prefix+t.sys.ProcessRegistry.NextId())
	if !ok {
		return nil, fmt.Errorf("client: process id %s already registered", pid.GetId())
	}
	return pid, nil
}

func (t *transport) unregister(pid *actor.PID) {
	t.sys.ProcessRegistry.Remove(pid)
}

// close fails every request in flight with ErrClosed and shuts the remote
// down. It is called once, when the last Client using it closes.
//
// It does not use protoactor's graceful Remote.Shutdown: that flips a plain
// bool read by every inbound stream handler (a data race while a node is
// connected), and it can wait ten seconds for streams the node keeps open.
// Instead it stops the gRPC server, which closes the inbound streams and
// waits for their handlers, and then stops protoactor's endpoint actors,
// which close the outbound connections and their reader goroutines. Nothing
// is sent after closed is set, so no new endpoint can be created meanwhile.
func (t *transport) close() {
	t.closeMu.Lock()
	t.closed = true
	t.quiet.Store(true)
	t.mu.Lock()
	for _, c := range t.pending {
		c.deliver(ErrClosed)
	}
	t.mu.Unlock()
	t.closeMu.Unlock()

	t.sys.EventStream.Unsubscribe(t.endpointSub)
	t.rem.Shutdown(false)
	for _, name := range []string{"EndpointSupervisor", "activator"} {
		if err := t.sys.Root.StopFuture(t.sys.NewLocalPID(name)).Wait(); err != nil {
			t.log.WithError(err).WithField("actor", name).Debug("stopping protoactor's endpoint actors")
		}
	}
	t.sys.Shutdown()
}
