package consensus_test

import (
	"context"
	"path/filepath"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"actorlog/consensus"
	"actorlog/messages"
	"actorlog/tracing"
)

// contextLog is a fileLog that records the span context of each append
// made through AppendContext.
type contextLog struct {
	*fileLog
	spans []trace.SpanContext
}

func (c *contextLog) AppendContext(ctx context.Context, recs []*messages.Record) (uint64, error) {
	c.spans = append(c.spans, trace.SpanContextFromContext(ctx))
	return c.Append(recs)
}

// tracedEntry is produceEntry with the trace context of ctx in the command.
func tracedEntry(ctx context.Context, index uint64, value string) *raft.Log {
	GinkgoHelper()
	l := produceEntry(index, "", 0, value)
	cmd := &messages.RaftCommand{}
	Expect(proto.Unmarshal(l.Data, cmd)).To(Succeed())
	cmd.Trace = tracing.Headers(ctx)
	data, err := proto.Marshal(cmd)
	Expect(err).NotTo(HaveOccurred())
	l.Data = data
	return l
}

var _ = Describe("FSM tracing", func() {
	var (
		dir string
		log *contextLog
		exp *tracetest.InMemoryExporter
		tp  *sdktrace.TracerProvider
	)
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		log = &contextLog{fileLog: openFileLog(filepath.Join(dir, "log"))}
		exp = tracetest.NewInMemoryExporter()
		tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		DeferCleanup(tp.Shutdown, context.Background())
	})
	openFSM := func(tp trace.TracerProvider) *consensus.FSM {
		GinkgoHelper()
		f, err := consensus.NewFSM(consensus.FSMConfig{Log: log, StatePath: filepath.Join(dir, "fsm.state"),
			Logger: testLogger("fsm"), TracerProvider: tp, NodeID: "n7"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		return f
	}

	It("continues the first traced entry of a batch, links the others, and hands its context to the log", func() {
		f := openFSM(tp)
		ctx1, span1 := tp.Tracer("test").Start(context.Background(), "raft.apply")
		ctx2, span2 := tp.Tracer("test").Start(context.Background(), "raft.apply")
		f.ApplyBatch([]*raft.Log{produceEntry(1, "", 0, "untraced"), tracedEntry(ctx1, 2, "a"), tracedEntry(ctx2, 3, "b")})
		span1.End()
		span2.End()

		var apply tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			if s.Name == "fsm.apply" {
				apply = s
			}
		}
		Expect(apply.Name).To(Equal("fsm.apply"))
		Expect(apply.Parent.SpanID()).To(Equal(span1.SpanContext().SpanID()))
		Expect(apply.Links).To(HaveLen(1))
		Expect(apply.Links[0].SpanContext.SpanID()).To(Equal(span2.SpanContext().SpanID()))
		attrs := map[string]any{}
		for _, kv := range apply.Attributes {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		Expect(attrs).To(HaveKeyWithValue("actorlog.node", "n7"))
		Expect(attrs).To(HaveKeyWithValue("raft.index", int64(2)))
		Expect(attrs).To(HaveKeyWithValue("actorlog.records", int64(3)))
		Expect(attrs).To(HaveKeyWithValue("actorlog.offset.first", int64(0)))
		Expect(attrs).To(HaveKeyWithValue("actorlog.offset.last", int64(2)))

		Expect(log.spans).To(HaveLen(1), "one append for the batch")
		Expect(log.spans[0].SpanID()).To(Equal(apply.SpanContext.SpanID()))
		Expect(log.values()).To(Equal([]string{"0:untraced@1", "1:a@2", "2:b@3"}))
	})

	It("starts no span for untraced entries, nor for traced ones on a replica with tracing off", func() {
		f := openFSM(tp)
		f.ApplyBatch([]*raft.Log{produceEntry(1, "", 0, "x")})
		Expect(exp.GetSpans()).To(BeEmpty())
		Expect(log.spans).To(BeEmpty())
		f.Close()

		off, _, err := tracing.Setup(tracing.Config{})
		Expect(err).NotTo(HaveOccurred())
		g := openFSM(off)
		ctx, span := tp.Tracer("test").Start(context.Background(), "raft.apply")
		// A new FSM over the log replays raft from its first entry.
		g.ApplyBatch([]*raft.Log{produceEntry(1, "", 0, "x"), tracedEntry(ctx, 2, "y")})
		span.End()
		Expect(exp.GetSpans()).To(HaveLen(1), "only the leader's span")
		Expect(log.spans).To(BeEmpty())
		Expect(log.values()).To(Equal([]string{"0:x@1", "1:y@2"}))
	})
})
