package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"actorlog/actors"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

func logStatus(n *Node) *messages.LogStatus {
	GinkgoHelper()
	res, err := n.sys.Root.RequestFuture(n.logPID, &messages.LogStatusRequest{}, askTimeout).Result()
	Expect(err).NotTo(HaveOccurred())
	return res.(*messages.LogStatus)
}

func sessionCount(n *Node) uint32 {
	GinkgoHelper()
	res, err := n.sys.Root.RequestFuture(n.sessions, &messages.SessionsStatusRequest{}, askTimeout).Result()
	Expect(err).NotTo(HaveOccurred())
	return res.(*messages.SessionsStatus).GetSessions()
}

var _ = Describe("A node", func() {
	Describe("Start", func() {
		It("binds kernel-chosen ports and reports the bound addresses", func() {
			n := startNode(testConfig())
			Expect(n.ActorAddr()).To(MatchRegexp(`^127\.0\.0\.1:\d+$`))
			Expect(n.ActorAddr()).NotTo(HaveSuffix(":0"))
			Expect(n.HTTPAddr()).NotTo(HaveSuffix(":0"))
			Expect(n.Healthy()).To(Succeed())
		})

		It("refuses an invalid config naming the field", func() {
			cfg := testConfig()
			cfg.DataDir = ""
			_, err := Start(context.Background(), cfg)
			Expect(err).To(MatchError(ErrInvalidConfig))
			Expect(err.Error()).To(ContainSubstring("DataDir"))
			cfg = testConfig()
			cfg.MaxRecordBytes = 64 << 20
			Expect(cfg.Validate()).To(MatchError(ContainSubstring("MaxRecordBytes")))
			cfg = testConfig()
			cfg.MaxBatchBytes = 200 << 20
			Expect(cfg.Validate()).To(MatchError(ContainSubstring("exceeds the limit of 50331648 bytes that every node's logs store")))
			cfg = testConfig()
			cfg.MaxBatchBytes, cfg.GRPCMaxMessageBytes = 40<<20, 32<<20
			Expect(cfg.Validate()).To(MatchError(ContainSubstring("GRPCMaxMessageBytes")))
			cfg = testConfig()
			cfg.ActorAddr = "nowhere"
			Expect(cfg.Validate()).To(MatchError(ContainSubstring("ActorAddr")))
		})

		It("returns an error, not a panic, when the actor port is taken", func() {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			Expect(err).NotTo(HaveOccurred())
			defer ln.Close()
			cfg := testConfig()
			cfg.ActorAddr = ln.Addr().String()
			_, err = Start(context.Background(), cfg)
			Expect(err).To(MatchError(ErrStart))
		})

		It("refuses a data directory held by another node", func() {
			cfg := testConfig()
			startNode(cfg)
			second := testConfig()
			second.DataDir = cfg.DataDir
			_, err := Start(context.Background(), second)
			Expect(err).To(MatchError(ErrLocked))
		})
	})

	Describe("over the actor remote", func() {
		var (
			n *Node
			c *wireClient
		)
		BeforeEach(func() {
			cfg := testConfig()
			cfg.FaultInjection = true
			n = startNode(cfg)
			c = newWireClient(n)
		})

		It("serves produce, consume and servers requests through a session", func() {
			sess := c.openSession()
			res := c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("hello")}, {Value: []byte("world")}}})
			Expect(res).To(EqualProto(&messages.ProduceResponse{Offsets: []uint64{0, 1}}))
			res = c.ask(sess, &messages.ConsumeRequest{Offset: 0})
			Expect(res).To(BeAssignableToTypeOf(&messages.ConsumeResponse{}))
			cr := res.(*messages.ConsumeResponse)
			Expect(cr.GetRecords()).To(HaveLen(2))
			Expect(string(cr.GetRecords()[1].GetValue())).To(Equal("world"))
			Expect(cr.GetNextOffset()).To(Equal(uint64(2)))
			res = c.ask(sess, &messages.ServersRequest{})
			Expect(res.(*messages.ServersResponse).GetServers()).To(ConsistOf(HaveField("ActorAddress", n.ActorAddr())))
		})

		It("refuses an oversized record with InvalidRequest naming the limit and the field", func() {
			sess := c.openSession()
			big := make([]byte, DefaultMaxRecordBytes+1)
			res := c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("ok")}, {Value: big}}})
			Expect(res).To(BeAssignableToTypeOf(&messages.InvalidRequest{}))
			ir := res.(*messages.InvalidRequest)
			Expect(ir.GetField()).To(Equal("records[1].value"))
			Expect(ir.GetReason()).To(ContainSubstring(fmt.Sprint(DefaultMaxRecordBytes)))
			Expect(c.ask(sess, &messages.ProduceRequest{})).To(HaveField("Field", "records"))
			Expect(logStatus(n).GetNextOffset()).To(BeZero())
		})

		It("pushes a subscription within its credit and ends it when the client goes away", func() {
			sess := c.openSession()
			sub := c.pid("subscriber$1")
			for i := range 20 {
				c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte(fmt.Sprint(i))}}})
			}
			ack := c.ask(sess, &messages.Subscribe{Offset: 0, InitialCredit: 5, SubscriberAddress: sub.GetAddress(), SubscriberId: sub.GetId()})
			Expect(ack).To(BeAssignableToTypeOf(&messages.SubscribeAck{}))
			received := 0
			Eventually(func() int {
				for {
					select {
					case m := <-c.pushes:
						received += len(m.(*messages.SubscriptionRecords).GetRecords())
					default:
						return received
					}
				}
			}).Should(Equal(5))
			Consistently(c.pushes, 200*time.Millisecond).ShouldNot(Receive())
			Expect(sessionCount(n)).To(Equal(uint32(2))) // the client's and the HTTP API's

			c.close()
			Eventually(func() uint32 { return sessionCount(n) }, 10*time.Second).Should(Equal(uint32(1)))
		})

		It("drops garbage and internal messages on the wire and keeps serving", func() {
			sess := c.openSession()
			stream := rawStream(n)
			addr := n.ActorAddr()
			internal, err := proto.Marshal(&messages.InjectSegmentFault{})
			Expect(err).NotTo(HaveOccurred())
			batches := []*remote.MessageBatch{
				// An unknown type name: protoactor alone would dereference nil.
				{TypeNames: []string{"bogus.Nope"}, Targets: []*actor.PID{{Address: addr, Id: actors.SessionsName}},
					Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: []byte{1, 2, 3}}}},
				// Indexes out of range.
				{TypeNames: []string{"actorlog.v1.OpenSession"}, Targets: []*actor.PID{{Address: addr, Id: actors.SessionsName}},
					Envelopes: []*remote.MessageEnvelope{{TypeId: 7, Target: 0}, {TypeId: 0, Target: 9}, {TypeId: 0, Target: 0, Sender: 4}}},
				// An internal command to an internal actor.
				{TypeNames: []string{"actorlog.v1.InjectSegmentFault"}, Targets: []*actor.PID{{Address: addr, Id: actors.LogName}},
					Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: internal}}},
				// A stop for the acceptor.
				{TypeNames: []string{"actor.Stop"}, Targets: []*actor.PID{{Address: addr, Id: actors.SessionsName}},
					Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0}}},
				// A relay through this node to another address.
				{TypeNames: []string{"actorlog.v1.OpenSession"}, Targets: []*actor.PID{{Address: "10.0.0.1:7400", Id: actors.SessionsName}},
					Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0}}},
			}
			for _, b := range batches {
				Expect(stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}})).To(Succeed())
			}
			Eventually(n.guard.dropped.Load).Should(BeNumerically(">=", 7))
			Expect(n.Healthy()).To(Succeed())
			Expect(logStatus(n).GetSegmentRestarts()).To(BeZero())
			Expect(c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("still here")}}})).
				To(EqualProto(&messages.ProduceResponse{Offsets: []uint64{0}}))
			Expect(c.openSession()).NotTo(BeNil())
		})

		It("refuses protoactor's unary methods with Unimplemented and keeps serving", func() {
			sess := c.openSession()
			conn, err := grpc.NewClient(n.ActorAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(conn.Close)
			expectUnaryRefused(remote.NewRemotingClient(conn))
			Expect(n.Healthy()).To(Succeed())
			Expect(c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("alive")}}})).
				To(EqualProto(&messages.ProduceResponse{Offsets: []uint64{0}}))
		})

		It("drops a Terminated about nobody, which would panic protoactor's stream handler", func() {
			sess := c.openSession()
			// protoactor dereferences a Terminated's Who in the stream
			// handler; a client may only send one about its own address.
			data, err := proto.Marshal(&actor.Terminated{})
			Expect(err).NotTo(HaveOccurred())
			stream := rawStream(n)
			dropped := n.guard.dropped.Load()
			Expect(stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: &remote.MessageBatch{
				TypeNames: []string{"actor.Terminated"}, Targets: []*actor.PID{{Address: n.ActorAddr(), Id: actors.SessionsName}},
				Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: data}},
			}}})).To(Succeed())
			Eventually(n.guard.dropped.Load).Should(Equal(dropped + 1))
			Expect(n.guard.recovered.Load()).To(BeZero())
			Expect(n.Healthy()).To(Succeed())
			Expect(c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("alive")}}})).
				To(BeAssignableToTypeOf(&messages.ProduceResponse{}))
		})
	})

	Describe("over HTTP", func() {
		var (
			n    *Node
			base string
		)
		BeforeEach(func() {
			cfg := testConfig()
			cfg.MaxSegmentRestarts = 2
			cfg.FaultInjection = CurrentSpecReport().LeafNodeText == "crashes and recovers a segment on /debug/fault/segment-crash, and turns unhealthy when it keeps failing"
			n = startNode(cfg)
			base = "http://" + n.HTTPAddr()
		})

		It("produces and consumes base64 records", func() {
			b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
			status, out := httpDo("POST", base+"/v1/records", fmt.Sprintf(`{"records":[{"value":%q},{"value":%q}]}`, b64("a"), b64("b")))
			Expect(status).To(Equal(http.StatusOK))
			Expect(out["offsets"]).To(Equal([]any{0.0, 1.0}))
			status, out = httpDo("GET", base+"/v1/records?offset=1&max=10", "")
			Expect(status).To(Equal(http.StatusOK))
			Expect(out["next_offset"]).To(Equal(2.0))
			recs := out["records"].([]any)
			Expect(recs).To(HaveLen(1))
			rec := recs[0].(map[string]any)
			Expect(rec["offset"]).To(Equal(1.0))
			Expect(rec["value"]).To(Equal(b64("b")))
			_, err := time.Parse(time.RFC3339Nano, rec["timestamp"].(string))
			Expect(err).NotTo(HaveOccurred())
		})

		It("wakes a long poll when a record arrives, and times out with no records", func() {
			type result struct {
				status int
				out    map[string]any
			}
			done := make(chan result, 1)
			go func() {
				defer GinkgoRecover()
				s, o := httpDo("GET", base+"/v1/records?offset=0&wait=20s", "")
				done <- result{s, o}
			}()
			Eventually(func() uint32 { return logStatus(n).GetParkedReads() }).Should(Equal(uint32(1)))
			status, _ := httpDo("POST", base+"/v1/records", `{"records":[{"value":"eA=="}]}`)
			Expect(status).To(Equal(http.StatusOK))
			var r result
			Eventually(done).Should(Receive(&r))
			Expect(r.status).To(Equal(http.StatusOK))
			Expect(r.out["records"]).To(HaveLen(1))

			status, out := httpDo("GET", base+"/v1/records?offset=1&wait=300ms", "")
			Expect(status).To(Equal(http.StatusOK))
			Expect(out["records"]).To(BeEmpty())
			Expect(out["next_offset"]).To(Equal(1.0))
		})

		DescribeTable("answers bad input with a 4xx JSON error",
			func(method, path, body string, want int, code string) {
				status, out := httpDo(method, base+path, body)
				Expect(status).To(Equal(want))
				Expect(out).To(HaveKeyWithValue("error", HaveKeyWithValue("code", code)))
				Expect(out["error"]).To(HaveKey("message"))
			},
			Entry("a negative offset", "GET", "/v1/records?offset=-1", "", 400, "invalid_request"),
			Entry("a non-numeric max", "GET", "/v1/records?max=lots", "", 400, "invalid_request"),
			Entry("a bad wait", "GET", "/v1/records?wait=soon", "", 400, "invalid_request"),
			Entry("an offset past the end", "GET", "/v1/records?offset=99", "", 416, "offset_out_of_range"),
			Entry("an offset at the end without wait", "GET", "/v1/records?offset=0", "", 416, "offset_out_of_range"),
			Entry("malformed JSON", "POST", "/v1/records", `{"records":[`, 400, "invalid_request"),
			Entry("an unknown field", "POST", "/v1/records", `{"recs":[]}`, 400, "invalid_request"),
			Entry("bad base64", "POST", "/v1/records", `{"records":[{"value":"***"}]}`, 400, "invalid_request"),
			Entry("an empty batch", "POST", "/v1/records", `{"records":[]}`, 400, "invalid_request"),
			Entry("trailing data", "POST", "/v1/records", `{"records":[{"value":"eA=="}]} {}`, 400, "invalid_request"),
			Entry("an oversized record", "POST", "/v1/records",
				`{"records":[{"value":"`+base64.StdEncoding.EncodeToString(make([]byte, DefaultMaxRecordBytes+1))+`"}]}`, 413, "payload_too_large"),
			Entry("an unknown path", "GET", "/v2/nothing", "", 404, "not_found"),
			Entry("a wrong method", "DELETE", "/v1/records", "", 405, "method_not_allowed"),
			Entry("fault injection while disabled", "POST", "/debug/fault/segment-crash", "", 404, "not_found"),
		)

		It("refuses a body larger than the batch limit with 413", func() {
			huge := `{"records":[{"value":"` + strings.Repeat("A", int(base64.StdEncoding.EncodedLen(int(DefaultMaxBatchBytes)))+5<<20) + `"}]}`
			status, out := httpDo("POST", base+"/v1/records", huge)
			Expect(status).To(Equal(http.StatusRequestEntityTooLarge))
			Expect(out["error"]).To(HaveKeyWithValue("code", "payload_too_large"))
		})

		It("reports health on /healthz", func() {
			status, out := httpDo("GET", base+"/healthz", "")
			Expect(status).To(Equal(http.StatusOK))
			Expect(out["status"]).To(Equal("ok"))
		})

		It("crashes and recovers a segment on /debug/fault/segment-crash, and turns unhealthy when it keeps failing", func() {
			status, _ := httpDo("POST", base+"/v1/records", `{"records":[{"value":"a2VwdA=="}]}`)
			Expect(status).To(Equal(http.StatusOK))
			for i := range 3 {
				status, out := httpDo("POST", base+"/debug/fault/segment-crash", "")
				Expect(status).To(Equal(http.StatusOK), "%v", out)
				Eventually(func() uint64 { return logStatus(n).GetSegmentRestarts() }).Should(Equal(uint64(i + 1)))
				if i < 2 {
					Eventually(n.Healthy).Should(Succeed())
					s, o := httpDo("GET", base+"/v1/records?offset=0", "")
					Expect(s).To(Equal(http.StatusOK), "%v", o)
				}
			}
			Eventually(func() int { s, _ := httpDo("GET", base+"/healthz", ""); return s }).Should(Equal(http.StatusServiceUnavailable))
			_, out := httpDo("GET", base+"/healthz", "")
			Expect(out["reason"]).To(ContainSubstring("failed 3 times"))
			Expect(n.Healthy()).To(MatchError(ErrUnhealthy))
			status, out = httpDo("POST", base+"/v1/records", `{"records":[{"value":"eA=="}]}`)
			Expect(status).To(Equal(http.StatusServiceUnavailable))
			Expect(out["error"]).To(HaveKeyWithValue("code", "unavailable"))
		})
	})

	Describe("Stop", func() {
		It("is idempotent, waits, and leaves no goroutine behind", func() {
			before := gleak.Goroutines()
			cfg := testConfig()
			n, err := Start(context.Background(), cfg)
			Expect(err).NotTo(HaveOccurred())
			c := newWireClient(n)
			sess := c.openSession()
			Expect(c.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("x")}}})).
				To(BeAssignableToTypeOf(&messages.ProduceResponse{}))
			status, _ := httpDo("GET", "http://"+n.HTTPAddr()+"/v1/records?offset=0", "")
			Expect(status).To(Equal(http.StatusOK))
			// A long poll in flight is answered by the shutdown, not left hanging.
			poll := make(chan any, 1)
			go func() {
				defer GinkgoRecover()
				res, err := c.request(sess, &messages.ConsumeRequest{Offset: 1, WaitMs: 20000}, 20*time.Second)
				Expect(err).NotTo(HaveOccurred())
				poll <- res
			}()
			Eventually(func() uint32 { return logStatus(n).GetParkedReads() }).Should(Equal(uint32(1)))

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					defer GinkgoRecover()
					Expect(n.Stop(ctx)).To(Succeed())
				})
			}
			wg.Wait()
			Expect(n.Done()).To(BeClosed())
			Expect(n.Stop(ctx)).To(Succeed())
			Expect(n.Healthy()).To(MatchError(ErrStopped))
			var res any
			Eventually(poll).Should(Receive(&res))
			Expect(res).To(EqualProto(&messages.ConsumeResponse{NextOffset: 1}))

			c.close()
			httpClient.CloseIdleConnections()
			Eventually(gleak.Goroutines, 10*time.Second).ShouldNot(gleak.HaveLeaked(before))

			// The data is there for the next node on the same directory.
			n2 := startNode(cfg)
			Expect(logStatus(n2).GetNextOffset()).To(Equal(uint64(1)))
		})

		It("refuses work once stopping with a typed error", func() {
			n := startNode(testConfig())
			Expect(n.Stop(context.Background())).To(Succeed())
			Expect(errors.Is(n.Healthy(), ErrStopped)).To(BeTrue())
		})
	})
})
