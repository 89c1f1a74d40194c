package node

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"actorlog/grpcapi"
	"google.golang.org/grpc/credentials"
)

// listenGRPC binds the gRPC Log service's port, so that its address is
// known when the node announces itself (member entry, Consul, sessions).
func (n *Node) listenGRPC() error {
	ln, err := net.Listen("tcp", n.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("%w: listen on %s (--grpc-addr): %w", ErrStart, n.cfg.GRPCAddr, err)
	}
	n.grpcLn = ln
	n.grpcAddr = ln.Addr().String()
	if n.cfg.AdvertisedGRPCAddr != "" {
		n.grpcAddr = n.cfg.AdvertisedGRPCAddr
	}
	return nil
}

// startGRPC serves the gRPC Log service through the session acceptor: the
// same sessions, limits, policy and idempotent producer as the actor
// remote (package grpcapi).
func (n *Node) startGRPC() error {
	cfg := grpcapi.Config{
		System:         n.sys,
		Sessions:       n.sessions,
		TLS:            n.cfg.TLS,
		Ready:          n.Ready,
		Logger:         n.log,
		RequestTimeout: n.cfg.RequestTimeout,
		// One request of the largest batch, with room for its framing
		// (the same headroom the actor remote gets).
		MaxRecvBytes: int(n.cfg.MaxBatchBytes) + grpcOverheadBytes,
		MaxSendBytes: n.cfg.GRPCMaxMessageBytes,
	}
	// TLS (or plaintext) behind the same per-peer connection bound and
	// rate-limited refusal log as the actor port (node/peers.go). The
	// handshake verifies a client certificate when one is given without
	// requiring one, so that probes reach grpc.health.v1; the server
	// refuses every other method to a peer without one (grpcapi.ServerTLS).
	var inner credentials.TransportCredentials
	if n.cfg.TLS != nil {
		inner = credentials.NewTLS(grpcapi.ServerTLS(n.cfg.TLS))
	}
	cfg.Creds = newGuardCreds(inner, n.cfg.TLS != nil, newPeerLimiter(n.cfg.MaxConnsPerPeer), n.log.WithField("component", "grpc"))
	srv, err := grpcapi.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n.grpcSrv = srv
	ln := &firstAccept{Listener: n.grpcLn, accepting: make(chan struct{})}
	n.grpcWG.Add(1)
	go func() {
		defer n.grpcWG.Done()
		if err := srv.Serve(ln); err != nil {
			n.log.WithError(err).Error("gRPC server failed")
		}
	}()
	// gRPC's Serve logs through gRPC's process-wide logger before it
	// accepts, and protoactor's remote.Start writes that logger without
	// synchronisation (see probeRemote): a client or node started later
	// in the same process must find that read done. Start returns once
	// Serve waits in Accept.
	timer := time.NewTimer(n.cfg.RequestTimeout)
	defer timer.Stop()
	select {
	case <-ln.accepting:
		return nil
	case <-timer.C:
		return fmt.Errorf("%w: the gRPC server on %s did not start within %s", ErrStart, n.grpcAddr, n.cfg.RequestTimeout)
	}
}

// firstAccept closes accepting when Serve first calls Accept.
type firstAccept struct {
	net.Listener
	once      sync.Once
	accepting chan struct{}
}

func (l *firstAccept) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.accepting) })
	return l.Listener.Accept()
}

// stopGRPC ends the gRPC service: streams are ended, unary calls in
// flight get until ctx ends.
func (n *Node) stopGRPC(ctx context.Context) {
	if n.grpcSrv != nil {
		n.grpcSrv.Stop(ctx)
		n.grpcWG.Wait()
		return
	}
	if n.grpcLn != nil {
		_ = n.grpcLn.Close()
	}
}

// GRPCAddr returns the address of the gRPC Log service (the bound one, or
// AdvertisedGRPCAddr).
func (n *Node) GRPCAddr() string { return n.grpcAddr }
