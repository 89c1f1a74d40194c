package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/actors"
	"actorlog/authz"
	"actorlog/consensus"
	"actorlog/discovery"
	"actorlog/grpcapi"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// logDirName is the subdirectory of DataDir that holds the log's segments;
// consensus will keep its own files beside it.
const logDirName = "log"

// Node is one running actorlog node: its actor system, remote endpoint,
// actor tree and HTTP API. Start it with Start and stop it with Stop.
type Node struct {
	cfg Config
	log *logrus.Entry

	lock     *actors.DirLock
	sys      *actor.ActorSystem
	rem      *remote.Remote
	sup      *actors.Supervisor
	guard    *guard
	logPID   *actor.PID
	sessions *actor.PID

	reg        *discovery.Registrar
	discMu     sync.Mutex // guards membership once started (stopDiscovery)
	membership *actor.PID

	rp       raftParts
	repair   *repairer
	raft     *raft.Raft
	fsm      *consensus.FSM
	raftAddr string
	maxEntry int
	// disk counts the bytes written to disk, by what they hold.
	disk diskWrites
	// applyWatch notices an applied index that does not move (Healthy).
	applyWatch applyWatch
	hadState   bool

	grpcLn   net.Listener
	grpcSrv  *grpcapi.Server
	grpcWG   sync.WaitGroup
	grpcAddr string

	httpLn  net.Listener
	httpSrv *http.Server
	httpWG  sync.WaitGroup
	httpAPI *httpAPI
	metrics *metrics
	// authz decides what client identities may do; nil without TLS
	// (authorisation off).
	authz *authz.Authorizer
	debug *debugServer // nil unless Config.PprofAddr is set

	tp         trace.TracerProvider
	tpShutdown func(context.Context) error // nil: the provider is not the node's

	actorAddr string
	httpAddr  string

	probeStop func()
	probeWG   sync.WaitGroup

	dataDir *dataDirWatch

	// leaveMu admits one Leave at a time; left is set once one succeeded.
	leaveMu sync.Mutex
	left    atomic.Bool

	stopOnce sync.Once
	done     chan struct{}
	stopErr  error
}

// Start opens the data directory, recovers the log, starts the actor
// remote and the HTTP API, and returns once the node serves. ctx bounds the
// startup only; cancelling it later does not stop the node (call Stop).
// Whatever Start had started is stopped again when it fails.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{cfg: cfg, done: make(chan struct{})}
	n.cfg.Storage.Written = &n.disk.records
	n.log = logrus.NewEntry(cfg.Logger).WithField("node", cfg.ID)
	n.repair = newRepairer(n)
	if err := n.start(ctx); err != nil {
		_ = n.teardown()
		close(n.done)
		return nil, err
	}
	n.log.WithFields(logrus.Fields{"actor_addr": n.actorAddr, "http_addr": n.httpAddr, "grpc_addr": n.grpcAddr, "raft_addr": n.raftAddr, "data_dir": cfg.DataDir}).Info("node started")
	return n, nil
}

func (n *Node) start(ctx context.Context) (err error) {
	cfg := n.cfg

	logDir := filepath.Join(cfg.DataDir, logDirName)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("%w: create %s: %w", ErrStart, logDir, err)
	}
	if n.lock, err = lockDir(cfg.DataDir); err != nil {
		return err
	}
	if up, err := checkFormat(cfg.DataDir, cfg.DataFormat); err != nil {
		return err
	} else if up {
		n.log.WithField("format", cfg.DataFormat).Info("data directory moved up to a newer format; its records are read as they are")
	}
	// A directory that left its cluster does not rejoin it unasked.
	if err := n.checkLeft(); err != nil {
		return err
	}
	// A replica being repaired drops its logs before anything opens them.
	if err := n.repair.beforeOpen(); err != nil {
		return err
	}
	// Watched once the repair above has recreated what it drops.
	if n.dataDir, err = watchDataDir(cfg.DataDir, logDir); err != nil {
		return err
	}

	if n.authz, err = n.loadAuthorizer(); err != nil {
		return err
	}

	protoLog := n.log.WithField("lib", "protoactor")
	n.sys = actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(actors.NewSlogHandler(protoLog)) }),
		// A reply to a client that has gone is routine, not news.
		actor.WithDeadLetterRequestLogging(false),
	)
	n.sup = actors.NewSupervisor(n.log, 0, 0)
	n.metrics = newMetrics(n)
	if err := n.startTracing(); err != nil {
		return err
	}

	// The raft stores, then the log: nothing is accepted before the data
	// is recovered.
	if err := n.openRaftStores(); err != nil {
		return err
	}
	if end, ok := n.rp.peer.EndIndex(); ok {
		cut, err := actors.CutDanglingReferences(logDir, cfg.Storage, end)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStart, err)
		}
		if cut > 0 {
			n.log.WithField("records", cut).Warn("cut records whose raft entries a power loss took: they were not on disk in the raft log, as --sync allows")
		}
	}
	logCfg := actors.LogConfig{
		Dir:                logDir,
		Storage:            recordLogStorage(cfg.Storage, cfg.DataFormat),
		Logger:             n.log,
		MaxSegmentRestarts: cfg.MaxSegmentRestarts,
		RestartWindow:      cfg.SegmentRestartWindow,
		MaxWait:            cfg.MaxWait,
		FaultInjection:     cfg.FaultInjection,
		TracerProvider:     n.tp,
		OnCorrupt:          n.repair.onCorrupt,
		ScrubInterval:      cfg.ScrubInterval,
	}
	if cfg.DataFormat >= DataFormat2 {
		// The log reads the records' values from the raft log.
		logCfg.Values = n.rp.peer
	}
	if err := logCfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n.logPID, err = n.sys.Root.SpawnNamed(actors.NewLogProps(logCfg).Configure(actor.WithGuardian(n.sup)), actors.LogName)
	if err != nil {
		return fmt.Errorf("%w: spawn the log: %w", ErrStart, err)
	}
	if err := n.awaitLog(ctx); err != nil {
		return err
	}
	if err := n.repair.afterLogReady(); err != nil {
		return fmt.Errorf("%w: fence reads while the log is rebuilt: %w", ErrStart, err)
	}
	// Raft next: the FSM reads what the log recovered, and replays what
	// the log lacks once raft knows the commit index.
	if err := n.startRaft(); err != nil {
		return err
	}

	// Bind HTTP before the remote so that both addresses are known when
	// the sessions (which announce them) start.
	n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("%w: listen on %s: %w", ErrStart, cfg.HTTPAddr, err)
	}
	n.httpAddr = n.httpLn.Addr().String()
	if err := n.listenGRPC(); err != nil {
		return err
	}
	if err := n.startRemote(); err != nil {
		return err
	}
	if err := n.spawnRaftActor(); err != nil {
		return err
	}

	sessCfg := actors.SessionConfig{
		Log:             n.logPID,
		Produce:         n.rp.pid,
		Raft:            n.rp.pid,
		Logger:          n.log,
		Counters:        &n.metrics.sessions,
		Authorizer:      n.sessionAuthorizer(),
		TracerProvider:  n.tp,
		MaxRecordBytes:  cfg.MaxRecordBytes,
		MaxBatchBytes:   cfg.MaxBatchBytes,
		MaxBatchRecords: n.limits().MaxBatchRecords,
		IdleTimeout:     cfg.SessionIdleTimeout,
		// Zero takes actors.DefaultMaxSessionsPerIdentity.
		MaxSessionsPerIdentity: cfg.MaxSessionsPerIdentity,
		Server: &messages.Server{
			Id: cfg.ID, ActorAddress: n.actorAddr, HttpAddress: n.httpAddr, RaftAddress: n.raftAddr, GrpcAddress: n.grpcAddr,
		},
	}
	if err := sessCfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n.sessions, err = n.sys.Root.SpawnNamed(actors.NewSessionsProps(sessCfg).Configure(actor.WithGuardian(n.sup)), actors.SessionsName)
	if err != nil {
		return fmt.Errorf("%w: spawn the session acceptor: %w", ErrStart, err)
	}

	// Discovery before HTTP serves, which reports its state.
	if err := n.startDiscovery(); err != nil {
		return err
	}

	n.httpAPI = newHTTPAPI(n)
	if err := n.httpAPI.openSession(); err != nil {
		return fmt.Errorf("%w: open the HTTP session: %w", ErrStart, err)
	}
	n.httpSrv = &http.Server{
		Handler:           n.httpAPI,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      cfg.MaxWait + 2*cfg.RequestTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newStdLogger(n.log.WithField("component", "http")),
	}
	n.httpWG.Add(1)
	go func() {
		defer n.httpWG.Done()
		serve := func() error { return n.httpSrv.Serve(n.httpLn) }
		if cfg.TLS != nil {
			n.httpSrv.TLSConfig = httpTLS(cfg.TLS)
			serve = func() error { return n.httpSrv.ServeTLS(n.httpLn, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.WithError(err).Error("HTTP server failed")
		}
	}()
	if err := n.startGRPC(); err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		d, err := startDebugServer(cfg.PprofAddr, func(err error) { n.log.WithError(err).Error("pprof server failed") })
		if err != nil {
			return err
		}
		n.debug = d
		n.log.WithField("addr", d.addr()).Info("serving runtime profiles on /debug/pprof/")
	}
	n.awaitSoleLeader(ctx)
	n.startJoin()
	return nil
}

// awaitLog waits until the log actor has recovered every segment.
func (n *Node) awaitLog(ctx context.Context) error {
	timeout := n.cfg.RequestTimeout * 6
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := n.sys.Root.RequestFuture(n.logPID, &messages.LogStatusRequest{WaitReady: true}, timeout)
	res, err := actors.FutureResult(ctx, f)
	if err != nil {
		return fmt.Errorf("%w: waiting for the log to open: %w", ErrStart, err)
	}
	st, ok := res.(*messages.LogStatus)
	if !ok {
		return fmt.Errorf("%w: the log answered %T", ErrStart, res)
	}
	if !st.GetHealthy() {
		return fmt.Errorf("%w: the log failed to open: %s", ErrStart, st.GetReason())
	}
	return nil
}

func (n *Node) startRemote() (err error) {
	host, portStr, err := net.SplitHostPort(n.cfg.ActorAddr)
	if err != nil {
		return fmt.Errorf("%w: ActorAddr: %w", ErrInvalidConfig, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("%w: ActorAddr port %q: %w", ErrInvalidConfig, portStr, err)
	}
	n.guard = newGuard(n.log.WithField("component", "guard"), n.sys.Address)
	n.guard.peers = newPeerLimiter(n.cfg.MaxConnsPerPeer)
	n.guard.isMember = n.isMemberActorAddr
	max := n.cfg.GRPCMaxMessageBytes
	recvMax := n.cfg.grpcMaxRecvBytes()
	// Without TLS the remote speaks plaintext HTTP/2. With it, the server
	// requires a certificate of the CA from every peer (nodes, clients),
	// and the node dials other nodes and clients' listeners with its own.
	// Either way each peer host holds at most MaxConnsPerPeer connections.
	var inner credentials.TransportCredentials
	dialCreds := grpc.WithTransportCredentials(insecure.NewCredentials())
	if n.cfg.TLS != nil {
		n.guard.tls = true
		inner = credentials.NewTLS(n.cfg.TLS)
		dialCreds = grpc.WithTransportCredentials(credentials.NewTLS(n.cfg.TLS))
	}
	serverCreds := grpc.Creds(newGuardCreds(inner, n.cfg.TLS != nil, n.guard.peers, n.log.WithField("component", "remote")))
	opts := []remote.ConfigOption{
		remote.WithEndpointWriterBatchSize(n.cfg.EndpointWriterBatchSize),
		remote.WithServerOptions(
			serverCreds,
			// Limits before work: a message is refused by its length
			// prefix, before gRPC buffers it, when it is larger than a
			// produce batch may be (README, "Limits").
			grpc.MaxRecvMsgSize(recvMax),
			grpc.MaxSendMsgSize(max),
			grpc.MaxConcurrentStreams(uint32(n.cfg.MaxStreamsPerConn)),
			// A connection that never completes its handshake is closed
			// after HandshakeTimeout (gRPC's default holds it 120 s).
			grpc.ConnectionTimeout(n.cfg.HandshakeTimeout),
			grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: n.cfg.ConnIdleTimeout}),
			grpc.ChainStreamInterceptor(n.guard.interceptor()),
			// protoactor's unary methods panic; see refuseUnary.
			grpc.ChainUnaryInterceptor(refuseUnary),
			// Stop then returns only once every stream handler has,
			// so nothing of the remote outlives the node.
			grpc.WaitForHandlers(true),
		),
		remote.WithDialOptions(
			dialCreds,
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(max), grpc.MaxCallSendMsgSize(max)),
			// A client that went away must not hold a connection attempt
			// (and the replies queued behind it) for gRPC's default 20 s.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
				MinConnectTimeout: n.cfg.RequestTimeout,
			}),
		),
	}
	if n.cfg.AdvertisedActorAddr != "" {
		opts = append(opts, remote.WithAdvertisedHost(n.cfg.AdvertisedActorAddr))
	}
	rc := remote.Configure(host, port, opts...)
	rc.MaxRetryCount = n.cfg.RemoteMaxRetryCount
	rem := remote.NewRemote(n.sys, rc)
	// remote.Start panics when it cannot listen.
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: start the actor remote on %s: %v", ErrStart, n.cfg.ActorAddr, r)
			}
		}()
		rem.Start()
	}()
	if err != nil {
		return err
	}
	n.rem = rem
	n.actorAddr = n.sys.Address()
	if err := n.probeRemote(); err != nil {
		if n.cfg.AdvertisedActorAddr == "" {
			return err
		}
		// The advertised address may not route from inside (NAT).
		n.log.WithError(err).Warn("could not probe the actor remote at its advertised address")
	}
	return nil
}

// probeRemote opens a stream to the node's own remote and waits until the
// transport guard sees it, so that Start returns only once the remote
// really serves.
//
// protoactor's remote.Start writes gRPC's process-wide logger without
// synchronisation, and gRPC reads it from its own goroutines: when a server
// starts serving, when a connection closes, when a client connection
// changes state. Waiting for the guard orders the server's first read
// before Start returns. The probe speaks HTTP/2 through net/http rather
// than through a gRPC client, which would log state changes from
// goroutines of its own, and it stays open until Stop, so that its close
// happens inside the remote's shutdown. Together this keeps another remote
// started later in the same process (a client, or a second node in a test)
// from racing with this one.
func (n *Node) probeRemote() error {
	addr := n.actorAddr
	tr := &http.Transport{Protocols: new(http.Protocols)}
	scheme := "http://"
	if n.cfg.TLS != nil {
		// The node's own certificate is a node's: the guard lets it in.
		tr.TLSClientConfig = n.cfg.TLS.Clone()
		tr.Protocols.SetHTTP2(true)
		scheme = "https://"
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	body, bodyW := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+addr+"/remote.Remoting/Receive", body)
	if err != nil {
		cancel()
		return fmt.Errorf("%w: probe the actor remote at %s: %w", ErrStart, addr, err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	errc := make(chan error, 1)
	n.probeWG.Add(1)
	go func() {
		defer n.probeWG.Done()
		defer bodyW.Close()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		// The node sends nothing on this stream until its remote shuts
		// down and says goodbye (a DisconnectRequest); then end the stream
		// as protoactor's own clients do, so the shutdown need not wait.
		var b [1]byte
		if _, err := resp.Body.Read(b[:]); err == nil {
			_ = bodyW.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
		}
	}()
	n.probeStop = func() {
		cancel()
		n.probeWG.Wait()
		tr.CloseIdleConnections()
	}
	timer := time.NewTimer(n.cfg.RequestTimeout)
	defer timer.Stop()
	select {
	case <-n.guard.ready:
		return nil
	case err := <-errc:
		return fmt.Errorf("%w: probe the actor remote at %s: %w", ErrStart, addr, err)
	case <-timer.C:
		return fmt.Errorf("%w: the actor remote at %s did not answer within %s", ErrStart, addr, n.cfg.RequestTimeout)
	}
}

func (n *Node) closeProbe() {
	if n.probeStop != nil {
		n.probeStop()
		n.probeStop = nil
	}
}

// ActorAddr returns the address clients reach the actor remote at (the
// bound address, or AdvertisedActorAddr).
func (n *Node) ActorAddr() string { return n.actorAddr }

// RaftAddr returns the address of the raft transport (the bound one).
func (n *Node) RaftAddr() string { return n.raftAddr }

// HTTPAddr returns the bound address of the HTTP API.
func (n *Node) HTTPAddr() string { return n.httpAddr }

// Done is closed once the node has stopped.
func (n *Node) Done() <-chan struct{} { return n.done }

// Healthy returns nil when the node can serve, or an error wrapping
// ErrUnhealthy (or ErrStopped) that says why not. A storage failure
// escalated by the log, an actor that failed for good, and a log actor
// that does not answer within the request timeout all make it unhealthy,
// and so does a data directory that was removed or replaced under it.
// The node keeps running when unhealthy: it serves what it still can, and
// its health check tells discovery to route clients elsewhere.
func (n *Node) Healthy() error {
	select {
	case <-n.done:
		return ErrStopped
	default:
	}
	if err := n.sup.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnhealthy, err)
	}
	if err := n.dataDir.check(); err != nil {
		return err
	}
	if err := n.applyStalled(); err != nil {
		return err
	}
	res, err := n.sys.Root.RequestFuture(n.logPID, &messages.LogStatusRequest{}, min(n.cfg.RequestTimeout, 2*time.Second)).Result()
	if err != nil {
		return fmt.Errorf("%w: the log does not answer: %w", ErrUnhealthy, err)
	}
	st, ok := res.(*messages.LogStatus)
	switch {
	case !ok:
		return fmt.Errorf("%w: the log answered %T", ErrUnhealthy, res)
	case st.GetDraining():
		return fmt.Errorf("%w: shutting down", ErrUnhealthy)
	case !st.GetHealthy():
		return fmt.Errorf("%w: %s", ErrUnhealthy, st.GetReason())
	}
	return nil
}

// Ready returns nil when the node is healthy (see Healthy), is a member
// of a raft cluster and knows its leader; otherwise an error wrapping
// ErrNotReady (or Healthy's error) that says why not.
func (n *Node) Ready() error {
	if err := n.Healthy(); err != nil {
		return err
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("%w: read the raft configuration: %w", ErrNotReady, err)
	}
	member := false
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.cfg.ID) {
			member = true
			break
		}
	}
	if !member {
		return fmt.Errorf("%w: not a member of a raft cluster yet (no --bootstrap, no --join, or waiting to be added)", ErrNotReady)
	}
	if addr, _ := n.raft.LeaderWithID(); addr == "" {
		return fmt.Errorf("%w: no raft leader known", ErrNotReady)
	}
	return nil
}

// Stop shuts the node down gracefully: it stops accepting (HTTP and new
// appends), drains the log (parked polls answered, appends in flight
// finished), ends the sessions and their subscriptions, syncs and closes
// the segments, then stops the remote. It is idempotent and safe to call
// concurrently; every call waits until the node has stopped or ctx ends.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		go func() {
			n.stopErr = n.teardown()
			close(n.done)
		}()
	})
	select {
	case <-n.done:
		return n.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// teardown stops whatever has been started, in order. Each step is bounded,
// so it always finishes.
func (n *Node) teardown() error {
	var errs []error
	step := n.cfg.RequestTimeout
	root := func() *actor.RootContext { return n.sys.Root }

	// 0. Leave Consul, so that clients go elsewhere and the leader
	//    removes this node from raft.
	if n.sys != nil {
		if err := n.stopDiscovery(); err != nil {
			errs = append(errs, err)
		}
	}
	// 1. Stop accepting HTTP; handlers in flight may still finish.
	httpDone := make(chan struct{})
	if n.httpSrv != nil {
		go func() {
			defer close(httpDone)
			ctx, cancel := context.WithTimeout(context.Background(), step+n.cfg.MaxWait)
			defer cancel()
			if err := n.httpSrv.Shutdown(ctx); err != nil {
				_ = n.httpSrv.Close()
			}
		}()
	} else {
		close(httpDone)
		if n.httpLn != nil {
			_ = n.httpLn.Close()
		}
	}
	//    The gRPC service likewise: its streams end at once, unary calls
	//    in flight may finish.
	grpcDone := make(chan struct{})
	go func() {
		defer close(grpcDone)
		ctx, cancel := context.WithTimeout(context.Background(), step+n.cfg.MaxWait)
		defer cancel()
		n.stopGRPC(ctx)
	}()
	// 2. A repair in progress stops; its marker carries it on at the next
	//    start.
	n.repair.stopRepair()
	// 3. Raft: leadership handed over, raft shut down (produces in flight
	//    are answered Unavailable, so clients retry elsewhere), the FSM's
	//    last appends done.
	errs = append(errs, n.stopRaft(step)...)
	// 3. Drain the log: new appends are refused, parked polls answered at
	//    once, appends in flight completed.
	if n.logPID != nil {
		if _, err := root().RequestFuture(n.logPID, &messages.DrainLog{}, step).Result(); err != nil {
			errs = append(errs, fmt.Errorf("drain the log: %w", err))
		}
	}
	// 4. End the sessions and their subscriptions.
	if n.httpAPI != nil {
		n.httpAPI.closeSession()
	}
	<-grpcDone
	if n.sessions != nil {
		if err := root().StopFuture(n.sessions).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop the sessions: %w", err))
		}
	}
	<-httpDone
	n.httpWG.Wait()
	// 5. Stop the log: its segment actors sync and close their files.
	if n.logPID != nil {
		if err := root().StopFuture(n.logPID).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop the log: %w", err))
		}
	}
	// 6. The remote last, so that the replies above could still leave.
	if n.rem != nil {
		n.shutdownRemote()
	}
	n.closeProbe()
	if n.debug != nil {
		n.debug.stop()
	}
	if n.sys != nil {
		n.sys.Shutdown()
	}
	// 7. Export the spans still buffered.
	if err := n.stopTracing(step); err != nil {
		errs = append(errs, err)
	}
	if n.lock != nil {
		if err := n.lock.Unlock(); err != nil {
			errs = append(errs, fmt.Errorf("unlock the data directory: %w", err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		n.log.WithError(err).Warn("node stopped with errors")
	} else if n.rem != nil {
		n.log.Info("node stopped")
	}
	return err
}

// shutdownRemote stops protoactor's remote: its endpoint actors (which
// close the connections the node dialled to clients), then the gRPC server
// (which closes the clients' connections and waits for their handlers).
//
// It does not use protoactor's graceful Shutdown, which writes flags that
// its stream handlers and endpoint actors read without synchronisation,
// and sends on channels that a closing stream may have closed (a panic).
// Clients see the connection drop, which they handle as a lost endpoint;
// by now every session has ended and every request has been answered.
func (n *Node) shutdownRemote() {
	defer func() {
		if r := recover(); r != nil {
			n.log.WithField("panic", r).Warn("remote shutdown panicked")
		}
	}()
	for _, name := range []string{"EndpointSupervisor", "activator"} {
		if err := n.sys.Root.StopFuture(n.sys.NewLocalPID(name)).Wait(); err != nil {
			n.log.WithError(err).WithField("actor", name).Debug("stopping a remote actor")
		}
	}
	n.rem.Shutdown(false)
}
