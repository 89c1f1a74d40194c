package discovery

import (
	"errors"

	"actorlog/internal/cfgerr"
)

// Errors returned by this package. Test them with errors.Is; the messages
// are for people.
var (
	// ErrInvalidConfig is wrapped by every *ConfigError.
	ErrInvalidConfig = errors.New("discovery: invalid config")

	// ErrInvalidStatus means a check status other than StatusPassing,
	// StatusWarning or StatusCritical was passed to Registrar.UpdateTTL.
	ErrInvalidStatus = errors.New("discovery: invalid check status")

	// ErrUnavailable means the Consul agent could not be reached or did not
	// accept the request (it is down, restarting, has no leader, or refused
	// it). The wrapped error says which.
	ErrUnavailable = errors.New("discovery: consul agent unavailable")

	// ErrClosed is returned by calls on a Registrar after Close.
	ErrClosed = errors.New("discovery: closed")
)

// ConfigError names the Config or WatchConfig field that is wrong and why.
// It matches ErrInvalidConfig with errors.Is.
type ConfigError = cfgerr.Error[configKind]

// configKind makes ConfigError this package's: its message starts with
// ErrInvalidConfig's, which it matches.
type configKind struct{}

func (configKind) Sentinel() error { return ErrInvalidConfig }
