package discovery

import (
	"errors"
	"fmt"
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
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("discovery: invalid config: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidConfig) true for every ConfigError.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
