package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// Check dials addr and completes a mutual TLS handshake with cfg. It
// returns nil when the peer accepts us and we accept it; a
// *HandshakeError that says why when the handshake fails (the peer speaks
// plaintext, refuses our certificate, or presents one of another CA); and
// the dial error as is when addr cannot be reached.
//
// The handshake is capped at TLS 1.2, where the server checks the client's
// certificate before the handshake ends; under TLS 1.3 a refusal would
// only show on the first read.
func Check(ctx context.Context, addr string, cfg *tls.Config) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := cfg.Clone()
	c.MaxVersion = tls.VersionTLS12
	// Offer HTTP/2 as gRPC does: a gRPC server closes a TLS connection
	// that negotiated no protocol, and logs that as a refused peer.
	c.NextProtos = []string{"h2"}
	tc := tls.Client(conn, c)
	err = tc.HandshakeContext(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return classify(addr, err)
}

func classify(addr string, err error) error {
	var (
		rec   tls.RecordHeaderError
		alert tls.AlertError
		peer  *PeerError
	)
	switch {
	case errors.As(err, &peer):
		return &HandshakeError{Addr: addr, Reason: "its certificate is refused: " + peer.Reason, Err: err}
	case errors.As(err, &rec), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return &HandshakeError{Addr: addr, Reason: "it does not speak TLS (it runs without --tls-cert, --tls-key and --tls-ca)", Err: err}
	case errors.As(err, &alert), strings.Contains(err.Error(), "remote error"):
		return &HandshakeError{Addr: addr, Reason: "it refused our certificate (" + err.Error() + "); is it signed by the peer's CA?", Err: err}
	}
	return &HandshakeError{Addr: addr, Reason: err.Error(), Err: err}
}

// Mismatch tells why the peer at addr and a party with cfg (nil for
// plaintext) will not talk: ErrPeerRequiresTLS when the party has no TLS
// and the peer speaks it, a *HandshakeError when a handshake fails. It
// returns nil when they would talk and when addr cannot be reached (that
// is for the caller's own attempt to report). Without it, gRPC drops such
// a connection silently and every attempt only times out.
func Mismatch(ctx context.Context, addr string, cfg *tls.Config) error {
	if cfg == nil {
		if yes, err := SpeaksTLS(ctx, addr); err == nil && yes {
			return fmt.Errorf("%w (%s)", ErrPeerRequiresTLS, addr)
		}
		return nil
	}
	if err := Check(ctx, addr, cfg); errors.Is(err, ErrHandshake) {
		return err
	}
	return nil
}

// errSawServer ends SpeaksTLS's handshake once the server has shown its
// certificate: that is all it needs to know.
var errSawServer = errors.New("certs: saw a TLS server")

// SpeaksTLS reports whether the server at addr answers a TLS handshake, so
// that a party without TLS can tell the user that the server requires it.
// A server that answers otherwise, or closes the connection, speaks
// something else (plaintext gRPC ignores the greeting and hangs up). The
// dial error is returned as is.
func SpeaksTLS(ctx context.Context, addr string) (bool, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{
		MaxVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2"}, // as gRPC clients do (see Check)
		InsecureSkipVerify: true,           // nothing is trusted: the handshake is abandoned
		VerifyConnection:   func(tls.ConnectionState) error { return errSawServer },
	})
	err = tc.HandshakeContext(ctx)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return errors.Is(err, errSawServer), nil
}
