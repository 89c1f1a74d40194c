package actors

import (
	"context"
	"fmt"

	"actorlog/messages"
	"actorlog/tracing"
	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// actorTracer is an actor's tracer, with the on/off decision made once so
// that an actor with tracing off does no tracing work per message.
type actorTracer struct {
	tracer trace.Tracer
	on     bool
}

func newActorTracer(tp trace.TracerProvider) actorTracer {
	return actorTracer{tracer: tracing.Tracer(tp), on: tracing.Enabled(tp)}
}

// startFrom starts a span named name, a child of the trace context in the
// current message's header (a root span when there is none). It returns a
// nil span when tracing is off.
func (t actorTracer) startFrom(ctx actor.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !t.on {
		return context.Background(), nil
	}
	tctx := tracing.ExtractFrom(context.Background(), ctx.MessageHeader())
	return t.tracer.Start(tctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// startChild starts a span named name only when the current message
// carries a trace context: work that is not part of a traced request (a
// replay, an untraced client's request) starts no trace of its own here.
func (t actorTracer) startChild(ctx actor.Context, name string) (context.Context, trace.Span) {
	if !t.on {
		return nil, nil
	}
	h := ctx.MessageHeader()
	if h == nil || h.Get(tracing.TraceparentHeader) == "" {
		return nil, nil
	}
	return t.tracer.Start(tracing.ExtractFrom(context.Background(), h), name)
}

// sendTraced sends m to target with sender as its sender, as
// RequestWithCustomSender does, with the span context of tctx in the
// message header when there is one.
func sendTraced(ctx actor.SenderContext, tctx context.Context, target *actor.PID, m any, sender *actor.PID) {
	if tctx != nil {
		if h := tracing.Headers(tctx); h != nil {
			ctx.Send(target, &actor.MessageEnvelope{Header: h, Message: m, Sender: sender})
			return
		}
	}
	ctx.RequestWithCustomSender(target, m, sender)
}

// sampledHeaders returns the trace headers of tctx when its span is
// sampled, and nil otherwise: only traces that are recorded are carried
// on into raft entries and the log's messages.
func sampledHeaders(tctx context.Context) map[string]string {
	if tctx == nil || !trace.SpanContextFromContext(tctx).IsSampled() {
		return nil
	}
	return tracing.Headers(tctx)
}

// headerMap copies the trace headers of the current message, or returns
// nil when it carries none.
func headerMap(ctx actor.Context) map[string]string {
	h := ctx.MessageHeader()
	if h == nil || h.Get(tracing.TraceparentHeader) == "" {
		return nil
	}
	m := map[string]string{tracing.TraceparentHeader: h.Get(tracing.TraceparentHeader)}
	if s := h.Get(tracing.TracestateHeader); s != "" {
		m[tracing.TracestateHeader] = s
	}
	return m
}

// endReply ends span with the outcome of reply, a client-facing answer.
// A nil span is ignored.
func endReply(span trace.Span, reply any) {
	if span == nil {
		return
	}
	if span.IsRecording() {
		if reason := failureOf(reply); reason != "" {
			span.SetStatus(codes.Error, reason)
		}
	}
	span.End()
}

// failureOf describes an error reply, or returns "" for a result.
func failureOf(reply any) string {
	switch r := reply.(type) {
	case *messages.Unavailable:
		return "unavailable: " + r.GetReason()
	case *messages.InvalidRequest:
		return fmt.Sprintf("invalid request: %s: %s", r.GetField(), r.GetReason())
	case *messages.NotLeader:
		return "not leader; leader is " + r.GetLeaderId()
	case *messages.OffsetOutOfRange:
		return fmt.Sprintf("offset %d out of range [%d, %d)", r.GetOffset(), r.GetLowOffset(), r.GetNextOffset())
	case error:
		return r.Error()
	}
	return ""
}

// Attribute keys of actorlog's spans.
const (
	attrNode        = "actorlog.node"
	attrRecords     = "actorlog.records"
	attrBytes       = "actorlog.bytes"
	attrFirstOffset = "actorlog.offset.first"
	attrLastOffset  = "actorlog.offset.last"
	attrSegment     = "actorlog.segment"
	attrRaftIndex   = "raft.index"
	attrRaftTerm    = "raft.term"
)

func valueBytes(recs []*messages.Record) int {
	n := 0
	for _, r := range recs {
		n += len(r.GetValue())
	}
	return n
}

// forward passes a client's request on to target, the client staying its
// sender, under a server span named name when tracing is on.
func (s *session) forward(ctx actor.Context, name string, target *actor.PID, m any, recs []*messages.Record) {
	if !s.tr.on {
		ctx.RequestWithCustomSender(target, m, ctx.Sender())
		return
	}
	tctx, span := s.tr.startFrom(ctx, name, trace.SpanKindServer)
	if span.IsRecording() {
		span.SetAttributes(attribute.String(attrNode, s.spec.cfg.Server.GetId()), attribute.String("actorlog.session", ctx.Self().GetId()))
		if recs != nil {
			span.SetAttributes(attribute.Int(attrRecords, len(recs)), attribute.Int(attrBytes, valueBytes(recs)))
		}
	}
	sendTraced(ctx, tctx, target, m, ctx.Sender())
	span.End()
}

// startApply starts the raft actor's span of a produce (nil when tracing
// is off), a child of the session's span on this node or another.
func (a *raftActor) startApply(ctx actor.Context, m *messages.ProduceRequest) (context.Context, trace.Span) {
	if !a.tr.on {
		return nil, nil
	}
	tctx, span := a.tr.startFrom(ctx, "raft.apply", trace.SpanKindInternal)
	if span.IsRecording() {
		recs := m.GetRecords()
		span.SetAttributes(attribute.String(attrNode, a.cfg.Self.GetId()),
			attribute.Int(attrRecords, len(recs)), attribute.Int(attrBytes, valueBytes(recs)))
	}
	return tctx, span
}

// forwardSpan renames the span of a produce that a follower passes on to
// the leader.
func forwardSpan(span trace.Span, leader *messages.Member) {
	if span == nil || !span.IsRecording() {
		return
	}
	span.SetName("raft.forward")
	span.SetAttributes(attribute.String("actorlog.leader", leader.GetId()))
}

// endApply ends the span of a produce applied through raft, with the
// entry's index and term and the offsets it got.
func endApply(span trace.Span, r interface{ CurrentTerm() uint64 }, f interface{ Index() uint64 }, reply any) {
	if span == nil {
		return
	}
	// Only a committed entry's future is complete: reading the index of
	// one abandoned at shutdown would race with raft.
	if resp, ok := reply.(*messages.ProduceResponse); ok && span.IsRecording() {
		span.SetAttributes(attribute.Int64(attrRaftIndex, int64(f.Index())), attribute.Int64(attrRaftTerm, int64(r.CurrentTerm())))
		if offs := resp.GetOffsets(); len(offs) > 0 {
			span.SetAttributes(attribute.Int64(attrFirstOffset, int64(offs[0])), attribute.Int64(attrLastOffset, int64(offs[len(offs)-1])))
		}
	}
	endReply(span, reply)
}

// sendAppend sends a segment append, with the trace context of the first
// traced request of the batch in its header. The segment's span has that
// request as its parent; the other requests of the batch are linked from
// the state machine's span, which merged them.
func (a *logActor) sendAppend(to *actor.PID, b *appendBatch, m *messages.SegmentAppend) {
	if a.traced {
		for _, pr := range b.reqs {
			if pr.trace != nil {
				a.sys.Root.Send(to, &actor.MessageEnvelope{Header: pr.trace, Message: m})
				return
			}
		}
	}
	a.send(to, m)
}

// endAppendSpan ends a segment.append span with what the append did.
func (a *segmentActor) endAppendSpan(span trace.Span, in []*messages.Record, reply *messages.SegmentAppended) {
	if span == nil {
		return
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int64(attrSegment, int64(a.spec.base)),
			attribute.Int(attrRecords, len(in)), attribute.Int(attrBytes, valueBytes(in)))
		if e := reply.GetError(); e != nil && e.GetCode() != messages.SegmentErrorCode_SEGMENT_OK {
			span.SetStatus(codes.Error, e.GetCode().String()+": "+e.GetMessage())
		} else if reply.GetCount() > 0 {
			span.SetAttributes(attribute.Int64(attrFirstOffset, int64(reply.GetFirstOffset())),
				attribute.Int64(attrLastOffset, int64(reply.GetFirstOffset())+int64(reply.GetCount())-1))
		}
	}
	span.End()
}
