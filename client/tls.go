package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"actorlog/certs"
	"google.golang.org/grpc/credentials"
)

// checkTLS tells the user why a node that answers TCP will not serve this
// client: it speaks TLS and the client has none (ErrTLSRequired), or the
// handshake fails (ErrTLSHandshake: the node is plaintext, or one side
// refuses the other's certificate). Without it, protoactor would drop the
// connection silently and every attempt would time out.
//
// It runs only where the client dials a node it has not talked to yet
// (see reachable), so it costs one handshake per node and connection loss.
// Other failures (the node went away meanwhile) are left to the attempt.
func (c *Client) checkTLS(ctx context.Context, server string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, min(timeout, 2*time.Second))
	defer cancel()
	cfg := c.cfg.TLS
	if cfg != nil {
		// Only a node certificate may serve a client, and at an address
		// whose member id the client knows, only that member's.
		cfg = certs.RequireNode(cfg)
		if id, ok := c.tr.names.Load(server); ok {
			cfg = certs.RequireName(cfg, id.(string))
		}
	}
	err := certs.Mismatch(ctx, server, cfg)
	switch {
	case errors.Is(err, certs.ErrPeerRequiresTLS):
		return fmt.Errorf("%w (node %s)", ErrTLSRequired, server)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrTLSHandshake, err)
	}
	return nil
}

// nodeCreds are the client's dial credentials under TLS: the handshake
// accepts only a node certificate of the CA (never a client's, which
// anyone holding one could present from an address it took over), and at
// an address whose member id the client has learned (names), only the
// certificate named as that member.
type nodeCreds struct {
	credentials.TransportCredentials
	names *sync.Map
}

func newNodeCreds(cfg *tls.Config, names *sync.Map) credentials.TransportCredentials {
	return nodeCreds{TransportCredentials: credentials.NewTLS(certs.RequireNode(cfg)), names: names}
}

func (c nodeCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		return nil, nil, err
	}
	want, ok := c.names.Load(authority)
	if !ok {
		return out, info, nil
	}
	ti, _ := info.(credentials.TLSInfo)
	if pc := ti.State.PeerCertificates; len(pc) == 0 || certs.Identity(pc[0]) != want.(string) {
		_ = out.Close()
		got := ""
		if len(pc) > 0 {
			got = certs.Identity(pc[0])
		}
		return nil, nil, &certs.PeerError{Identity: got, Reason: fmt.Sprintf("the node at %s must present the certificate of member %s", authority, want)}
	}
	return out, info, nil
}

func (c nodeCreds) Clone() credentials.TransportCredentials {
	return nodeCreds{TransportCredentials: c.TransportCredentials.Clone(), names: c.names}
}
