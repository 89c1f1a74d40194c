package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"actorlog/certs"
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
	err := certs.Mismatch(ctx, server, c.cfg.TLS)
	switch {
	case errors.Is(err, certs.ErrPeerRequiresTLS):
		return fmt.Errorf("%w (node %s)", ErrTLSRequired, server)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrTLSHandshake, err)
	}
	return nil
}
