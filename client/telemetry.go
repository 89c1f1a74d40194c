package client

import (
	"context"
	"errors"
	"time"

	"actorlog/tracing"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Operations and outcomes of RequestDurationMetric.
const (
	opProduce = "produce"
	opConsume = "consume"

	outcomeOK           = "ok"
	outcomeInvalid      = "invalid"      // *InvalidRequestError
	outcomeOutOfRange   = "out_of_range" // *OffsetOutOfRangeError
	outcomeUnauthorized = "unauthorized" // ErrUnauthorized
	outcomeTimeout      = "timeout"      // the deadline passed
	outcomeCanceled     = "canceled"     // the caller's context was cancelled
	outcomeUnavailable  = "unavailable"  // ErrUnavailable, and retries ran out
	outcomeClosed       = "closed"       // ErrClosed
	outcomeError        = "error"        // anything else (ErrProtocol)
)

// RequestDurationMetric is the histogram a Client with a Config.Registerer
// records every Produce and Consume call in (retries and a long poll's
// wait included), labelled op ("produce", "consume") and outcome ("ok",
// "invalid", "out_of_range", "unauthorized", "timeout", "canceled",
// "unavailable", "closed", "error").
const RequestDurationMetric = "actorlog_client_request_duration_seconds"

// requestBuckets span a round trip on loopback (a few hundred
// microseconds) to the default operation timeout.
var requestBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// telemetry is a Client's tracer and latency histogram. Both are optional;
// when neither is configured an operation costs a few branches.
type telemetry struct {
	tracer   trace.Tracer
	tracing  bool
	duration *prometheus.HistogramVec // nil: no Registerer
}

func newTelemetry(cfg Config) (*telemetry, error) {
	t := &telemetry{tracer: tracing.Tracer(cfg.TracerProvider), tracing: tracing.Enabled(cfg.TracerProvider)}
	if cfg.Registerer == nil {
		return t, nil
	}
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    RequestDurationMetric,
		Help:    "Time a Produce or Consume call of the Go client took, retries and a long poll's wait included.",
		Buckets: requestBuckets,
	}, []string{"op", "outcome"})
	if err := cfg.Registerer.Register(h); err != nil {
		// Several Clients of one application share the registry, and
		// then the histogram.
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, &InvalidRequestError{Field: "Registerer", Reason: err.Error()}
		}
		existing, ok := are.ExistingCollector.(*prometheus.HistogramVec)
		if !ok {
			return nil, &InvalidRequestError{Field: "Registerer", Reason: RequestDurationMetric + " is registered as another kind of metric"}
		}
		h = existing
	}
	t.duration = h
	return t, nil
}

// op is one traced and timed Produce or Consume call.
type op struct {
	name  string
	start time.Time
	span  trace.Span
}

// begin starts op: a client span (actorlog.<name>) when tracing is on,
// whose context the requests of the operation carry to the node.
func (t *telemetry) begin(ctx context.Context, name string) (context.Context, op) {
	o := op{name: name}
	if t.duration != nil {
		o.start = time.Now()
	}
	if t.tracing {
		ctx, o.span = t.tracer.Start(ctx, "actorlog."+name, trace.WithSpanKind(trace.SpanKindClient))
	}
	return ctx, o
}

// recording reports whether attributes set on o's span are kept, so that
// callers build them only then.
func (o *op) recording() bool { return o.span != nil && o.span.IsRecording() }

// end records o's outcome and duration and ends its span.
func (t *telemetry) end(o op, err error, attrs ...attribute.KeyValue) {
	outcome := outcomeOf(err)
	if t.duration != nil {
		t.duration.WithLabelValues(o.name, outcome).Observe(time.Since(o.start).Seconds())
	}
	if o.span == nil {
		return
	}
	if o.span.IsRecording() {
		o.span.SetAttributes(attrs...)
		o.span.SetAttributes(attribute.String("actorlog.outcome", outcome))
		if err != nil {
			o.span.RecordError(err)
			o.span.SetStatus(codes.Error, outcome)
		}
	}
	o.span.End()
}

func outcomeOf(err error) string {
	if err == nil {
		return outcomeOK
	}
	return failedOutcome(err)
}

// failedOutcome is apart from outcomeOf so that the targets of errors.As,
// which escape to the heap, are allocated only for a failure.
func failedOutcome(err error) string {
	var (
		inv *InvalidRequestError
		oor *OffsetOutOfRangeError
	)
	switch {
	case errors.As(err, &inv):
		return outcomeInvalid
	case errors.As(err, &oor):
		return outcomeOutOfRange
	case errors.Is(err, ErrUnauthorized):
		return outcomeUnauthorized
	case errors.Is(err, ErrClosed):
		return outcomeClosed
	case errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, ErrUnavailable):
		return outcomeUnavailable
	}
	return outcomeError
}

func produceAttrs(values [][]byte, offsets []uint64) []attribute.KeyValue {
	bytes := 0
	for _, v := range values {
		bytes += len(v)
	}
	attrs := []attribute.KeyValue{
		attribute.Int("actorlog.records", len(values)),
		attribute.Int("actorlog.bytes", bytes),
	}
	if len(offsets) > 0 {
		attrs = append(attrs,
			attribute.Int64("actorlog.offset.first", int64(offsets[0])),
			attribute.Int64("actorlog.offset.last", int64(offsets[len(offsets)-1])))
	}
	return attrs
}

func consumeAttrs(offset uint64, res *ConsumeResult) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.Int64("actorlog.offset", int64(offset))}
	if res != nil {
		bytes := 0
		for _, r := range res.Records {
			bytes += len(r.Value)
		}
		attrs = append(attrs,
			attribute.Int("actorlog.records", len(res.Records)),
			attribute.Int("actorlog.bytes", bytes),
			attribute.Int64("actorlog.offset.next", int64(res.NextOffset)))
	}
	return attrs
}
