package grpcapi

import "errors"

// Sentinel errors of the package.
var (
	// ErrInvalidConfig wraps every Config.Validate failure.
	ErrInvalidConfig = errors.New("grpcapi: invalid config")
	// ErrStopped is returned by Serve after Stop.
	ErrStopped = errors.New("grpcapi: stopped")
)
