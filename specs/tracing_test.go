package specs

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// exportedSpan is one span a node sent to the collector.
type exportedSpan struct {
	node, name     string
	trace, id      string // hex
	parent         string // hex; "" for a root span
	attrs          map[string]any
	linkedSpans    []string
	statusCodeName string
}

// collector is an OTLP/HTTP trace receiver, as an OpenTelemetry collector
// would run it, that keeps every span it is sent.
type collector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []exportedSpan
}

func startCollector() *collector {
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(c.export))
	DeferCleanup(c.srv.Close)
	return c
}

func (c *collector) export(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := &coltrace.ExportTraceServiceRequest{}
	if err == nil {
		err = proto.Unmarshal(body, req)
	}
	if err != nil || r.URL.Path != "/v1/traces" {
		http.Error(w, fmt.Sprintf("%s: %v", r.URL.Path, err), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		node := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.instance.id" {
				node = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				e := exportedSpan{node: node, name: s.GetName(), trace: hex.EncodeToString(s.GetTraceId()),
					id: hex.EncodeToString(s.GetSpanId()), parent: hex.EncodeToString(s.GetParentSpanId()),
					attrs: map[string]any{}, statusCodeName: s.GetStatus().GetCode().String()}
				for _, kv := range s.GetAttributes() {
					v := kv.GetValue()
					if v.GetStringValue() != "" {
						e.attrs[kv.GetKey()] = v.GetStringValue()
					} else {
						e.attrs[kv.GetKey()] = v.GetIntValue()
					}
				}
				for _, l := range s.GetLinks() {
					e.linkedSpans = append(e.linkedSpans, hex.EncodeToString(l.GetSpanId()))
				}
				c.spans = append(c.spans, e)
			}
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(b)
}

// inTrace returns the spans of one trace, by "node/name".
func (c *collector) inTrace(traceID string) map[string]exportedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]exportedSpan{}
	for _, s := range c.spans {
		if s.trace == traceID {
			out[s.node+"/"+s.name] = s
		}
	}
	return out
}

func spanKeys(m map[string]exportedSpan) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

var _ = Describe("Tracing across a cluster", Ordered, func() {
	var (
		cl  *testCluster
		col *collector
	)
	BeforeAll(func() {
		col = startCollector()
		// Export each batch of spans within 100 ms rather than the
		// default 5 s (the OpenTelemetry SDK reads this variable).
		GinkgoT().Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
		cl = startCluster(3, "--trace-exporter", "otlp", "--trace-otlp-endpoint", col.srv.Listener.Addr().String())
	})

	It("follows one produce from the client to the segment of every replica in one trace", func() {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		DeferCleanup(tp.Shutdown, context.Background())
		c := clusterClient(cl.actorAddrs(), func(cfg *client.Config) { cfg.TracerProvider = tp })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		offs, err := c.Produce(ctx, []byte("traced"))
		Expect(err).NotTo(HaveOccurred())

		var produce tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			if s.Name == "actorlog.produce" {
				produce = s
			}
		}
		Expect(produce.Name).To(Equal("actorlog.produce"))
		traceID := produce.SpanContext.TraceID().String()
		leader := cl.leader().id
		followers := cl.followers()
		Expect(followers).To(HaveLen(2))

		want := []string{leader + "/session.produce", leader + "/raft.apply", leader + "/fsm.apply", leader + "/segment.append"}
		for _, f := range followers {
			want = append(want, f.id+"/fsm.apply", f.id+"/segment.append")
		}
		Eventually(func() []string { return spanKeys(col.inTrace(traceID)) }, 30*time.Second, 50*time.Millisecond).
			Should(ContainElements(want))

		spans := col.inTrace(traceID)
		session, apply := spans[leader+"/session.produce"], spans[leader+"/raft.apply"]
		Expect(session.parent).To(Equal(produce.SpanContext.SpanID().String()))
		Expect(apply.parent).To(Equal(session.id))
		for _, id := range append([]string{leader}, followers[0].id, followers[1].id) {
			fsm, seg := spans[id+"/fsm.apply"], spans[id+"/segment.append"]
			By("on " + id + ": the state machine continues the leader's raft.apply, the segment the state machine")
			Expect(fsm.parent).To(Equal(apply.id), id)
			Expect(seg.parent).To(Equal(fsm.id), id)
			Expect(seg.attrs["actorlog.offset.first"]).To(Equal(int64(offs[0])), id)
			Expect(fsm.attrs["raft.index"]).To(Equal(apply.attrs["raft.index"]), id)
			Expect(fsm.attrs["actorlog.node"]).To(Equal(id))
		}
	})

	It("follows a produce sent to a follower to the leader that commits it", func() {
		f := cl.followers()[0]
		leader := cl.leader().id
		code, body := httpJSON(http.MethodPost, "http://"+f.httpAddr+"/v1/records", []byte(`{"records":[{"value":"Zm9yd2FyZGVk"}]}`))
		Expect(code).To(Equal(http.StatusOK), "%v", body)

		var traceID string
		Eventually(func() string {
			col.mu.Lock()
			defer col.mu.Unlock()
			for _, s := range col.spans {
				if s.node == f.id && s.name == "raft.forward" {
					traceID = s.trace
				}
			}
			return traceID
		}, 30*time.Second, 50*time.Millisecond).ShouldNot(BeEmpty())
		Eventually(func() []string { return spanKeys(col.inTrace(traceID)) }, 30*time.Second, 50*time.Millisecond).
			Should(ContainElements(f.id+"/session.produce", f.id+"/raft.forward", leader+"/raft.apply", leader+"/segment.append", f.id+"/segment.append"))
		spans := col.inTrace(traceID)
		Expect(spans[f.id+"/raft.forward"].parent).To(Equal(spans[f.id+"/session.produce"].id))
		Expect(spans[f.id+"/raft.forward"].attrs["actorlog.leader"]).To(Equal(leader))
		Expect(spans[leader+"/raft.apply"].parent).To(Equal(spans[f.id+"/raft.forward"].id))
	})
})

var _ = Describe("Tracing to standard output", func() {
	It("prints the agent's spans after its ready line, and the CLI's on stderr, in one trace", func() {
		a := startAgent("so1", GinkgoT().TempDir(), "--trace-exporter", "stdout")
		cmd := exec.Command(actorlogBin, "produce", "--servers", a.actorAddr, "--trace-exporter", "stdout")
		cmd.Stdin = strings.NewReader("hello\n")
		errOut := gbytes.NewBuffer()
		session, err := gexec.Start(cmd, nil, io.MultiWriter(errOut, GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		Eventually(session, 30*time.Second).Should(gexec.Exit(0))
		Expect(string(session.Out.Contents())).To(Equal("0\n"), "the offsets alone on stdout")

		traceID := regexp.MustCompile(`"Name":"actorlog\.produce","SpanContext":\{"TraceID":"([0-9a-f]{32})"`).FindSubmatch(errOut.Contents())
		Expect(traceID).NotTo(BeNil(), "CLI stderr: %s", errOut.Contents())

		// The agent exports in batches; a graceful stop flushes them.
		a.session.Interrupt()
		Eventually(a.session, 30*time.Second).Should(gexec.Exit(0))
		out := strings.SplitN(string(a.session.Out.Contents()), "\n", 2)
		Expect(out[0]).To(MatchRegexp(readyLine.String()))
		for _, name := range []string{"session.produce", "raft.apply", "fsm.apply", "segment.append"} {
			Expect(out[1]).To(MatchRegexp(`"Name":"%s","SpanContext":\{"TraceID":"%s"`, regexp.QuoteMeta(name), traceID[1]))
		}
	})
})
