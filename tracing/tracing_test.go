package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"actorlog/tracing"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// memProvider records every span in memory.
func memProvider(opts ...sdktrace.TracerProviderOption) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithSyncer(exp)}, opts...)...)
	DeferCleanup(tp.Shutdown, context.Background())
	return tp, exp
}

var _ = Describe("Setup", func() {
	It("turns tracing off by default: no-op provider, spans that record nothing, no headers", func() {
		tp, shutdown, err := tracing.Setup(tracing.Config{})
		Expect(err).NotTo(HaveOccurred())
		Expect(tracing.Enabled(tp)).To(BeFalse())
		ctx, span := tracing.Tracer(tp).Start(context.Background(), "x")
		Expect(span.IsRecording()).To(BeFalse())
		Expect(span.SpanContext().IsValid()).To(BeFalse())
		Expect(tracing.Headers(ctx)).To(BeNil())
		h := map[string]string{}
		tracing.Inject(ctx, h)
		Expect(h).To(BeEmpty())
		span.End()
		Expect(shutdown(context.Background())).To(Succeed())

		tp, _, err = tracing.Setup(tracing.Config{Exporter: tracing.ExporterNone})
		Expect(err).NotTo(HaveOccurred())
		Expect(tracing.Enabled(tp)).To(BeFalse())
		Expect(tracing.Enabled(nil)).To(BeFalse())
	})

	DescribeTable("refuses a bad config naming the field",
		func(cfg tracing.Config, field string) {
			_, _, err := tracing.Setup(cfg)
			Expect(errors.Is(err, tracing.ErrInvalidConfig)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("unknown exporter", tracing.Config{Exporter: "jaeger"}, "Exporter"),
		Entry("ratio above one", tracing.Config{Exporter: tracing.ExporterStdout, SampleRatio: 1.5}, "SampleRatio"),
		Entry("negative ratio", tracing.Config{Exporter: tracing.ExporterStdout, SampleRatio: -0.1}, "SampleRatio"),
	)

	It("writes finished spans as JSON with the stdout exporter, flushed by shutdown", func() {
		var buf bytes.Buffer
		tp, shutdown, err := tracing.Setup(tracing.Config{Exporter: tracing.ExporterStdout, Stdout: &buf, InstanceID: "n1"})
		Expect(err).NotTo(HaveOccurred())
		Expect(tracing.Enabled(tp)).To(BeTrue())
		_, span := tracing.Tracer(tp).Start(context.Background(), "stdout.span")
		span.End()
		Expect(shutdown(context.Background())).To(Succeed())
		Expect(buf.String()).To(ContainSubstring(`"Name":"stdout.span"`))
		Expect(buf.String()).To(ContainSubstring(`"service.instance.id"`))
	})

	It("sends spans over OTLP/HTTP to a collector", func() {
		var (
			mu    sync.Mutex
			names []string
			paths []string
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			req := &coltrace.ExportTraceServiceRequest{}
			if err == nil {
				err = proto.Unmarshal(body, req)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			mu.Lock()
			paths = append(paths, r.URL.Path)
			for _, rs := range req.GetResourceSpans() {
				for _, ss := range rs.GetScopeSpans() {
					for _, s := range ss.GetSpans() {
						names = append(names, s.GetName())
					}
				}
			}
			mu.Unlock()
			w.Header().Set("Content-Type", "application/x-protobuf")
			b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
			_, _ = w.Write(b)
		}))
		DeferCleanup(srv.Close)

		for _, endpoint := range []string{srv.Listener.Addr().String(), srv.URL + "/v1/traces"} {
			tp, shutdown, err := tracing.Setup(tracing.Config{Exporter: tracing.ExporterOTLP, OTLPEndpoint: endpoint})
			Expect(err).NotTo(HaveOccurred())
			_, span := tracing.Tracer(tp).Start(context.Background(), "otlp.span")
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			Expect(shutdown(ctx)).To(Succeed())
			cancel()
		}
		mu.Lock()
		defer mu.Unlock()
		Expect(names).To(Equal([]string{"otlp.span", "otlp.span"}))
		Expect(paths).To(Equal([]string{"/v1/traces", "/v1/traces"}))
	})

	It("samples new traces by SampleRatio but follows a caller's decision", func() {
		tp, shutdown, err := tracing.Setup(tracing.Config{Exporter: tracing.ExporterStdout, Stdout: io.Discard, SampleRatio: 1e-12})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(shutdown, context.Background())
		_, root := tracing.Tracer(tp).Start(context.Background(), "root")
		Expect(root.IsRecording()).To(BeFalse())
		root.End()

		caller, _ := memProvider()
		cctx, cspan := tracing.Tracer(caller).Start(context.Background(), "caller")
		defer cspan.End()
		_, child := tracing.Tracer(tp).Start(tracing.Extract(context.Background(), tracing.Headers(cctx)), "child")
		Expect(child.IsRecording()).To(BeTrue())
		child.End()
	})
})

var _ = Describe("Propagation", func() {
	It("round-trips a span context through a header map, and a child span gets it as parent", func() {
		tp, exp := memProvider()
		ctx, span := tracing.Tracer(tp).Start(context.Background(), "parent")
		h := tracing.Headers(ctx)
		Expect(h).To(HaveKey(tracing.TraceparentHeader))

		other := map[string]string{"actorlog-identity": "someone"}
		tracing.Inject(ctx, other)
		Expect(other).To(HaveKeyWithValue("actorlog-identity", "someone"))
		Expect(other[tracing.TraceparentHeader]).To(Equal(h[tracing.TraceparentHeader]))

		sc := tracing.SpanContextFrom(h)
		Expect(sc.TraceID()).To(Equal(span.SpanContext().TraceID()))
		Expect(sc.SpanID()).To(Equal(span.SpanContext().SpanID()))
		Expect(sc.IsRemote()).To(BeTrue())
		Expect(sc.IsSampled()).To(BeTrue())

		_, child := tracing.Tracer(tp).Start(tracing.ExtractFrom(context.Background(), getter(h)), "child")
		child.End()
		span.End()
		spans := exp.GetSpans()
		Expect(spans).To(HaveLen(2))
		Expect(spans[0].Name).To(Equal("child"))
		Expect(spans[0].Parent.SpanID()).To(Equal(span.SpanContext().SpanID()))
		Expect(spans[0].SpanContext.TraceID()).To(Equal(span.SpanContext().TraceID()))
	})

	It("leaves the context alone when the headers carry no trace", func() {
		ctx := context.Background()
		Expect(tracing.Extract(ctx, nil)).To(Equal(ctx))
		Expect(tracing.ExtractFrom(ctx, nil)).To(Equal(ctx))
		Expect(tracing.ExtractFrom(ctx, getter{"actorlog-identity": "x"})).To(Equal(ctx))
		Expect(tracing.SpanContextFrom(map[string]string{tracing.TraceparentHeader: "garbage"}).IsValid()).To(BeFalse())
		Expect(trace.SpanContextFromContext(tracing.Extract(ctx, map[string]string{"a": "b"})).IsValid()).To(BeFalse())
	})
})

type getter map[string]string

func (g getter) Get(k string) string { return g[k] }
