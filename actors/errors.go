package actors

import (
	"errors"
	"fmt"
	"time"
)

// Errors of this package. Actors answer clients with the typed messages of
// package messages; these errors are for Go callers (configuration, the
// supervisor's health report).
var (
	// ErrInvalidConfig is wrapped by the Validate methods with the bad
	// field's name.
	ErrInvalidConfig = errors.New("actors: invalid config")
	// ErrStorageFailed means a segment actor failed more often than its
	// supervisor allows; the log serves what it still can and the node
	// reports itself unhealthy. The concrete error is a *SegmentFailedError.
	ErrStorageFailed = errors.New("actors: storage failed")
	// ErrActorFailed means a top-level actor (log or sessions) crashed more
	// often than the root supervisor allows and was stopped.
	ErrActorFailed = errors.New("actors: actor failed")
	// ErrInjectedFault is the panic value of a fault injected on purpose.
	ErrInjectedFault = errors.New("actors: injected fault")
	// ErrUnavailable is a transient failure of a request to an actor (no
	// answer within the timeout, or an Unavailable reply); retry it.
	ErrUnavailable = errors.New("actors: unavailable")
	// ErrPeerRejected is wrapped by a MembershipConfig.VerifyPeer that
	// reached the member and found it unacceptable (with mutual TLS: a
	// certificate of another CA, or no TLS at all), as opposed to one that
	// could not reach it yet.
	ErrPeerRejected = errors.New("actors: peer rejected")
)

// SegmentFailedError is the reason the log actor escalates to the root
// supervisor when a segment actor keeps crashing. errors.Is(err,
// ErrStorageFailed) is true for it.
type SegmentFailedError struct {
	BaseOffset uint64        // the failed segment
	Restarts   int           // failures counted within Window
	Window     time.Duration // the supervisor's window
	Reason     string        // the last panic
}

func (e *SegmentFailedError) Error() string {
	return fmt.Sprintf("actors: segment %d failed %d times within %s, last: %s",
		e.BaseOffset, e.Restarts, e.Window, e.Reason)
}

// Unwrap makes errors.Is(err, ErrStorageFailed) true.
func (e *SegmentFailedError) Unwrap() error { return ErrStorageFailed }

// ActorFailedError reports a top-level actor that the root supervisor gave
// up on. errors.Is(err, ErrActorFailed) is true for it.
type ActorFailedError struct {
	Actor  string
	Reason string
}

func (e *ActorFailedError) Error() string {
	return fmt.Sprintf("actors: %s failed repeatedly and was stopped, last: %s", e.Actor, e.Reason)
}

// Unwrap makes errors.Is(err, ErrActorFailed) true.
func (e *ActorFailedError) Unwrap() error { return ErrActorFailed }

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// SessionLimitField is the field of the InvalidRequest that answers an
// OpenSession beyond SessionConfig.MaxSessionsPerIdentity.
const SessionLimitField = "sessions_per_identity"

// SessionLimitError says that an identity holds as many sessions on a
// node as it may (SessionConfig.MaxSessionsPerIdentity). Its text is the
// reason of the InvalidRequest the client gets.
type SessionLimitError struct {
	Identity string
	Limit    int
}

func (e *SessionLimitError) Error() string {
	return fmt.Sprintf("identity %q already holds %d sessions on this node, the limit (--max-sessions-per-identity); close some or wait for them to idle out", e.Identity, e.Limit)
}
