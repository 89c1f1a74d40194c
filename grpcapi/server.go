package grpcapi

import (
	"context"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"actorlog/actors"
	"actorlog/certs"
	"actorlog/messages"
	"actorlog/tracing"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// ServiceName is the full name of the Log service, as health checks and
// reflection name it.
const ServiceName = "actorlog.v1.Log"

// Server is the gRPC Log service of one node. Start it with Serve; Stop
// ends it.
type Server struct {
	messages.UnimplementedLogServer

	cfg    Config
	log    *logrus.Entry
	sys    *actor.ActorSystem
	srv    *grpc.Server
	health *health.Server

	mu       sync.Mutex
	sessions map[caller]*actor.PID // unary calls' sessions, by caller
	stopped  bool
	streams  map[uint64]context.CancelFunc // the streams open, ended by Stop
	nextID   uint64

	callerHeaders sync.Map // caller → its untraced calls' headers (read only)

	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// New builds the server. It serves nothing until Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg: cfg, log: cfg.Logger.WithField("component", "grpc"), sys: cfg.System,
		sessions: make(map[caller]*actor.PID), stop: make(chan struct{}),
		streams: make(map[uint64]context.CancelFunc),
		health:  health.NewServer(),
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		grpc.MaxSendMsgSize(cfg.MaxSendBytes),
		// A fixed pool of goroutines serves the streams instead of a new
		// goroutine (and stack) per call.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		grpc.InitialWindowSize(cfg.WindowBytes),
		grpc.InitialConnWindowSize(cfg.ConnWindowBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.KeepaliveTime, Timeout: cfg.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.KeepaliveMinTime, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.recoverUnary, s.requireCertUnary),
		grpc.ChainStreamInterceptor(s.recoverStream, s.requireCertStream),
		// Stop returns only once every handler has, so no stream
		// outlives the node's sessions.
		grpc.WaitForHandlers(true),
	}
	switch {
	case cfg.Creds != nil:
		opts = append(opts, grpc.Creds(cfg.Creds))
	case cfg.TLS != nil:
		opts = append(opts, grpc.Creds(credentials.NewTLS(ServerTLS(cfg.TLS))))
	}
	s.srv = grpc.NewServer(opts...)
	messages.RegisterLogServer(s.srv, s)
	healthpb.RegisterHealthServer(s.srv, s.health)
	reflection.Register(s.srv)
	s.setHealth()
	s.wg.Add(1)
	go s.watchHealth()
	return s, nil
}

// Serve serves on ln until Stop. It returns nil after Stop.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	select {
	case <-s.stop:
		return nil
	default:
	}
	return err
}

// Stop ends the server: health turns NOT_SERVING, new calls are refused,
// calls in flight get until ctx ends to finish (then they are cancelled),
// and the sessions of unary calls are closed. It is idempotent and waits.
func (s *Server) Stop(ctx context.Context) {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.health.Shutdown()
		// Streams never end by themselves (a ConsumeStream follows the
		// log): end them now, with Unavailable, so clients go elsewhere.
		s.mu.Lock()
		s.stopped = true
		for _, cancel := range s.streams {
			cancel()
		}
		s.mu.Unlock()
		done := make(chan struct{})
		go func() {
			s.srv.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			// Streams (a ConsumeStream follows the log forever) end now.
			s.srv.Stop()
			<-done
		}
		s.wg.Wait()
		s.mu.Lock()
		sessions := s.sessions
		s.sessions = nil
		s.mu.Unlock()
		for _, pid := range sessions {
			s.sys.Root.Send(pid, &messages.CloseSession{})
		}
	})
}

// track registers a stream's cancel function for Stop; the returned
// function unregisters it. It fails once the server stops.
func (s *Server) track(cancel context.CancelFunc) (untrack func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, ErrStopped
	}
	s.nextID++
	id := s.nextID
	s.streams[id] = cancel
	return func() {
		s.mu.Lock()
		delete(s.streams, id)
		s.mu.Unlock()
	}, nil
}

// stopping reports whether Stop has begun.
func (s *Server) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// watchHealth keeps grpc.health.v1 current until Stop.
func (s *Server) watchHealth() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.setHealth()
		}
	}
}

func (s *Server) setHealth() {
	st := healthpb.HealthCheckResponse_SERVING
	if s.cfg.Ready != nil && s.cfg.Ready() != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(ServiceName, st)
}

// recoverUnary and recoverStream turn a panic in a handler into Internal
// for that call: gRPC does not recover them, and one bad call must not
// take the node down.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.WithFields(logrus.Fields{"panic": r, "method": info.FullMethod}).Errorf("gRPC handler panicked\n%s", debug.Stack())
			err = status.Errorf(codes.Internal, "actorlog: internal error serving %s", info.FullMethod)
		}
	}()
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.WithFields(logrus.Fields{"panic": r, "method": info.FullMethod}).Errorf("gRPC stream handler panicked\n%s", debug.Stack())
			err = status.Errorf(codes.Internal, "actorlog: internal error serving %s", info.FullMethod)
		}
	}()
	return handler(srv, ss)
}

// caller is who a call comes from, as the transport proves it.
type caller struct {
	identity string
	node     bool // a node certificate (only with TLS)
}

// callerOf reads the verified identity of the call's peer: the Common Name
// of its client certificate, as the actor remote's guard does. Without TLS
// there is none, and the sessions authorise nothing (as for the other
// channels).
func (s *Server) callerOf(ctx context.Context) caller {
	if s.cfg.TLS == nil {
		return caller{}
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return caller{}
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return caller{}
	}
	leaf := info.State.PeerCertificates[0]
	return caller{identity: certs.Identity(leaf), node: certs.IsNode(leaf)}
}

// headers are the envelope headers of a call's messages: the transport
// identity, stamped as the remote's guard stamps it, and the W3C trace
// context of the call's metadata.
//
// The headers of an untraced call depend on the caller only, and nothing
// writes to an envelope's headers once sent (the actors read them), so
// those are built once per caller and shared by its calls.
func (s *Server) headers(ctx context.Context, c caller) map[string]string {
	tp := metadata.ValueFromIncomingContext(ctx, tracing.TraceparentHeader)
	if len(tp) == 0 || tp[0] == "" {
		if h, ok := s.callerHeaders.Load(c); ok {
			return h.(map[string]string)
		}
		h, _ := s.callerHeaders.LoadOrStore(c, callerHeaders(c, 0))
		return h.(map[string]string)
	}
	h := callerHeaders(c, 2)
	h[tracing.TraceparentHeader] = tp[0]
	if st := metadata.ValueFromIncomingContext(ctx, tracing.TracestateHeader); len(st) > 0 && st[0] != "" {
		h[tracing.TracestateHeader] = st[0]
	}
	return h
}

// callerHeaders are the transport identity headers of c, with room for
// extra more.
func callerHeaders(c caller, extra int) map[string]string {
	h := make(map[string]string, 3+extra)
	h[actors.RemoteHeader] = "true"
	if c.identity != "" {
		h[actors.IdentityHeader] = c.identity
	}
	if c.node {
		h[actors.NodeHeader] = "true"
	}
	return h
}
