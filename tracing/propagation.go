package tracing

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The W3C Trace Context header keys. They travel beside the node's own
// headers (the identity header), which the node's transport guard
// overwrites; it leaves these alone.
const (
	TraceparentHeader = "traceparent"
	TracestateHeader  = "tracestate"
)

// propagator is the only propagator actorlog uses. It is not the global
// one: an application that installs its own keeps it.
var propagator = propagation.TraceContext{}

// Inject writes the span context of ctx into headers. It writes nothing
// when ctx carries no valid span context (tracing off, or no span).
func Inject(ctx context.Context, headers map[string]string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, propagation.MapCarrier(headers))
}

// Headers returns a new map with the span context of ctx, or nil when ctx
// carries no valid span context, so that nothing is allocated or sent when
// tracing is off.
func Headers(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	h := make(map[string]string, 2)
	propagator.Inject(ctx, propagation.MapCarrier(h))
	return h
}

// Extract returns ctx with the remote span context found in headers, or
// ctx itself when they hold none.
func Extract(ctx context.Context, headers map[string]string) context.Context {
	if len(headers) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(headers))
}

// Getter is a read-only header set, such as protoactor's
// actor.ReadonlyMessageHeader.
type Getter interface {
	Get(key string) string
}

// ExtractFrom is Extract over a read-only header set; a nil one gives ctx.
func ExtractFrom(ctx context.Context, headers Getter) context.Context {
	if headers == nil || headers.Get(TraceparentHeader) == "" {
		return ctx
	}
	return propagator.Extract(ctx, getterCarrier{headers})
}

// SpanContextFrom returns the remote span context held by headers (invalid
// when there is none).
func SpanContextFrom(headers map[string]string) trace.SpanContext {
	return trace.SpanContextFromContext(Extract(context.Background(), headers))
}

// getterCarrier adapts a Getter to the propagator, which only reads.
type getterCarrier struct{ g Getter }

func (c getterCarrier) Get(key string) string { return c.g.Get(key) }
func (c getterCarrier) Set(string, string)    {}
func (c getterCarrier) Keys() []string        { return nil }
