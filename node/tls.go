package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"actorlog/actors"
	"actorlog/authz"
	"actorlog/certs"
	"actorlog/messages"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/credentials"
)

// requireTLSReason is what the node logs when it refuses a connection, and
// what a plaintext peer should be told.
const requireTLSReason = "this node requires mutual TLS with a certificate signed by its CA (--tls-cert, --tls-key, --tls-ca)"

// loadAuthorizer returns the authorizer of the node: nil without TLS
// (authorisation is off), the policy file's, or one that denies every
// client identity when TLS is on without a policy.
func (n *Node) loadAuthorizer() (*authz.Authorizer, error) {
	if n.cfg.TLS == nil {
		return nil, nil
	}
	if n.cfg.ACLPolicy == "" {
		n.log.Warn("mutual TLS is on without an ACL policy (--acl-policy): every client identity is denied; only node certificates are served")
		return authz.DenyAll(), nil
	}
	a, err := authz.Load(n.cfg.ACLPolicy)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	n.log.WithFields(logrus.Fields{"policy": a.Source(), "grants": a.Grants()}).Info("authorisation on")
	return a, nil
}

// refusingCreds are the remote's server credentials: TLS, logging each
// failed handshake (at most once a second) with the peer and the reason,
// so an operator sees why a plaintext or foreign peer gets nowhere. gRPC
// itself closes such connections silently.
type refusingCreds struct {
	credentials.TransportCredentials
	log      *logrus.Entry
	lastWarn *atomic.Int64
}

func newRefusingCreds(cfg *tls.Config, log *logrus.Entry) credentials.TransportCredentials {
	return refusingCreds{TransportCredentials: credentials.NewTLS(cfg), log: log, lastWarn: new(atomic.Int64)}
}

func (c refusingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		logRefused(c.log, c.lastWarn, conn.RemoteAddr().String(), err)
	}
	return out, info, err
}

func (c refusingCreds) Clone() credentials.TransportCredentials {
	return refusingCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log, lastWarn: c.lastWarn}
}

func logRefused(log *logrus.Entry, last *atomic.Int64, peer string, err error) {
	if errors.Is(err, io.EOF) {
		// Connected and hung up before saying anything: a TCP health
		// check or a port scan, not a peer that was refused.
		log.WithField("peer", peer).Debug("a connection closed before its TLS handshake")
		return
	}
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(time.Second) || !last.CompareAndSwap(prev, now) {
		return
	}
	log.WithFields(logrus.Fields{"peer": peer, "error": err.Error()}).Warn("refused a connection: " + requireTLSReason)
}

// httpTLS is the HTTP API's TLS configuration: the node certificate, and
// client certificates verified when given but not required, so that
// /healthz, /readyz and /metrics answer probes and scrapers without one.
// Every other endpoint requires a verified certificate (httpAPI.authorize).
func httpTLS(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.ClientAuth = tls.VerifyClientCertIfGiven
	// The chain of a given certificate is verified by ClientAuth; the
	// shared check would also refuse clients without one.
	c.VerifyConnection = nil
	return c
}

// httpAction is the action a request needs, "" for the open endpoints.
// Any path not named here needs admin, so that an endpoint added later is
// closed until someone decides otherwise.
func httpAction(r *http.Request) string {
	switch p := r.URL.Path; {
	case p == "/healthz" || p == "/readyz" || p == "/metrics":
		return ""
	case p == "/v1/records" && r.Method == http.MethodPost:
		return authz.ActionProduce
	case p == "/v1/records":
		return authz.ActionConsume
	}
	return authz.ActionAdmin
}

// authorize answers 401 or 403 and returns false when the request may not
// proceed. Without TLS everything proceeds.
func (h *httpAPI) authorize(w http.ResponseWriter, r *http.Request) bool {
	a := h.n.authz
	action := httpAction(r)
	if a == nil || action == "" {
		return true
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		writeError(w, http.StatusUnauthorized, apiError{Code: codeCertificateRequired,
			Message: "a client certificate is required: " + requireTLSReason})
		return false
	}
	leaf := r.TLS.PeerCertificates[0]
	if certs.IsNode(leaf) {
		return true
	}
	id := certs.Identity(leaf)
	if err := a.Authorize(id, action); err != nil {
		writeError(w, http.StatusForbidden, apiError{Code: codeUnauthorized, Message: fmt.Sprintf("%q may not %s", id, action)})
		return false
	}
	return true
}

// joinPreflight tells why a member at addr will not talk to this node, so
// a node that cannot join (a certificate of another CA, a plaintext node
// and a TLS member, or the reverse) says so instead of only timing out.
// Other failures (the member is down) are left to the join attempt.
func (n *Node) joinPreflight(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	err := certs.Mismatch(ctx, addr, n.cfg.TLS)
	if errors.Is(err, certs.ErrPeerRequiresTLS) {
		return fmt.Errorf("%w: the member at %s requires mutual TLS and this node runs without --tls-cert, --tls-key and --tls-ca", ErrTLSRequired, addr)
	}
	return err
}

// sessionAuthorizer is the sessions' view of the authorizer: nil (not a
// nil *authz.Authorizer in an interface) when authorisation is off.
func (n *Node) sessionAuthorizer() actors.Authorizer {
	if n.authz == nil {
		return nil
	}
	return n.authz
}

// verifyPeer checks, with TLS, that a member's raft address completes a
// handshake with a node certificate of the CA; nil without TLS.
func (n *Node) verifyPeer() func(ctx context.Context, m *messages.Member) error {
	if n.cfg.TLS == nil {
		return nil
	}
	raftTLS := certs.RequireNode(n.cfg.TLS)
	timeout := n.cfg.RequestTimeout
	return func(ctx context.Context, m *messages.Member) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		err := certs.Check(ctx, m.GetRaftAddress(), raftTLS)
		if errors.Is(err, certs.ErrHandshake) {
			return fmt.Errorf("%w: %w", actors.ErrPeerRejected, err)
		}
		return err
	}
}
