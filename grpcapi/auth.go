package grpcapi

import (
	"context"
	"crypto/tls"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// healthCheck is grpc.health.v1's Check, the only method served to a TLS
// peer without a client certificate. Probes call nothing else; Watch (a
// stream held open) and List stay behind the certificate, so that a peer
// without one can hold no stream.
const healthCheck = "/grpc.health.v1.Health/Check"

// ServerTLS is the TLS configuration the gRPC port serves with, made from
// the node's mutual-TLS configuration cfg: a client certificate is verified
// against the CA when one is given, as before, but the handshake no longer
// requires one, so that a probe that cannot present a certificate (the
// kubelet's gRPC probe in TLS mode, grpc_health_probe -tls) reaches
// grpc.health.v1's Check. Every other method still requires a verified
// certificate: the server's interceptors refuse the call with
// Unauthenticated before it reaches a handler (requireCert).
func ServerTLS(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.ClientAuth = tls.VerifyClientCertIfGiven
	// The node's own check refuses a peer without a certificate; it still
	// runs for a peer that presents one.
	if inner := c.VerifyConnection; inner != nil {
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			return inner(cs)
		}
	}
	return c
}

// verifiedPeer reports whether the call's peer presented a client
// certificate whose chain the handshake verified.
func verifiedPeer(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	return ok && len(info.State.PeerCertificates) > 0 && len(info.State.VerifiedChains) > 0
}

// requireCert refuses every method but grpc.health.v1's Check to a peer
// without a verified client certificate, when the server runs TLS. It is
// the per-method half of ServerTLS, and fails closed: a method is open
// only when named here.
func (s *Server) requireCert(ctx context.Context, method string) error {
	if s.cfg.TLS == nil || method == healthCheck || verifiedPeer(ctx) {
		return nil
	}
	return status.Error(codes.Unauthenticated, "actorlog: a client certificate signed by the cluster's CA is required (only grpc.health.v1 Check is served without one)")
}

func (s *Server) requireCertUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.requireCert(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) requireCertStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.requireCert(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
