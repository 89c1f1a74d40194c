package client_test

import (
	"context"
	"errors"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// durations returns the sample counts of the client's request histogram by
// "op/outcome".
func durations(reg *prometheus.Registry) map[string]uint64 {
	GinkgoHelper()
	mfs, err := reg.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != client.RequestDurationMetric {
			continue
		}
		Expect(mf.GetType()).To(Equal(dto.MetricType_HISTOGRAM))
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["op"]+"/"+labels["outcome"]] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

var _ = Describe("Client telemetry", func() {
	var addr string
	BeforeEach(func() {
		addr = startNode(GinkgoT().TempDir(), "").ActorAddr()
	})

	It("records the latency of every produce and consume by outcome, in a registry two clients share", func() {
		reg := prometheus.NewRegistry()
		c1 := newClient(client.Config{Registerer: reg}, addr)
		c2 := newClient(client.Config{Registerer: reg}, addr)
		Expect(durations(reg)).To(BeEmpty())

		_, err := c1.Produce(ctxFor(10*time.Second), values("m", 3)...)
		Expect(err).NotTo(HaveOccurred())
		_, err = c2.Produce(ctxFor(10*time.Second), []byte("x"))
		Expect(err).NotTo(HaveOccurred())
		_, err = c1.Consume(ctxFor(10*time.Second), 0, client.ConsumeOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = c1.Consume(ctxFor(10*time.Second), 100, client.ConsumeOptions{})
		var oor *client.OffsetOutOfRangeError
		Expect(errors.As(err, &oor)).To(BeTrue(), "%v", err)
		Expect(c1.Close()).To(Succeed())
		_, err = c1.Produce(context.Background(), []byte("late"))
		Expect(errors.Is(err, client.ErrClosed)).To(BeTrue(), "%v", err)

		Expect(durations(reg)).To(Equal(map[string]uint64{
			"produce/ok":           2,
			"consume/ok":           1,
			"consume/out_of_range": 1,
			"produce/closed":       1,
		}))
	})

	It("refuses a registry that holds another metric under the histogram's name", func() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: client.RequestDurationMetric, Help: "not a histogram"}))
		_, err := client.New(ctxFor(10*time.Second), client.Config{Servers: []string{addr}, Registerer: reg})
		var inv *client.InvalidRequestError
		Expect(errors.As(err, &inv)).To(BeTrue(), "%v", err)
		Expect(inv.Field).To(Equal("Registerer"))
	})

	It("traces each call in a client span, recording a failure as an error", func() {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		DeferCleanup(tp.Shutdown, context.Background())
		c := newClient(client.Config{TracerProvider: tp}, addr)

		_, err := c.Produce(ctxFor(10*time.Second), []byte("a"), []byte("bc"))
		Expect(err).NotTo(HaveOccurred())
		_, err = c.Consume(ctxFor(10*time.Second), 7, client.ConsumeOptions{})
		Expect(err).To(HaveOccurred())

		spans := exp.GetSpans()
		Expect(spans).To(HaveLen(2))
		Expect(spans[0].Name).To(Equal("actorlog.produce"))
		Expect(spans[0].SpanKind).To(Equal(trace.SpanKindClient))
		Expect(spans[0].Status.Code.String()).To(Equal("Unset"))
		Expect(spans[1].Name).To(Equal("actorlog.consume"))
		Expect(spans[1].Status.Code.String()).To(Equal("Error"))
		Expect(spans[1].Status.Description).To(Equal("out_of_range"))
	})
})
