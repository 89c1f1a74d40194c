package client

import (
	"context"
	"errors"
	"strings"
	"testing"

	"actorlog/messages"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

func withDetail(t *testing.T, code codes.Code, d protoadapt.MessageV1) error {
	t.Helper()
	st, err := status.New(code, "from the node").WithDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestGRPCErrorReadsTheDetails(t *testing.T) {
	var oor *OffsetOutOfRangeError
	if err := grpcError(withDetail(t, codes.OutOfRange, &messages.OffsetOutOfRange{Offset: 9, LowOffset: 2, NextOffset: 5})); !errors.As(err, &oor) || *oor != (OffsetOutOfRangeError{Offset: 9, Low: 2, Next: 5}) {
		t.Fatalf("OutOfRange: got %v", err)
	}
	var inv *InvalidRequestError
	if err := grpcError(withDetail(t, codes.InvalidArgument, &messages.InvalidRequest{Field: "topic", Reason: "unknown"})); !errors.As(err, &inv) || inv.Field != "topic" || retryable(err) {
		t.Fatalf("InvalidArgument: got %v", err)
	}
	var un *UnauthorizedError
	if err := grpcError(withDetail(t, codes.PermissionDenied, &messages.Unauthorized{Identity: "reader", Action: "produce"})); !errors.As(err, &un) || un.Identity != "reader" || !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("PermissionDenied: got %v", err)
	}
	var nl *NotLeaderError
	if err := grpcError(withDetail(t, codes.Unavailable, &messages.NotLeader{LeaderId: "n2", LeaderGrpcAddress: "10.0.0.2:7490"})); !errors.As(err, &nl) || nl.LeaderAddr != "10.0.0.2:7490" || !retryable(err) {
		t.Fatalf("NotLeader: got %v", err)
	}
}

func TestGRPCErrorRetriesOnlyTransientCodes(t *testing.T) {
	for _, c := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal} {
		if err := grpcError(status.Error(c, "x")); !errors.Is(err, ErrUnavailable) || !retryable(err) {
			t.Errorf("%s: got %v, want a retryable ErrUnavailable", c, err)
		}
	}
	if err := grpcError(status.Error(codes.Canceled, "x")); !errors.Is(err, context.Canceled) || retryable(err) {
		t.Errorf("Canceled: got %v", err)
	}
	if err := grpcError(status.Error(codes.Unauthenticated, "bad certificate")); !errors.Is(err, ErrTLSHandshake) || retryable(err) {
		t.Errorf("Unauthenticated: got %v", err)
	}
}

func TestGRPCTargetNamesSeedsAndConsul(t *testing.T) {
	got := grpcTarget(Config{Servers: []string{"a:1", "b:2"}, Consul: "127.0.0.1:8500", ConsulService: "logs"})
	if !strings.HasPrefix(got, "actorlog:///a:1,b:2?") || !strings.Contains(got, "consul=127.0.0.1%3A8500") || !strings.Contains(got, "service=logs") {
		t.Fatalf("target %q", got)
	}
}
