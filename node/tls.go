package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	"actorlog/actors"
	"actorlog/authz"
	"actorlog/certs"
	"github.com/sirupsen/logrus"
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
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n.log.WithFields(logrus.Fields{"policy": a.Source(), "grants": a.Grants()}).Info("authorisation on")
	return a, nil
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
