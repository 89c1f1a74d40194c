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

// startFrom starts a span named name, a child of the trace context in
// header (a root span when there is none). It returns a nil span when
// tracing is off.
func (t actorTracer) startFrom(header tracing.Getter, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if !t.on {
		return context.Background(), nil
	}
	return t.tracer.Start(tracing.ExtractFrom(context.Background(), header), name, trace.WithSpanKind(kind))
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

// Tracing is cross-cutting: the session and the raft actor route requests
// as if nothing were traced, and the protoactor middleware below, which
// their props carry only when tracing is on, opens the spans around that
// routing and carries their trace context in the headers of the messages
// the routing sends.

// sessionTracing returns the props options that trace a session's
// forwards (none when tracing is off).
func sessionTracing(cfg SessionConfig) []actor.PropsOption {
	if !tracing.Enabled(cfg.TracerProvider) {
		return nil
	}
	return []actor.PropsOption{actor.WithSenderMiddleware(traceForwards(newActorTracer(cfg.TracerProvider), cfg.Server.GetId()))}
}

// traceForwards is a session's sender middleware. A produce or a consume
// that the session passes on with its client still the sender (a forward;
// a parked poll is sent with a future as its sender and is not traced) goes
// under a server span, session.produce or session.consume, a child of the
// client's trace context, and carries the span's context in its header.
func traceForwards(tr actorTracer, node string) actor.SenderMiddleware {
	return func(next actor.SenderFunc) actor.SenderFunc {
		return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			if env.Message != ctx.Message() || env.Sender != ctx.Sender() {
				next(ctx, target, env)
				return
			}
			var (
				name string
				recs []*messages.Record
			)
			switch m := env.Message.(type) {
			case *messages.ProduceRequest:
				name, recs = "session.produce", m.GetRecords()
			case *messages.ConsumeRequest:
				name = "session.consume"
			default:
				next(ctx, target, env)
				return
			}
			tctx, span := tr.startFrom(ctx.MessageHeader(), name, trace.SpanKindServer)
			if span.IsRecording() {
				span.SetAttributes(attribute.String(attrNode, node), attribute.String("actorlog.session", ctx.Self().GetId()))
				if recs != nil {
					span.SetAttributes(attribute.Int(attrRecords, len(recs)), attribute.Int(attrBytes, valueBytes(recs)))
				}
			}
			next(ctx, target, withTrace(env, tracing.Headers(tctx)))
			span.End()
		}
	}
}

// withTrace returns env with the trace headers h added to its header, or
// env itself when h is nil.
func withTrace(env *actor.MessageEnvelope, h map[string]string) *actor.MessageEnvelope {
	if h == nil {
		return env
	}
	for k, v := range env.Header {
		if _, ok := h[k]; !ok {
			h[k] = v
		}
	}
	return &actor.MessageEnvelope{Header: h, Message: env.Message, Sender: env.Sender}
}

// raftTracing returns the props options that trace the raft actor's
// produces (none when tracing is off).
func raftTracing(cfg RaftConfig) []actor.PropsOption {
	if !tracing.Enabled(cfg.TracerProvider) {
		return nil
	}
	// The span of a forward names the leader it went to: the member whose
	// raft actor is at the address the forward was sent to.
	leaderAt := func(addr string) string {
		for _, m := range cfg.FSM.Members() {
			if m.GetActorAddress() == addr {
				return m.GetId()
			}
		}
		return ""
	}
	return produceTracing(newActorTracer(cfg.TracerProvider), cfg.Self.GetId(), leaderAt)
}

// produceTracing returns the props options of an actor that handles
// produces as the raft actor does, on node node; leaderAt names the
// member at an actor address.
func produceTracing(tr actorTracer, node string, leaderAt func(addr string) string) []actor.PropsOption {
	return []actor.PropsOption{
		actor.WithContextDecorator(func(next actor.ContextDecoratorFunc) actor.ContextDecoratorFunc {
			return func(ctx actor.Context) actor.Context { return &tracedContext{Context: next(ctx)} }
		}),
		actor.WithReceiverMiddleware(traceProduces(tr, node)),
		actor.WithSenderMiddleware(traceProduceReplies(leaderAt)),
	}
}

// tracedContext is the context of an actor whose requests' spans outlive
// the receiver middleware's call: it holds the span of the request being
// handled for the sender middleware and, through keepSpan and entryTrace,
// for the handler.
type tracedContext struct {
	actor.Context
	req *requestSpan
}

// requestSpan is the span of the request an actor is handling.
type requestSpan struct {
	ctx    context.Context // the span's trace context
	span   trace.Span
	sender *actor.PID // the request's sender: what is sent to it answers the request
	kept   bool       // the handler ends the span (keepSpan)
}

func currentRequest(ctx any) *requestSpan {
	if tc, ok := ctx.(*tracedContext); ok {
		return tc.req
	}
	return nil
}

// traceProduces is the raft actor's receiver middleware: every produce,
// a client's or one forwarded by a follower, is handled under a span
// raft.apply, a child of the trace context in its header. The span ends
// when the handler returns, unless the handler keeps it (keepSpan).
func traceProduces(tr actorTracer, node string) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
			tc, ok := ctx.(*tracedContext)
			if !ok {
				next(ctx, env)
				return
			}
			tc.req = nil
			var recs []*messages.Record
			switch m := env.Message.(type) {
			case *messages.ProduceRequest:
				recs = m.GetRecords()
			case *messages.ForwardedProduce:
				recs = m.GetRequest().GetRecords()
			default:
				next(ctx, env)
				return
			}
			tctx, span := tr.startFrom(env.Header, "raft.apply", trace.SpanKindInternal)
			if span.IsRecording() {
				span.SetAttributes(attribute.String(attrNode, node),
					attribute.Int(attrRecords, len(recs)), attribute.Int(attrBytes, valueBytes(recs)))
			}
			r := &requestSpan{ctx: tctx, span: span, sender: env.Sender}
			tc.req = r
			next(ctx, env)
			tc.req = nil
			if !r.kept {
				span.End()
			}
		}
	}
}

// traceProduceReplies is the raft actor's sender middleware. While a
// produce is being handled, a ForwardedProduce sent on with the client as
// its sender makes the span raft.forward, naming the leader, and carries
// its trace context to the leader; anything else sent to the client is the
// answer, whose failure becomes the span's status.
func traceProduceReplies(leaderAt func(addr string) string) actor.SenderMiddleware {
	return func(next actor.SenderFunc) actor.SenderFunc {
		return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			r := currentRequest(ctx)
			switch {
			case r == nil:
			case env.Sender == r.sender && isForwardedProduce(env.Message):
				if r.span.IsRecording() {
					r.span.SetName("raft.forward")
					r.span.SetAttributes(attribute.String("actorlog.leader", leaderAt(target.GetAddress())))
				}
				env = withTrace(env, tracing.Headers(r.ctx))
			case target == r.sender && r.span.IsRecording():
				if reason := failureOf(env.Message); reason != "" {
					r.span.SetStatus(codes.Error, reason)
				}
			}
			next(ctx, target, env)
		}
	}
}

func isForwardedProduce(m any) bool {
	_, ok := m.(*messages.ForwardedProduce)
	return ok
}

// keepSpan hands the span of the request being handled to the handler,
// which ends it when the request's outcome is known (nil when the request
// is not traced).
func keepSpan(ctx actor.Context) trace.Span {
	r := currentRequest(ctx)
	if r == nil {
		return nil
	}
	r.kept = true
	return r.span
}

// entryTrace returns the trace headers that the raft entry of the request
// being handled carries: the context of its span when that is sampled.
func entryTrace(ctx actor.Context) map[string]string {
	r := currentRequest(ctx)
	if r == nil {
		return nil
	}
	return sampledHeaders(r.ctx)
}

// batchTrace returns the trace context of the first traced request of a
// batch, which the batch's segment append continues. The segment's span
// has that request as its parent; the other requests of the batch are
// linked from the state machine's span, which merged them.
func batchTrace(b *appendBatch) map[string]string {
	for _, pr := range b.reqs {
		if pr.trace != nil {
			return pr.trace
		}
	}
	return nil
}

// tracedMessage is m with the trace headers h, as a message to send: m
// itself when h is nil.
func tracedMessage(h map[string]string, m any) any {
	if h == nil {
		return m
	}
	return &actor.MessageEnvelope{Header: h, Message: m}
}
