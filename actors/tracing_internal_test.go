package actors

import (
	"context"
	"time"

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

// fakeRaft handles produces the way the raft actor does, without raft:
// the first record's value says which way.
type fakeRaft struct {
	leader  *actor.PID
	entries chan map[string]string // the trace each applied entry carries
}

type fakeIndex uint64

func (i fakeIndex) Index() uint64       { return uint64(i) }
func (i fakeIndex) CurrentTerm() uint64 { return 2 }

func (f *fakeRaft) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*messages.ProduceRequest)
	if !ok {
		return
	}
	switch string(m.GetRecords()[0].GetValue()) {
	case "refuse":
		ctx.Respond(&messages.NotLeader{LeaderId: "n2"})
	case "forward":
		ctx.RequestWithCustomSender(f.leader, &messages.ForwardedProduce{Request: m}, ctx.Sender())
	case "apply":
		f.entries <- entryTrace(ctx)
		span, sender, root := keepSpan(ctx), ctx.Sender(), ctx.ActorSystem().Root
		go func() {
			reply := &messages.ProduceResponse{Offsets: []uint64{4, 5}}
			endApply(span, fakeIndex(7), fakeIndex(7), reply)
			root.Send(sender, reply)
		}()
	}
}

var _ = Describe("Tracing of the raft actor's produces", func() {
	var (
		sys     *actor.ActorSystem
		spans   *tracetest.InMemoryExporter
		caller  trace.Tracer
		pid     *actor.PID
		leader  chan *actor.MessageEnvelope
		entries chan map[string]string
	)
	BeforeEach(func() {
		spans = tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
		DeferCleanup(tp.Shutdown, context.Background())
		caller = tp.Tracer("caller")
		sys = actor.NewActorSystem()
		DeferCleanup(sys.Shutdown)
		leader = make(chan *actor.MessageEnvelope, 1)
		entries = make(chan map[string]string, 1)
		leaderPID := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*messages.ForwardedProduce); ok {
				leader <- &actor.MessageEnvelope{Header: ctx.MessageHeader().ToMap(), Message: ctx.Message(), Sender: ctx.Sender()}
			}
		}))
		leaderAt := func(addr string) string {
			Expect(addr).To(Equal(leaderPID.GetAddress()))
			return "n2"
		}
		pid = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &fakeRaft{leader: leaderPID, entries: entries}
		}, produceTracing(newActorTracer(tp), "n1", leaderAt)...))
	})

	// produce sends a produce of value under a new caller span, and
	// returns the future of its answer and the caller span's context.
	produce := func(value string) (*actor.Future, trace.SpanContext) {
		ctx, span := caller.Start(context.Background(), "caller")
		defer span.End()
		f := actor.NewFuture(sys, 5*time.Second)
		sys.Root.Send(pid, &actor.MessageEnvelope{Header: tracing.Headers(ctx),
			Message: &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte(value)}}}, Sender: f.PID()})
		return f, span.SpanContext()
	}
	spanOf := func(parent trace.SpanContext) func() []tracetest.SpanStub {
		return func() []tracetest.SpanStub {
			var out []tracetest.SpanStub
			for _, s := range spans.GetSpans() {
				if s.Parent.SpanID() == parent.SpanID() && s.SpanContext.TraceID() == parent.TraceID() {
					out = append(out, s)
				}
			}
			return out
		}
	}

	It("ends raft.apply with the status of a refusal", func() {
		f, parent := produce("refuse")
		Expect(f.Result()).To(BeAssignableToTypeOf(&messages.NotLeader{}))
		Eventually(spanOf(parent)).Should(HaveLen(1))
		s := spanOf(parent)()[0]
		Expect(s.Name).To(Equal("raft.apply"))
		Expect(s.Status.Code).To(Equal(codes.Error))
		Expect(s.Status.Description).To(Equal("not leader; leader is n2"))
	})

	It("makes the span of a forward raft.forward, naming the leader, and hands its context to the leader", func() {
		f, parent := produce("forward")
		var fwd *actor.MessageEnvelope
		Eventually(leader).Should(Receive(&fwd))
		Expect(fwd.Sender).To(Equal(f.PID()), "the client stays the sender")
		Eventually(spanOf(parent)).Should(HaveLen(1))
		s := spanOf(parent)()[0]
		Expect(s.Name).To(Equal("raft.forward"))
		Expect(s.Status.Code).To(Equal(codes.Unset))
		Expect(s.Attributes).To(ContainElement(HaveField("Value.AsString()", "n2")))
		Expect(tracing.SpanContextFrom(fwd.Header).SpanID()).To(Equal(s.SpanContext.SpanID()))
	})

	It("keeps the span of an applied produce open until the handler ends it with the entry and its offsets", func() {
		f, parent := produce("apply")
		var entry map[string]string
		Eventually(entries).Should(Receive(&entry))
		Expect(f.Result()).To(BeAssignableToTypeOf(&messages.ProduceResponse{}))
		Eventually(spanOf(parent)).Should(HaveLen(1))
		s := spanOf(parent)()[0]
		Expect(s.Name).To(Equal("raft.apply"))
		Expect(tracing.SpanContextFrom(entry).SpanID()).To(Equal(s.SpanContext.SpanID()), "the entry carries the span's context")
		attrs := map[string]int64{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.AsInt64()
		}
		Expect(attrs).To(HaveKeyWithValue(attrRaftIndex, int64(7)))
		Expect(attrs).To(HaveKeyWithValue(attrFirstOffset, int64(4)))
		Expect(attrs).To(HaveKeyWithValue(attrLastOffset, int64(5)))
		Expect(attrs).To(HaveKeyWithValue(attrRecords, int64(1)))
	})
})
