package client

import (
	"errors"
	"fmt"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// Sentinel errors. Test for them with errors.Is: the client wraps them with
// detail (the operation, the node's reason).
var (
	// ErrClosed is returned by every call on a Client or Subscription after
	// Close, and by calls that were in flight when Close ran.
	ErrClosed = errors.New("client: closed")
	// ErrUnavailable means no node could serve the request: a node replied
	// Unavailable, an attempt got no reply in time, or the connection to
	// the node was lost. The client retries these within the caller's
	// deadline; the error reaches the caller only when the deadline passed.
	ErrUnavailable = errors.New("client: unavailable")
	// ErrUnauthorized is matched by *UnauthorizedError: the transport
	// identity may not perform the action. It is never retried.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrTLSRequired means a node speaks TLS and the client has no TLS
	// configuration (Config.TLS, or --tls-cert, --tls-key and --tls-ca).
	// It is never retried.
	ErrTLSRequired = errors.New("client: the node requires mutual TLS; configure a client certificate, its key and the CA")
	// ErrTLSHandshake means the TLS handshake with a node failed: the node
	// speaks plaintext, refuses the client's certificate (another CA), or
	// presents one the client does not trust. The error wraps a
	// *certs.HandshakeError that says which. It is never retried.
	ErrTLSHandshake = errors.New("client: TLS handshake with the node failed")
	// ErrSubscriptionEnded is returned by Subscription.Next once the
	// subscription was closed by its owner.
	ErrSubscriptionEnded = errors.New("client: subscription ended")
	// ErrProtocol means a node answered with a message the client did not
	// expect for the request. It is never retried.
	ErrProtocol = errors.New("client: protocol error")
)

// Transient failures of a single attempt. They all match ErrUnavailable, so a
// caller whose deadline ran out can tell "the cluster was unreachable" from a
// request that was rejected.
var (
	errAttemptTimeout = fmt.Errorf("%w: no reply within the attempt timeout", ErrUnavailable)
	errEndpointLost   = fmt.Errorf("%w: connection to the node was lost", ErrUnavailable)
	errSessionLost    = fmt.Errorf("%w: the node no longer knows the session", ErrUnavailable)
	errNoReply        = fmt.Errorf("%w: no reply before the deadline", ErrUnavailable)
	errUnreachable    = fmt.Errorf("%w: cannot connect to the node", ErrUnavailable)
	// errNodeUnavailable is a node's Unavailable reply: the node is up and
	// the session fine, but it cannot serve the request now.
	errNodeUnavailable = fmt.Errorf("%w: the node cannot serve the request now", ErrUnavailable)
	// errNewLeader ends an attempt sent to a node other than the leader
	// when a new leader is learned meanwhile: see router.attemptContext.
	errNewLeader = fmt.Errorf("%w: a new leader was learned during the attempt", ErrUnavailable)
)

// OffsetOutOfRangeError reports a read below the retained range or at or past
// its end. Low and Next are the log's bounds when the node answered.
type OffsetOutOfRangeError struct {
	Offset uint64
	Low    uint64
	Next   uint64
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("client: offset %d out of range [%d, %d)", e.Offset, e.Low, e.Next)
}

// InvalidRequestError reports a request that was rejected without changing
// anything, either by the node or locally before sending. Field names the
// offending field when there is one (for example "values[3]").
type InvalidRequestError struct {
	Reason string
	Field  string
}

func (e *InvalidRequestError) Error() string {
	if e.Field == "" {
		return "client: invalid request: " + e.Reason
	}
	return fmt.Sprintf("client: invalid request: %s: %s", e.Field, e.Reason)
}

// NotLeaderError reports that a node cannot serve a request that needs the
// leader. The client follows LeaderAddr by itself; the error reaches the
// caller only when no leader answered before the deadline.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "client: not the leader, and no leader is known"
	}
	return fmt.Sprintf("client: not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// UnauthorizedError reports that the transport identity may not perform the
// action. It matches ErrUnauthorized.
type UnauthorizedError struct {
	Identity string
	Action   string
}

func (e *UnauthorizedError) Error() string {
	return fmt.Sprintf("client: unauthorized: identity %q may not %s", e.Identity, e.Action)
}

// Is makes errors.Is(err, ErrUnauthorized) true.
func (e *UnauthorizedError) Is(target error) bool { return target == ErrUnauthorized }

// replyError turns a typed error reply of the wire contract (or a protoactor
// dead-letter answer) into a Go error. It returns nil for any other message,
// which the caller then checks against the reply type it expects.
func replyError(msg any) error {
	switch m := msg.(type) {
	case *messages.OffsetOutOfRange:
		return &OffsetOutOfRangeError{Offset: m.GetOffset(), Low: m.GetLowOffset(), Next: m.GetNextOffset()}
	case *messages.InvalidRequest:
		return &InvalidRequestError{Reason: m.GetReason(), Field: m.GetField()}
	case *messages.NotLeader:
		return &NotLeaderError{LeaderID: m.GetLeaderId(), LeaderAddr: m.GetLeaderActorAddress()}
	case *messages.Unavailable:
		return fmt.Errorf("%w: %s", errNodeUnavailable, m.GetReason())
	case *messages.Unauthorized:
		return &UnauthorizedError{Identity: m.GetIdentity(), Action: m.GetAction()}
	case *actor.DeadLetterResponse:
		// Either the node has no actor by that name (it restarted and lost
		// the session) or our endpoint writer could not reach the node.
		// Both are cured by opening a new session, possibly elsewhere.
		return errSessionLost
	case error:
		return fmt.Errorf("%w: %v", ErrUnavailable, m)
	}
	return nil
}

// retryable reports whether another attempt may succeed where this one
// failed. Rejections (bad input, offsets, authorisation) are final.
func retryable(err error) bool {
	var nl *NotLeaderError
	return errors.Is(err, ErrUnavailable) || errors.As(err, &nl)
}
