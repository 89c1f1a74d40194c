package actors_test

import (
	"context"

	"actorlog/actors"
	"actorlog/messages"
	"actorlog/tracing"
	"github.com/asynkron/protoactor-go/actor"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

var _ = Describe("Tracing through a session and the log", func() {
	var (
		h      *harness
		sess   *actor.PID
		spans  *tracetest.InMemoryExporter
		caller trace.Tracer
	)
	BeforeEach(func() {
		spans = tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
		DeferCleanup(tp.Shutdown, context.Background())
		caller = tp.Tracer("caller")
		h = newHarness(GinkgoT().TempDir(), func(l *actors.LogConfig, s *actors.SessionConfig) {
			l.TracerProvider, s.TracerProvider = tp, tp
		})
		sess = h.openSession()
	})

	// askTraced sends msg to the session with the trace context of a new
	// caller span in its header, and returns the answer and that span.
	askTraced := func(msg any) (any, trace.SpanContext) {
		GinkgoHelper()
		ctx, span := caller.Start(context.Background(), "caller")
		defer span.End()
		f := actor.NewFuture(h.sys, askTimeout)
		h.sys.Root.Send(sess, &actor.MessageEnvelope{Header: tracing.Headers(ctx), Message: msg, Sender: f.PID()})
		res, err := f.Result()
		Expect(err).NotTo(HaveOccurred())
		return res, span.SpanContext()
	}
	named := func(id trace.TraceID, name string) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, s := range spans.GetSpans() {
			if s.Name == name && s.SpanContext.TraceID() == id {
				out = append(out, s)
			}
		}
		return out
	}

	It("forwards a produce under session.produce, which the segment's append continues", func() {
		res, parent := askTraced(&messages.ProduceRequest{Records: values("a", "bc")})
		Expect(res).To(BeAssignableToTypeOf(&messages.ProduceResponse{}))
		// The session ends its span once it has passed the request on,
		// which may be after the log has answered.
		Eventually(func() []tracetest.SpanStub { return named(parent.TraceID(), "segment.append") }).Should(HaveLen(1))
		Eventually(func() []tracetest.SpanStub { return named(parent.TraceID(), "session.produce") }).Should(HaveLen(1))
		session := named(parent.TraceID(), "session.produce")
		Expect(session[0].SpanKind).To(Equal(trace.SpanKindServer))
		Expect(session[0].Parent.SpanID()).To(Equal(parent.SpanID()))
		Expect(session[0].Status.Code).To(Equal(codes.Unset))
		Expect(named(parent.TraceID(), "segment.append")[0].Parent.SpanID()).To(Equal(session[0].SpanContext.SpanID()))
	})

	It("forwards a consume under session.consume", func() {
		h.produce(sess, "a")
		res, parent := askTraced(&messages.ConsumeRequest{Offset: 0})
		Expect(res).To(BeAssignableToTypeOf(&messages.ConsumeResponse{}))
		Eventually(func() []tracetest.SpanStub { return named(parent.TraceID(), "session.consume") }).Should(HaveLen(1))
	})

	It("starts no span for a request the session refuses itself", func() {
		res, parent := askTraced(&messages.ProduceRequest{})
		Expect(res).To(BeAssignableToTypeOf(&messages.InvalidRequest{}))
		// The session answered before anything else could trace it.
		for _, s := range spans.GetSpans() {
			if s.Name != "caller" {
				Expect(s.SpanContext.TraceID()).NotTo(Equal(parent.TraceID()), s.Name)
			}
		}
	})
})
