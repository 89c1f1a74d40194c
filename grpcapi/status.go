package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// ErrorDomain is the domain of the google.rpc.ErrorInfo detail of every
// error the service returns.
const ErrorDomain = "actorlog.dev"

// The ErrorInfo reasons, one per kind of typed reply.
const (
	ReasonOutOfRange   = "OFFSET_OUT_OF_RANGE"
	ReasonNotLeader    = "NOT_LEADER"
	ReasonUnavailable  = "UNAVAILABLE"
	ReasonUnauthorized = "UNAUTHORIZED"
	ReasonInvalid      = "INVALID_REQUEST"
)

// replyError turns a session's typed error reply into a gRPC status error
// with details: the reply itself, a google.rpc.ErrorInfo, and for invalid
// requests a google.rpc.BadRequest.
func replyError(res any) error {
	switch m := res.(type) {
	case *messages.OffsetOutOfRange:
		return withDetails(codes.OutOfRange, fmt.Sprintf("offset %d is out of range: the log holds [%d, %d)", m.GetOffset(), m.GetLowOffset(), m.GetNextOffset()),
			m, info(ReasonOutOfRange, "offset", u64(m.GetOffset()), "low_offset", u64(m.GetLowOffset()), "next_offset", u64(m.GetNextOffset())))
	case *messages.NotLeader:
		msg := "this node is not the leader and knows none; retry"
		if m.GetLeaderId() != "" {
			msg = fmt.Sprintf("this node is not the leader; the leader is %s at %s", m.GetLeaderId(), m.GetLeaderGrpcAddress())
		}
		return withDetails(codes.Unavailable, msg, m,
			info(ReasonNotLeader, "leader_id", m.GetLeaderId(), "leader_grpc_address", m.GetLeaderGrpcAddress(), "leader_actor_address", m.GetLeaderActorAddress()))
	case *messages.Unavailable:
		return withDetails(codes.Unavailable, m.GetReason(), m, info(ReasonUnavailable))
	case *messages.Unauthorized:
		return withDetails(codes.PermissionDenied, fmt.Sprintf("identity %q may not %s", m.GetIdentity(), m.GetAction()),
			m, info(ReasonUnauthorized, "identity", m.GetIdentity(), "action", m.GetAction()))
	case *messages.InvalidRequest:
		msg := m.GetReason()
		if m.GetField() != "" {
			msg = m.GetField() + ": " + msg
		}
		return withDetails(codes.InvalidArgument, msg, m, info(ReasonInvalid, "field", m.GetField()),
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: m.GetField(), Description: m.GetReason()}}})
	case *actor.DeadLetterResponse:
		return withDetails(codes.Unavailable, "the session ended; retry", &messages.Unavailable{Reason: "the session ended"}, info(ReasonUnavailable))
	}
	return status.Errorf(codes.Internal, "actorlog: unexpected answer %T", res)
}

// callError turns a failure to get an answer into a status: the caller's
// deadline or cancellation as such, a node that did not answer in time as
// Unavailable (retry, with the same producer id and sequence).
func callError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "actorlog: the call's deadline passed before the node answered")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "actorlog: cancelled by the client")
	case errors.Is(err, errNoAnswer):
		return withDetails(codes.Unavailable, "the node did not answer in time; retry",
			&messages.Unavailable{Reason: "no answer in time"}, info(ReasonUnavailable))
	case errors.Is(err, ErrStopped):
		return withDetails(codes.Unavailable, "the node is shutting down; retry elsewhere",
			&messages.Unavailable{Reason: "shutting down"}, info(ReasonUnavailable))
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Internal, "actorlog: %v", err)
}

func withDetails(code codes.Code, msg string, details ...protoadapt.MessageV1) error {
	st := status.New(code, "actorlog: "+msg)
	if d, err := st.WithDetails(details...); err == nil {
		st = d
	}
	return st.Err()
}

func info(reason string, kv ...string) *errdetails.ErrorInfo {
	e := &errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if e.Metadata == nil {
			e.Metadata = map[string]string{}
		}
		e.Metadata[kv[i]] = kv[i+1]
	}
	return e
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
