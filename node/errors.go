package node

import "errors"

// Errors of this package.
var (
	// ErrInvalidConfig is wrapped by Config.Validate with the bad field.
	ErrInvalidConfig = errors.New("node: invalid config")
	// ErrLocked means another node holds the data directory.
	ErrLocked = errors.New("node: data directory locked by another node")
	// ErrStart wraps what made Start fail after validation.
	ErrStart = errors.New("node: start failed")
	// ErrUnhealthy is returned by Healthy when the node cannot serve: its
	// storage failed, an actor failed for good, or its actors do not answer.
	ErrUnhealthy = errors.New("node: unhealthy")
	// ErrNotReady is returned by Ready when the node is healthy but not
	// (yet) in a raft cluster with a known leader.
	ErrNotReady = errors.New("node: not ready")
	// ErrTLSRequired: a member this node tried to join speaks mutual TLS
	// and this node runs without it.
	ErrTLSRequired = errors.New("node: the peer requires mutual TLS")
	// ErrStopped is returned by Healthy once the node has stopped.
	ErrStopped = errors.New("node: stopped")
	// ErrTooManyConnections is why a peer's connection to the actor port
	// is closed when the peer host already holds Config.MaxConnsPerPeer.
	ErrTooManyConnections = errors.New("node: too many connections from this peer")
	// ErrNotAMember is why a node certificate whose name is no member's
	// is refused on the raft port.
	ErrNotAMember = errors.New("node: not a member of this raft cluster")
	// ErrLeft: the data directory belongs to a node that left its cluster
	// (Leave); it starts again only with Config.Rejoin.
	ErrLeft = errors.New("node: this data directory left its cluster")
	// ErrNoLeader: a leave found no raft leader to remove the node (none
	// known, or none answered before the deadline).
	ErrNoLeader = errors.New("node: no raft leader answered")
	// ErrLastVoter: the leader refused a leave because the node is the
	// only voter (*LeaveRefusedError).
	ErrLastVoter = errors.New("node: the only voter cannot leave")
	// ErrLeaveQuorum: the leader refused a leave because fewer than a
	// majority of the voters that would remain answer (*LeaveRefusedError).
	ErrLeaveQuorum = errors.New("node: leaving would leave the cluster without quorum")
	// ErrIsLeader: the leader was asked to remove itself; Leave hands
	// leadership over and asks again, so callers see it only when the
	// node keeps being elected.
	ErrIsLeader = errors.New("node: the leader cannot remove itself")
	// ErrLeaving: a Leave is running already.
	ErrLeaving = errors.New("node: a leave is in progress")
	// ErrInvalidLeave: the leader found the leave request malformed.
	ErrInvalidLeave = errors.New("node: invalid leave request")
)
