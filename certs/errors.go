package certs

import (
	"errors"
	"fmt"

	"actorlog/internal/cfgerr"
)

// Sentinel errors. Test with errors.Is; the typed errors below match them.
var (
	// ErrTLSConfig means the TLS files cannot make a working
	// configuration: one is missing, unreadable or malformed, or only
	// some of them were given.
	ErrTLSConfig = errors.New("certs: bad TLS configuration")
	// ErrPeerCertificate means a peer's certificate was refused: it is
	// missing, not signed by the configured CA, or not a node certificate
	// where one is required.
	ErrPeerCertificate = errors.New("certs: peer certificate refused")
	// ErrHandshake is matched by *HandshakeError: a TLS handshake with a
	// peer failed for a reason that retrying will not cure.
	ErrHandshake = errors.New("certs: TLS handshake failed")
	// ErrPeerRequiresTLS is returned by Mismatch when a party without TLS
	// reaches a peer that speaks only TLS.
	ErrPeerRequiresTLS = errors.New("certs: the peer requires mutual TLS")
	// ErrExists is returned by WriteFiles when a file it would write is
	// already there and overwriting was not asked for.
	ErrExists = errors.New("certs: file exists")
)

// ConfigError names the file (or flag) of a TLS configuration that is bad,
// and why: Field holds the path, or the missing flag. It matches
// ErrTLSConfig.
type ConfigError = cfgerr.Error[configKind]

// configKind makes ConfigError this package's: its message starts with
// ErrTLSConfig's, which it matches.
type configKind struct{}

func (configKind) Sentinel() error { return ErrTLSConfig }

// PeerError says why a peer's certificate was refused. It matches
// ErrPeerCertificate.
type PeerError struct {
	Identity string // the certificate's Common Name, "" when none was sent
	Reason   string
}

func (e *PeerError) Error() string {
	if e.Identity == "" {
		return "certs: peer certificate refused: " + e.Reason
	}
	return fmt.Sprintf("certs: peer certificate %q refused: %s", e.Identity, e.Reason)
}

// Is makes errors.Is(err, ErrPeerCertificate) true.
func (e *PeerError) Is(target error) bool { return target == ErrPeerCertificate }

// HandshakeError says why a TLS handshake with Addr failed, in words an
// operator can act on. It matches ErrHandshake.
type HandshakeError struct {
	Addr   string
	Reason string
	Err    error // the underlying error
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("certs: TLS handshake with %s failed: %s", e.Addr, e.Reason)
}

// Is makes errors.Is(err, ErrHandshake) true.
func (e *HandshakeError) Is(target error) bool { return target == ErrHandshake }

func (e *HandshakeError) Unwrap() error { return e.Err }
