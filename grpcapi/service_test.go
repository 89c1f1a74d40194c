package grpcapi_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"actorlog/client"
	"actorlog/grpcapi"
	"actorlog/messages"
	"actorlog/node"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

var _ = Describe("The gRPC Log service", func() {
	var (
		n   *node.Node
		log messages.LogClient
	)
	BeforeEach(func() {
		n = startNode(func(c *node.Config) { c.MaxRecordBytes, c.MaxBatchBytes = 1024, 64<<10 })
		log = dial(n.GRPCAddr(), nil)
	})

	It("produces and consumes through the node's sessions", func() {
		ctx := callCtx()
		res, err := log.Produce(ctx, &messages.ProduceRequest{Records: values("a", "b", "c")})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.GetOffsets()).To(Equal([]uint64{0, 1, 2}))

		got, err := log.Consume(ctx, &messages.ConsumeRequest{Offset: 1, Topic: "default"})
		Expect(err).NotTo(HaveOccurred())
		Expect(got.GetRecords()).To(HaveLen(2))
		Expect(string(got.GetRecords()[0].GetValue())).To(Equal("b"))
		Expect(got.GetRecords()[1].GetOffset()).To(Equal(uint64(2)))
		Expect(got.GetNextOffset()).To(Equal(uint64(3)))
	})

	It("answers a read past the end OutOfRange with the log's low and next offsets", func() {
		ctx := callCtx()
		_, err := log.Produce(ctx, &messages.ProduceRequest{Records: values("a", "b")})
		Expect(err).NotTo(HaveOccurred())
		_, err = log.Consume(ctx, &messages.ConsumeRequest{Offset: 7})
		st := statusOf(err)
		Expect(st.Code()).To(Equal(codes.OutOfRange))
		oor := detail[*messages.OffsetOutOfRange](st)
		Expect(oor.GetOffset()).To(Equal(uint64(7)))
		Expect(oor.GetLowOffset()).To(Equal(uint64(0)))
		Expect(oor.GetNextOffset()).To(Equal(uint64(2)))
		ei := detail[*errdetails.ErrorInfo](st)
		Expect(ei.GetReason()).To(Equal(grpcapi.ReasonOutOfRange))
		Expect(ei.GetMetadata()).To(HaveKeyWithValue("next_offset", "2"))
	})

	It("refuses invalid requests with InvalidArgument naming the field, and appends nothing", func() {
		ctx := callCtx()
		cases := []struct {
			req   *messages.ProduceRequest
			field string
		}{
			{&messages.ProduceRequest{Records: values("x"), Topic: "orders"}, "topic"},
			{&messages.ProduceRequest{Records: values("x"), Partition: 3}, "partition"},
			{&messages.ProduceRequest{Records: []*messages.Record{{Value: make([]byte, 2048)}}}, "records[0].value"},
			{&messages.ProduceRequest{}, "records"},
		}
		for _, c := range cases {
			_, err := log.Produce(ctx, c.req)
			st := statusOf(err)
			Expect(st.Code()).To(Equal(codes.InvalidArgument), c.field)
			Expect(detail[*messages.InvalidRequest](st).GetField()).To(Equal(c.field))
			br := detail[*errdetails.BadRequest](st)
			Expect(br.GetFieldViolations()).To(HaveLen(1))
			Expect(br.GetFieldViolations()[0].GetField()).To(Equal(c.field))
		}
		_, err := log.Consume(ctx, &messages.ConsumeRequest{Offset: 0, Topic: "orders"})
		Expect(statusOf(err).Code()).To(Equal(codes.InvalidArgument))
		_, err = log.Consume(ctx, &messages.ConsumeRequest{Offset: 0})
		st := statusOf(err)
		Expect(st.Code()).To(Equal(codes.OutOfRange), "nothing was appended")
		Expect(detail[*messages.OffsetOutOfRange](st).GetNextOffset()).To(BeZero())
	})

	It("reports the caller's deadline as DeadlineExceeded", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := log.Consume(ctx, &messages.ConsumeRequest{Offset: 0, WaitMs: 10000})
		Expect(codeOf(err)).To(Equal(codes.DeadlineExceeded))
	})

	It("parks a long poll until a record arrives", func() {
		ctx := callCtx()
		got := make(chan *messages.ConsumeResponse, 1)
		go func() {
			defer GinkgoRecover()
			r, err := log.Consume(ctx, &messages.ConsumeRequest{Offset: 0, WaitMs: 15000})
			Expect(err).NotTo(HaveOccurred())
			got <- r
		}()
		Consistently(got, 300*time.Millisecond).ShouldNot(Receive())
		_, err := log.Produce(ctx, &messages.ProduceRequest{Records: values("late")})
		Expect(err).NotTo(HaveOccurred())
		var r *messages.ConsumeResponse
		Eventually(got, 10*time.Second).Should(Receive(&r))
		Expect(string(r.GetRecords()[0].GetValue())).To(Equal("late"))
	})

	It("appends a retried (producer id, sequence) once and answers the original offsets", func() {
		ctx := callCtx()
		req := &messages.ProduceRequest{Records: values("once"), ProducerId: "p-1", Sequence: 1}
		first, err := log.Produce(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		again, err := log.Produce(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.GetOffsets()).To(Equal(first.GetOffsets()))
		_, err = log.Consume(ctx, &messages.ConsumeRequest{Offset: 1})
		Expect(codeOf(err)).To(Equal(codes.OutOfRange), "one record only")
	})

	It("answers a pipelined ProduceStream once per request, in order", func() {
		ctx := callCtx()
		stream, err := log.ProduceStream(ctx)
		Expect(err).NotTo(HaveOccurred())
		const total = 300
		// Everything is sent before the first answer is read: the requests
		// are in flight together.
		go func() {
			defer GinkgoRecover()
			for i := range total {
				Expect(stream.Send(&messages.ProduceRequest{Records: values(fmt.Sprint(i)), ProducerId: "stream", Sequence: uint64(i + 1)})).To(Succeed())
			}
			Expect(stream.CloseSend()).To(Succeed())
		}()
		for i := range total {
			res, err := stream.Recv()
			Expect(err).NotTo(HaveOccurred())
			Expect(res.GetOffsets()).To(Equal([]uint64{uint64(i)}))
		}
		_, err = stream.Recv()
		Expect(err).To(Equal(io.EOF))
		got, err := log.Consume(ctx, &messages.ConsumeRequest{Offset: 299})
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got.GetRecords()[0].GetValue())).To(Equal("299"))
	})

	It("ends a ProduceStream at the first failure with its status", func() {
		ctx := callCtx()
		stream, err := log.ProduceStream(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(stream.Send(&messages.ProduceRequest{Records: values("ok")})).To(Succeed())
		Expect(stream.Send(&messages.ProduceRequest{Records: values("bad"), Topic: "nope"})).To(Succeed())
		res, err := stream.Recv()
		Expect(err).NotTo(HaveOccurred())
		Expect(res.GetOffsets()).To(Equal([]uint64{0}))
		_, err = stream.Recv()
		st := statusOf(err)
		Expect(st.Code()).To(Equal(codes.InvalidArgument))
		Expect(detail[*messages.InvalidRequest](st).GetField()).To(Equal("topic"))
	})

	It("streams from an offset and follows the log as it grows", func() {
		ctx := callCtx()
		_, err := log.Produce(ctx, &messages.ProduceRequest{Records: values("r0", "r1", "r2")})
		Expect(err).NotTo(HaveOccurred())
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := log.ConsumeStream(sctx, &messages.ConsumeStreamRequest{Offset: 1})
		Expect(err).NotTo(HaveOccurred())
		var got []string
		next := func() {
			GinkgoHelper()
			res, err := stream.Recv()
			Expect(err).NotTo(HaveOccurred())
			for _, r := range res.GetRecords() {
				Expect(r.GetOffset()).To(Equal(uint64(len(got) + 1)))
				got = append(got, string(r.GetValue()))
			}
		}
		for len(got) < 2 {
			next()
		}
		Expect(got).To(Equal([]string{"r1", "r2"}))
		for i := 3; i < 10; i++ {
			_, err := log.Produce(ctx, &messages.ProduceRequest{Records: values(fmt.Sprintf("r%d", i))})
			Expect(err).NotTo(HaveOccurred())
		}
		for len(got) < 9 {
			next()
		}
		Expect(got[len(got)-1]).To(Equal("r9"))
		cancel()
		_, err = stream.Recv()
		Expect(codeOf(err)).To(Equal(codes.Canceled))
	})

	It("refuses a ConsumeStream from beyond the end OutOfRange, and a bad topic InvalidArgument", func() {
		ctx := callCtx()
		stream, err := log.ConsumeStream(ctx, &messages.ConsumeStreamRequest{Offset: 5})
		Expect(err).NotTo(HaveOccurred())
		_, err = stream.Recv()
		st := statusOf(err)
		Expect(st.Code()).To(Equal(codes.OutOfRange))
		Expect(detail[*messages.OffsetOutOfRange](st).GetOffset()).To(Equal(uint64(5)))

		stream, err = log.ConsumeStream(ctx, &messages.ConsumeStreamRequest{Topic: "other"})
		Expect(err).NotTo(HaveOccurred())
		_, err = stream.Recv()
		Expect(codeOf(err)).To(Equal(codes.InvalidArgument))
	})

	It("lists the servers with their gRPC addresses and the leader marked", func() {
		res, err := log.GetServers(callCtx(), &messages.ServersRequest{})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.GetServers()).To(HaveLen(1))
		Expect(res.GetServers()[0].GetGrpcAddress()).To(Equal(n.GRPCAddr()))
		Expect(res.GetServers()[0].GetIsLeader()).To(BeTrue())
	})

	It("serves grpc.health.v1 and server reflection", func() {
		conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		ctx := callCtx()
		// SERVING follows the node's readiness, checked every second.
		Eventually(func() (healthpb.HealthCheckResponse_ServingStatus, error) {
			h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: grpcapi.ServiceName})
			return h.GetStatus(), err
		}, 10*time.Second).Should(Equal(healthpb.HealthCheckResponse_SERVING))

		rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})).To(Succeed())
		resp, err := rs.Recv()
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		Expect(names).To(ContainElements(grpcapi.ServiceName, "grpc.health.v1.Health"))
	})

	It("ends open streams with Unavailable when the node stops", func() {
		ctx := callCtx()
		stream, err := log.ConsumeStream(ctx, &messages.ConsumeStreamRequest{Offset: 0})
		Expect(err).NotTo(HaveOccurred())
		// The stream is open once its session serves it; a produce shows it.
		_, err = log.Produce(ctx, &messages.ProduceRequest{Records: values("x")})
		Expect(err).NotTo(HaveOccurred())
		_, err = stream.Recv()
		Expect(err).NotTo(HaveOccurred())
		stopped := make(chan error, 1)
		go func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stopped <- n.Stop(sctx)
		}()
		_, err = stream.Recv()
		Expect(codeOf(err)).To(Equal(codes.Unavailable))
		Eventually(stopped, 30*time.Second).Should(Receive(BeNil()))
	})
})

var _ = Describe("A ProduceStream that stays quiet", func() {
	It("outlives its session's idle timeout: the next request goes to a new session", func() {
		n := startNode(func(c *node.Config) { c.SessionIdleTimeout = 300 * time.Millisecond })
		sessions := func() (float64, error) {
			resp, err := http.Get("http://" + n.HTTPAddr() + "/metrics")
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				return 0, err
			}
			for _, line := range strings.Split(string(raw), "\n") {
				var v float64
				if _, err := fmt.Sscanf(line, "actorlog_sessions %g", &v); err == nil {
					return v, nil
				}
			}
			return 0, fmt.Errorf("no actorlog_sessions in /metrics")
		}
		base, err := sessions()
		Expect(err).NotTo(HaveOccurred())
		stream, err := dial(n.GRPCAddr(), nil).ProduceStream(callCtx())
		Expect(err).NotTo(HaveOccurred())
		Expect(stream.Send(&messages.ProduceRequest{Records: values("first")})).To(Succeed())
		_, err = stream.Recv()
		Expect(err).NotTo(HaveOccurred())
		Expect(sessions()).To(Equal(base + 1))
		Eventually(sessions, 10*time.Second, 50*time.Millisecond).Should(Equal(base), "the stream's session idled out")
		Expect(stream.Send(&messages.ProduceRequest{Records: values("second")})).To(Succeed())
		res, err := stream.Recv()
		Expect(err).NotTo(HaveOccurred())
		Expect(res.GetOffsets()).To(Equal([]uint64{1}))
	})
})

var _ = Describe("The gRPC Log service with mutual TLS", func() {
	var (
		n    *node.Node
		cfgs map[string]*tls.Config
	)
	BeforeEach(func() {
		cfgs = devCerts([]string{"n1", "n9"}, []string{"root", "reader", "nobody"})
		policy := filepath.Join(GinkgoT().TempDir(), "policy.csv")
		Expect(os.WriteFile(policy, []byte("p, root, *\np, reader, consume\n"), 0o644)).To(Succeed())
		n = startNode(func(c *node.Config) { c.TLS, c.ACLPolicy = cfgs["n1"], policy })
	})

	It("authorises by the client certificate's identity with the node's policy", func() {
		ctx := callCtx()
		root, reader, nobody := dial(n.GRPCAddr(), cfgs["root"]), dial(n.GRPCAddr(), cfgs["reader"]), dial(n.GRPCAddr(), cfgs["nobody"])
		_, err := root.Produce(ctx, &messages.ProduceRequest{Records: values("by root")})
		Expect(err).NotTo(HaveOccurred())

		_, err = reader.Produce(ctx, &messages.ProduceRequest{Records: values("by reader")})
		st := statusOf(err)
		Expect(st.Code()).To(Equal(codes.PermissionDenied))
		un := detail[*messages.Unauthorized](st)
		Expect(un.GetIdentity()).To(Equal("reader"))
		Expect(un.GetAction()).To(Equal("produce"))
		got, err := reader.Consume(ctx, &messages.ConsumeRequest{Offset: 0})
		Expect(err).NotTo(HaveOccurred())
		Expect(got.GetRecords()).To(HaveLen(1), "the refused produce appended nothing")

		_, err = nobody.Consume(ctx, &messages.ConsumeRequest{Offset: 0})
		Expect(codeOf(err)).To(Equal(codes.PermissionDenied))
		s, err := nobody.ConsumeStream(ctx, &messages.ConsumeStreamRequest{Offset: 0})
		Expect(err).NotTo(HaveOccurred())
		_, err = s.Recv()
		Expect(codeOf(err)).To(Equal(codes.PermissionDenied))
		_, err = nobody.GetServers(ctx, &messages.ServersRequest{})
		Expect(codeOf(err)).To(Equal(codes.PermissionDenied))

		// Another node's certificate is a node's: allowed everything.
		_, err = dial(n.GRPCAddr(), cfgs["n9"]).Produce(ctx, &messages.ProduceRequest{Records: values("by a node")})
		Expect(err).NotTo(HaveOccurred())
	})

	It("refuses a plaintext client", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := dial(n.GRPCAddr(), nil).Produce(ctx, &messages.ProduceRequest{Records: values("x")})
		Expect(codeOf(err)).To(Equal(codes.Unavailable))
	})
})

var _ = Describe("Tracing through the gRPC Log service", func() {
	It("continues the caller's W3C trace context from the gRPC metadata", func() {
		rec := tracetest.NewSpanRecorder()
		tp := trace.NewTracerProvider(trace.WithSpanProcessor(rec))
		DeferCleanup(tp.Shutdown, context.Background())
		n := startNode(func(c *node.Config) { c.TracerProvider = tp })
		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		ctx := metadata.AppendToOutgoingContext(callCtx(), "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		_, err := dial(n.GRPCAddr(), nil).Produce(ctx, &messages.ProduceRequest{Records: values("traced")})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []string {
			var names []string
			for _, s := range rec.Ended() {
				if s.SpanContext().TraceID().String() == traceID {
					names = append(names, s.Name())
				}
			}
			return names
		}, 10*time.Second).Should(ContainElements("session.produce", "raft.apply"))
	})

	It("continues the Go client's traces over its gRPC transport", func() {
		nodeRec, clientRec := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
		nodeTP := trace.NewTracerProvider(trace.WithSpanProcessor(nodeRec))
		clientTP := trace.NewTracerProvider(trace.WithSpanProcessor(clientRec))
		DeferCleanup(nodeTP.Shutdown, context.Background())
		DeferCleanup(clientTP.Shutdown, context.Background())
		n := startNode(func(c *node.Config) { c.TracerProvider = nodeTP })
		c, err := client.New(callCtx(), client.Config{Servers: []string{n.GRPCAddr()}, Transport: client.TransportGRPC, TracerProvider: clientTP})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Close)
		_, err = c.Produce(callCtx(), []byte("traced by the client"))
		Expect(err).NotTo(HaveOccurred())
		var produce trace.ReadOnlySpan
		for _, s := range clientRec.Ended() {
			if s.Name() == "actorlog.produce" {
				produce = s
			}
		}
		Expect(produce).NotTo(BeNil(), "the client's span")
		Eventually(func() []string {
			var names []string
			for _, s := range nodeRec.Ended() {
				if s.SpanContext().TraceID() == produce.SpanContext().TraceID() {
					names = append(names, s.Name())
				}
			}
			return names
		}, 10*time.Second).Should(ContainElements("session.produce", "raft.apply"))
	})
})
