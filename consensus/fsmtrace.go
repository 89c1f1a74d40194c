package consensus

import (
	"context"
	"fmt"

	"actorlog/messages"
	"actorlog/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ContextLog is a Log that carries a trace context to its appends. The FSM
// uses it, when the Log implements it, for the appends of traced entries,
// so that the log's own spans join the request's trace.
type ContextLog interface {
	Log
	// AppendContext is Append on behalf of the span in ctx.
	AppendContext(ctx context.Context, recs []*messages.Record) (first uint64, err error)
}

// fsmTracer is the FSM's tracer, with the on/off decision made once.
type fsmTracer struct {
	tracer trace.Tracer
	on     bool
	node   string
}

func newFSMTracer(cfg FSMConfig) fsmTracer {
	return fsmTracer{tracer: tracing.Tracer(cfg.TracerProvider), on: tracing.Enabled(cfg.TracerProvider), node: cfg.NodeID}
}

// tracedEntry is a committed produce entry that carries a trace context.
type tracedEntry struct {
	trace       map[string]string
	index, term uint64
}

// start starts the span of one ApplyBatch when some of its entries are
// traced: a child of the first traced entry's span (the leader's
// raft.apply), linked to the others, whose records share the append. It
// returns a background context and a nil span otherwise.
func (t fsmTracer) start(traced []tracedEntry, appends []pendingAppend) (context.Context, trace.Span) {
	if len(traced) == 0 {
		return context.Background(), nil
	}
	var links []trace.Link
	for _, e := range traced[1:] {
		if sc := tracing.SpanContextFrom(e.trace); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.Int64("raft.index", int64(e.index))}})
		}
	}
	ctx := tracing.Extract(context.Background(), traced[0].trace)
	records, bytes := 0, 0
	for _, a := range appends {
		records += len(a.recs)
		for _, r := range a.recs {
			bytes += len(r.GetValue())
		}
	}
	first, last := traced[0], traced[len(traced)-1]
	return t.tracer.Start(ctx, "fsm.apply", trace.WithLinks(links...), trace.WithAttributes(
		attribute.String("actorlog.node", t.node),
		attribute.Int("actorlog.entries", len(appends)),
		attribute.Int("actorlog.records", records),
		attribute.Int("actorlog.bytes", bytes),
		attribute.Int64("raft.index", int64(first.index)),
		attribute.Int64("raft.index.last_traced", int64(last.index)),
		attribute.Int64("raft.term", int64(first.term)),
	))
}

// endApplySpan ends the span of an ApplyBatch with the offsets the
// records got, or the append's failure.
func endApplySpan(span trace.Span, appends []pendingAppend) {
	if span == nil {
		return
	}
	if span.IsRecording() && len(appends) > 0 {
		firstRes, lastRes := appends[0].res, appends[len(appends)-1].res
		if err := lastRes.Err; err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, fmt.Sprintf("append: %v", err))
		} else {
			span.SetAttributes(
				attribute.Int64("actorlog.offset.first", int64(firstRes.First)),
				attribute.Int64("actorlog.offset.last", int64(lastRes.First)+int64(lastRes.Count)-1))
		}
	}
	span.End()
}

// appendOnce appends recs, with the trace context of ctx when there is
// one and the log can carry it.
func (f *FSM) appendOnce(ctx context.Context, recs []*messages.Record) (uint64, error) {
	if cl, ok := f.cfg.Log.(ContextLog); ok && trace.SpanContextFromContext(ctx).IsValid() {
		return cl.AppendContext(ctx, recs)
	}
	return f.cfg.Log.Append(recs)
}
