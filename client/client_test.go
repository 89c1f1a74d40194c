package client_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"time"

	"actorlog/client"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func ctxFor(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	DeferCleanup(cancel)
	return ctx
}

var _ = Describe("Client", func() {
	Describe("connecting", func() {
		It("rejects a bad configuration naming the field", func() {
			_, err := client.New(ctxFor(time.Second), client.Config{Servers: []string{"no-port"}})
			var inv *client.InvalidRequestError
			Expect(errors.As(err, &inv)).To(BeTrue())
			Expect(inv.Field).To(Equal("Servers[0]"))
		})

		It("gives up on an unreachable cluster by the deadline, saying it is unavailable", func() {
			start := time.Now()
			_, err := client.New(ctxFor(2*time.Second), client.Config{Servers: []string{"127.0.0.1:1"}})
			Expect(time.Since(start)).To(BeNumerically("<", 3*time.Second))
			Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "%v", err)
			Expect(errors.Is(err, client.ErrUnavailable)).To(BeTrue(), "%v", err)
		})
	})

	Describe("against one node", func() {
		var addr string
		BeforeEach(func() {
			addr = startNode(GinkgoT().TempDir(), "").ActorAddr()
		})

		It("appends records at dense offsets and reads them back", func() {
			c := newClient(client.Config{}, addr)
			offs, err := c.Produce(ctxFor(10*time.Second), values("a", 10)...)
			Expect(err).NotTo(HaveOccurred())
			Expect(offs).To(Equal([]uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}))

			res, err := c.Consume(ctxFor(10*time.Second), 3, client.ConsumeOptions{MaxRecords: 4})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.NextOffset).To(Equal(uint64(10)))
			Expect(res.Records).To(HaveLen(4))
			for i, r := range res.Records {
				Expect(r.Offset).To(Equal(uint64(3 + i)))
				Expect(string(r.Value)).To(Equal("a-" + itoa(3+i)))
				Expect(r.Timestamp).NotTo(BeZero())
			}
		})

		It("reports reading at the end as OffsetOutOfRange with the log's bounds", func() {
			c := newClient(client.Config{}, addr)
			_, err := c.Produce(ctxFor(10*time.Second), values("b", 2)...)
			Expect(err).NotTo(HaveOccurred())
			_, err = c.Consume(ctxFor(10*time.Second), 2, client.ConsumeOptions{})
			var oor *client.OffsetOutOfRangeError
			Expect(errors.As(err, &oor)).To(BeTrue(), "%v", err)
			Expect(oor.Offset).To(Equal(uint64(2)))
			Expect(oor.Next).To(Equal(uint64(2)))
		})

		It("long-polls at the end until a record arrives", func() {
			c := newClient(client.Config{}, addr)
			got := make(chan *client.ConsumeResult, 1)
			go func() {
				defer GinkgoRecover()
				res, err := c.Consume(ctxFor(20*time.Second), 0, client.ConsumeOptions{Wait: 10 * time.Second})
				Expect(err).NotTo(HaveOccurred())
				got <- res
			}()
			Consistently(got, 200*time.Millisecond).ShouldNot(Receive())
			_, err := c.Produce(ctxFor(10*time.Second), []byte("late"))
			Expect(err).NotTo(HaveOccurred())
			var res *client.ConsumeResult
			Eventually(got, 5*time.Second).Should(Receive(&res))
			Expect(res.Records).To(HaveLen(1))
			Expect(string(res.Records[0].Value)).To(Equal("late"))
		})

		It("rejects a value above the record limit locally, naming it, and appends nothing", func() {
			c := newClient(client.Config{}, addr)
			limits, err := c.Limits(ctxFor(10 * time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(limits.MaxRecordBytes).To(BeNumerically(">", 0))
			_, err = c.Produce(ctxFor(10*time.Second), []byte("ok"), []byte("ok"), make([]byte, limits.MaxRecordBytes+1))
			var inv *client.InvalidRequestError
			Expect(errors.As(err, &inv)).To(BeTrue(), "%v", err)
			Expect(inv.Field).To(Equal("values[2]"))
			_, err = c.Consume(ctxFor(10*time.Second), 0, client.ConsumeOptions{})
			var oor *client.OffsetOutOfRangeError
			Expect(errors.As(err, &oor)).To(BeTrue(), "nothing may have been appended: %v", err)
		})

		It("splits a produce larger than one request into several, keeping the order of offsets", func() {
			c := newClient(client.Config{MaxBatchBytes: 4 << 10, MaxBatchRecords: 7}, addr)
			vals := make([][]byte, 300)
			for i := range vals {
				vals[i] = []byte(strings.Repeat(itoa(i%10), 100) + "-" + itoa(i))
			}
			offs, err := c.Produce(ctxFor(20*time.Second), vals...)
			Expect(err).NotTo(HaveOccurred())
			Expect(offs).To(HaveLen(300))
			seen := map[uint64]bool{}
			for i, off := range offs {
				Expect(seen[off]).To(BeFalse(), "offset %d twice", off)
				seen[off] = true
				res, err := c.Consume(ctxFor(10*time.Second), off, client.ConsumeOptions{MaxRecords: 1})
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Records[0].Value).To(Equal(vals[i]))
			}
			Expect(logEnd(c)).To(Equal(uint64(300)))
		})

		It("lists the node as the leader", func() {
			c := newClient(client.Config{}, addr)
			servers, err := c.Servers(ctxFor(10 * time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(servers).To(HaveLen(1))
			Expect(servers[0].ActorAddr).To(Equal(addr))
			Expect(servers[0].IsLeader).To(BeTrue())
		})

		It("holds a subscriber to the credit it grants, then delivers everything in order", func() {
			c := newClient(client.Config{}, addr)
			sub, err := c.Subscribe(ctxFor(10*time.Second), 0, client.SubscribeOptions{Buffer: 8})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(sub.Close)
			_, err = c.Produce(ctxFor(10*time.Second), values("s", 200)...)
			Expect(err).NotTo(HaveOccurred())
			Eventually(sub.Buffered, 5*time.Second).Should(Equal(8))
			Consistently(sub.Received, 300*time.Millisecond).Should(BeNumerically("<=", 8))
			for i := range 200 {
				r, err := sub.Next(ctxFor(5 * time.Second))
				Expect(err).NotTo(HaveOccurred())
				Expect(r.Offset).To(Equal(uint64(i)))
				Expect(string(r.Value)).To(Equal("s-" + itoa(i)))
			}
			Expect(sub.Close()).To(Succeed())
			_, err = sub.Next(ctxFor(time.Second))
			Expect(errors.Is(err, client.ErrSubscriptionEnded)).To(BeTrue(), "%v", err)
		})

		It("closes idempotently, fails later calls with ErrClosed and leaves no goroutine behind", func() {
			c := newClient(client.Config{}, addr)
			sub, err := c.Subscribe(ctxFor(10*time.Second), 0, client.SubscribeOptions{})
			Expect(err).NotTo(HaveOccurred())
			_, err = c.Produce(ctxFor(10*time.Second), []byte("x"))
			Expect(err).NotTo(HaveOccurred())
			Expect(c.Close()).To(Succeed())
			Expect(c.Close()).To(Succeed())
			_, err = c.Produce(ctxFor(time.Second), []byte("y"))
			Expect(errors.Is(err, client.ErrClosed)).To(BeTrue(), "%v", err)
			_, err = c.Consume(ctxFor(time.Second), 0, client.ConsumeOptions{})
			Expect(errors.Is(err, client.ErrClosed)).To(BeTrue(), "%v", err)
			_, err = sub.Next(ctxFor(time.Second))
			Expect(err).To(HaveOccurred())
			Eventually(clientGoroutines, 5*time.Second).Should(BeEmpty())
		})
	})

	Describe("its own listener", func() {
		It("survives a message type it does not know, and keeps serving replies", func() {
			addr := startNode(GinkgoT().TempDir(), "").ActorAddr()
			c := newClient(client.Config{}, addr)

			conn, err := grpc.NewClient(c.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			Expect(err).NotTo(HaveOccurred())
			defer conn.Close()
			stream, err := remote.NewRemotingClient(conn).Receive(ctxFor(5 * time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
				ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
					ServerConnection: &remote.ServerConnection{SystemId: "stranger", Address: "127.0.0.1:1"},
				}},
			}})).To(Succeed())
			_, err = stream.Recv()
			Expect(err).NotTo(HaveOccurred())
			Expect(stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: &remote.MessageBatch{
				TypeNames: []string{"nobody.knows.This"},
				Targets:   []*actor.PID{{Address: c.Addr(), Id: "whatever"}},
				Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: []byte{1}}},
			}}})).To(Succeed())
			_, err = stream.Recv()
			Expect(err).To(HaveOccurred(), "the crashed stream is closed")

			offs, err := c.Produce(ctxFor(10*time.Second), []byte("still here"))
			Expect(err).NotTo(HaveOccurred())
			Expect(offs).To(Equal([]uint64{0}))
		})

		It("refuses protoactor's unary methods with Unimplemented, and keeps serving replies", func() {
			addr := startNode(GinkgoT().TempDir(), "").ActorAddr()
			c := newClient(client.Config{}, addr)

			conn, err := grpc.NewClient(c.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			Expect(err).NotTo(HaveOccurred())
			defer conn.Close()
			// protoactor's own handlers panic with "implement me", which
			// grpc-go does not recover: unguarded, the process would die.
			rc := remote.NewRemotingClient(conn)
			_, err = rc.ListProcesses(ctxFor(5*time.Second), &remote.ListProcessesRequest{Pattern: "*"})
			Expect(status.Code(err)).To(Equal(codes.Unimplemented), "ListProcesses: %v", err)
			_, err = rc.GetProcessDiagnostics(ctxFor(5*time.Second), &remote.GetProcessDiagnosticsRequest{Pid: actor.NewPID(c.Addr(), "x")})
			Expect(status.Code(err)).To(Equal(codes.Unimplemented), "GetProcessDiagnostics: %v", err)

			offs, err := c.Produce(ctxFor(10*time.Second), []byte("still here"))
			Expect(err).NotTo(HaveOccurred())
			Expect(offs).To(Equal([]uint64{0}))
		})
	})

	Describe("when the node ends an idle session", func() {
		It("opens a new one and goes on", func() {
			n := startNode(GinkgoT().TempDir(), "", "--session-idle-timeout", "200ms", "--log-level", "debug")
			c := newClient(client.Config{}, n.ActorAddr())
			_, err := c.Produce(ctxFor(10*time.Second), []byte("first"))
			Expect(err).NotTo(HaveOccurred())
			Eventually(n.session.Err, 10*time.Second).Should(gbytes.Say("session idle; closing it"))
			offs, err := c.Produce(ctxFor(10*time.Second), []byte("second"))
			Expect(err).NotTo(HaveOccurred())
			Expect(offs).To(Equal([]uint64{1}))
		})
	})

	Describe("with a dead server in its list", func() {
		It("fails over to the next server quickly", func() {
			addr := startNode(GinkgoT().TempDir(), "").ActorAddr()
			start := time.Now()
			c := newClient(client.Config{}, "127.0.0.1:1", addr)
			offs, err := c.Produce(ctxFor(10*time.Second), []byte("via the second server"))
			Expect(err).NotTo(HaveOccurred())
			Expect(offs).To(Equal([]uint64{0}))
			Expect(time.Since(start)).To(BeNumerically("<", 2*time.Second), "a refused connection must not cost protoactor's dial retries")
		})
	})

	Describe("across a node restart", func() {
		It("reopens its session and resumes its subscription where it was", func() {
			dir := GinkgoT().TempDir()
			n := startNode(dir, "")
			addr := n.ActorAddr()
			c := newClient(client.Config{}, addr)
			sub, err := c.Subscribe(ctxFor(10*time.Second), 0, client.SubscribeOptions{Buffer: 16, Heartbeat: 200 * time.Millisecond})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(sub.Close)
			_, err = c.Produce(ctxFor(10*time.Second), values("before", 5)...)
			Expect(err).NotTo(HaveOccurred())
			for i := range 5 {
				r, err := sub.Next(ctxFor(5 * time.Second))
				Expect(err).NotTo(HaveOccurred())
				Expect(r.Offset).To(Equal(uint64(i)))
			}

			n.Stop()
			startNode(dir, addr) // same data, same address

			offs, err := c.Produce(ctxFor(20*time.Second), values("after", 5)...)
			Expect(err).NotTo(HaveOccurred())
			Expect(offs[0]).To(Equal(uint64(5)))
			for i := 5; i < 10; i++ {
				r, err := sub.Next(ctxFor(20 * time.Second))
				Expect(err).NotTo(HaveOccurred())
				Expect(r.Offset).To(Equal(uint64(i)))
				Expect(string(r.Value)).To(Equal("after-" + itoa(i-5)))
			}
		})
	})
})

// logEnd is the log's next offset as the client sees it.
func logEnd(c *client.Client) uint64 {
	_, err := c.Consume(ctxFor(10*time.Second), 1<<62, client.ConsumeOptions{})
	var oor *client.OffsetOutOfRangeError
	Expect(errors.As(err, &oor)).To(BeTrue(), "%v", err)
	return oor.Next
}

// clientGoroutines lists the goroutines still running code of this package,
// protoactor or gRPC (the test itself aside). Nodes run in other processes,
// so once every client is closed there must be none.
func clientGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		mine := strings.Contains(g, "actorlog/client.") || strings.Contains(g, "protoactor-go") || strings.Contains(g, "google.golang.org/grpc")
		if mine && !strings.Contains(g, "client_test") {
			out = append(out, g)
		}
	}
	return out
}
