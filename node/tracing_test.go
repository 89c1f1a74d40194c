package node

import (
	"context"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// memTracer is a tracer provider that keeps every finished span in memory.
func memTracer() (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	DeferCleanup(tp.Shutdown, context.Background())
	return tp, exp
}

// tracedClient connects a client to n; tp may be nil (tracing off).
func tracedClient(n *Node, tp trace.TracerProvider) *client.Client {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Servers: []string{n.ActorAddr()}, Logger: testLogger(), TracerProvider: tp})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}

func produceOne(c *client.Client, value string) uint64 {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offs, err := c.Produce(ctx, []byte(value))
	Expect(err).NotTo(HaveOccurred())
	Expect(offs).To(HaveLen(1))
	return offs[0]
}

// spanNamed returns the one span named name among spans of trace id.
func spanNamed(spans tracetest.SpanStubs, id trace.TraceID, name string) tracetest.SpanStub {
	GinkgoHelper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name && s.SpanContext.TraceID() == id {
			found = append(found, s)
		}
	}
	Expect(found).To(HaveLen(1), "spans named %s in trace %s", name, id)
	return found[0]
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func attr(s tracetest.SpanStub, key string) attribute.Value {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

var _ = Describe("Tracing", func() {
	It("traces one produce through the client, the session, raft, the state machine and the segment in one trace", func() {
		nodeTP, nodeSpans := memTracer()
		cfg := testConfig()
		cfg.TracerProvider = nodeTP
		n := startNode(cfg)
		clientTP, clientSpans := memTracer()
		c := tracedClient(n, clientTP)

		off := produceOne(c, "traced")

		var produce tracetest.SpanStub
		for _, s := range clientSpans.GetSpans() {
			if s.Name == "actorlog.produce" {
				produce = s
			}
		}
		Expect(produce.Name).To(Equal("actorlog.produce"), "client spans: %v", names(clientSpans.GetSpans()))
		Expect(produce.SpanKind).To(Equal(trace.SpanKindClient))
		Expect(attr(produce, "actorlog.records").AsInt64()).To(Equal(int64(1)))
		Expect(attr(produce, "actorlog.offset.first").AsInt64()).To(Equal(int64(off)))
		id := produce.SpanContext.TraceID()

		var session, apply, fsm, segment tracetest.SpanStub
		Eventually(func() []string { return names(nodeSpans.GetSpans()) }, 10*time.Second, 10*time.Millisecond).
			Should(ContainElements("session.produce", "raft.apply", "fsm.apply", "segment.append"))
		spans := nodeSpans.GetSpans()
		session = spanNamed(spans, id, "session.produce")
		apply = spanNamed(spans, id, "raft.apply")
		fsm = spanNamed(spans, id, "fsm.apply")
		segment = spanNamed(spans, id, "segment.append")

		By("chaining them parent to child, across the wire from the client")
		Expect(session.Parent.SpanID()).To(Equal(produce.SpanContext.SpanID()))
		Expect(session.Parent.IsRemote()).To(BeTrue())
		Expect(session.SpanKind).To(Equal(trace.SpanKindServer))
		Expect(apply.Parent.SpanID()).To(Equal(session.SpanContext.SpanID()))
		Expect(fsm.Parent.SpanID()).To(Equal(apply.SpanContext.SpanID()))
		Expect(segment.Parent.SpanID()).To(Equal(fsm.SpanContext.SpanID()))

		By("with the node, the raft index and the offsets as attributes")
		Expect(attr(session, "actorlog.node").AsString()).To(Equal("n1"))
		Expect(attr(apply, "raft.index").AsInt64()).To(BeNumerically(">", 0))
		Expect(attr(apply, "raft.term").AsInt64()).To(BeNumerically(">", 0))
		Expect(attr(fsm, "raft.index").AsInt64()).To(Equal(attr(apply, "raft.index").AsInt64()))
		for _, s := range []tracetest.SpanStub{apply, fsm, segment} {
			Expect(attr(s, "actorlog.offset.first").AsInt64()).To(Equal(int64(off)), s.Name)
			Expect(attr(s, "actorlog.offset.last").AsInt64()).To(Equal(int64(off)), s.Name)
		}
		Expect(attr(segment, "actorlog.records").AsInt64()).To(Equal(int64(1)))
		Expect(attr(segment, "actorlog.bytes").AsInt64()).To(Equal(int64(len("traced"))))
	})

	It("starts the trace at the session when the client does not trace, and sends no trace header", func() {
		nodeTP, nodeSpans := memTracer()
		cfg := testConfig()
		cfg.TracerProvider = nodeTP
		n := startNode(cfg)
		c := tracedClient(n, nil)
		// The caller traces on its own; the client, without a provider,
		// must still not pass the caller's span on.
		callerTP, _ := memTracer()
		ctx, span := callerTP.Tracer("caller").Start(context.Background(), "caller")
		defer span.End()
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, err := c.Produce(ctx, []byte("untraced client"))
		Expect(err).NotTo(HaveOccurred())

		Eventually(func() []string { return names(nodeSpans.GetSpans()) }, 10*time.Second, 10*time.Millisecond).
			Should(ContainElement("segment.append"))
		var session tracetest.SpanStub
		for _, s := range nodeSpans.GetSpans() {
			if s.Name == "session.produce" {
				session = s
			}
		}
		Expect(session.Name).To(Equal("session.produce"))
		Expect(session.Parent.IsValid()).To(BeFalse(), "the request carried a trace context")
		id := session.SpanContext.TraceID()
		Expect(spanNamed(nodeSpans.GetSpans(), id, "segment.append").SpanContext.TraceID()).To(Equal(id))
	})

	It("records nothing with tracing off, not even through the global tracer provider", func() {
		globalTP, globalSpans := memTracer()
		prev := otel.GetTracerProvider()
		otel.SetTracerProvider(globalTP)
		DeferCleanup(otel.SetTracerProvider, prev)

		n := startNode(testConfig())
		c := tracedClient(n, nil)
		produceOne(c, "a")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Consume(ctx, 0, client.ConsumeOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(globalSpans.GetSpans()).To(BeEmpty())
	})
})
