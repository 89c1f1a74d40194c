package specs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/client"
	"actorlog/grpcroute"
	"actorlog/messages"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// grpcAddrs are the nodes' gRPC Log service addresses.
func (c *testCluster) grpcAddrs() []string {
	out := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = nd.grpcAddr
	}
	return out
}

// grpcConn dials target (an address, or an actorlog:// target) with a
// plain grpc-go client, as any program would.
func grpcConn(target string) messages.LogClient {
	GinkgoHelper()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(conn.Close)
	return messages.NewLogClient(conn)
}

// grpcClient is the Go client with the gRPC transport.
func grpcClient(servers []string) *client.Client {
	GinkgoHelper()
	return clusterClient(servers, func(cfg *client.Config) { cfg.Transport = client.TransportGRPC })
}

func specCtx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	DeferCleanup(cancel)
	return ctx
}

// tcpProxy forwards every connection on its own port to one target, and
// counts the connections it carried.
type tcpProxy struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

func startProxy(target string) *tcpProxy {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	p := &tcpProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	DeferCleanup(func() {
		_ = ln.Close()
		// Open connections end when the client closes them (its own
		// cleanup, registered later, runs first).
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// sessionCounts are the requests the node's sessions served, whatever the
// door (actor remote, gRPC, HTTP): actorlog_*_requests_total of /metrics.
func (nd *clusterNode) sessionCounts() requestCounts {
	GinkgoHelper()
	resp, err := http.Get("http://" + nd.httpAddr + "/metrics")
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	var rc requestCounts
	for _, line := range strings.Split(string(raw), "\n") {
		var v float64
		if _, err := fmt.Sscanf(line, "actorlog_produce_requests_total %g", &v); err == nil {
			rc.Produces = uint64(v)
		}
		if _, err := fmt.Sscanf(line, "actorlog_consume_requests_total %g", &v); err == nil {
			rc.Consumes = uint64(v)
		}
	}
	return rc
}

var _ = Describe("The gRPC Log service in a 3-node cluster", Ordered, func() {
	var c *testCluster
	BeforeAll(func() { c = startCluster(3) })

	It("lists every member with its gRPC address and the leader marked", func() {
		log := grpcConn(c.nodes[1].grpcAddr)
		leader := c.leader()
		// A member's addresses are in the list once its member entry has
		// been applied, shortly after it joined.
		Eventually(func(g Gomega) {
			res, err := log.GetServers(specCtx(10*time.Second), &messages.ServersRequest{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.GetServers()).To(HaveLen(3))
			for _, s := range res.GetServers() {
				nd := c.byID(s.GetId())
				g.Expect(nd).NotTo(BeNil())
				g.Expect(s.GetGrpcAddress()).To(Equal(nd.grpcAddr))
				g.Expect(s.GetIsLeader()).To(Equal(nd == leader))
			}
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	})

	It("routes a grpc-go program's produces to the leader and its reads to the followers (actorlog:// resolver)", func() {
		// One seed is enough: the resolver learns the others.
		log := grpcConn(grpcroute.Scheme + ":///" + c.nodes[2].grpcAddr)
		ctx := specCtx(60 * time.Second)
		leader := c.leader()
		counts := func() map[string]requestCounts {
			out := map[string]requestCounts{}
			for _, nd := range c.nodes {
				out[nd.id] = nd.sessionCounts()
			}
			return out
		}
		// The resolver connects to every member in the background; until
		// it has, calls go to the members it has. Once it has, every
		// round routes the same way.
		Eventually(func(g Gomega) {
			before := counts()
			res, err := log.Produce(ctx, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("routed")}}})
			g.Expect(err).NotTo(HaveOccurred())
			c.waitNext(res.GetOffsets()[0] + 1)
			for range 6 {
				_, err := log.Consume(ctx, &messages.ConsumeRequest{Offset: res.GetOffsets()[0]})
				g.Expect(err).NotTo(HaveOccurred())
			}
			after := counts()
			g.Expect(after[leader.id].Produces-before[leader.id].Produces).To(Equal(uint64(1)), "produces go to the leader")
			g.Expect(after[leader.id].Consumes-before[leader.id].Consumes).To(BeZero(), "reads go to the followers")
			for _, f := range c.followers() {
				g.Expect(after[f.id].Produces - before[f.id].Produces).To(BeZero())
				g.Expect(after[f.id].Consumes-before[f.id].Consumes).To(Equal(uint64(3)), "reads alternate between the followers: %s", f.id)
			}
		}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("serves the Go client's gRPC transport: produce, consume and a subscription", func() {
		gc := grpcClient(c.grpcAddrs()[:1])
		Expect(gc.Addr()).To(BeEmpty(), "no listener of its own")
		servers, err := gc.Servers(specCtx(10 * time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(servers).To(HaveLen(3))
		values := uniqueValues("go-grpc", 50)
		offs := produceAll(gc, values)
		c.waitNext(offs[len(offs)-1] + 1)
		res, err := gc.Consume(specCtx(10*time.Second), offs[0], client.ConsumeOptions{MaxRecords: 50})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Records).To(HaveLen(50))
		Expect(res.Records[49].Value).To(Equal(values[49]))

		sub, err := gc.Subscribe(specCtx(10*time.Second), offs[0], client.SubscribeOptions{Buffer: 16})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(sub.Close)
		for i := range values {
			r, err := sub.Next(specCtx(20 * time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Offset).To(Equal(offs[i]))
		}
		more := produceAll(gc, uniqueValues("go-grpc-more", 3))
		r, err := sub.Next(specCtx(20 * time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Offset).To(Equal(more[0]))

		_, err = gc.Consume(specCtx(10*time.Second), 1<<40, client.ConsumeOptions{})
		var oor *client.OffsetOutOfRangeError
		Expect(errors.As(err, &oor)).To(BeTrue(), "%v", err)
		Expect(oor.Next).To(Equal(more[2] + 1))
	})

	It("serves a client that reaches one node only through a TCP proxy of one port", func() {
		follower := c.followers()[0]
		proxy := startProxy(follower.grpcAddr)
		// A plain address: no resolver, no dial-back, only the proxy.
		log := grpcConn("passthrough:///" + proxy.addr())
		ctx := specCtx(60 * time.Second)
		res, err := log.Produce(ctx, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("through the proxy")}}})
		Expect(err).NotTo(HaveOccurred(), "the follower forwards it to the leader")
		off := res.GetOffsets()[0]
		c.waitNext(off + 1)
		got, err := log.Consume(ctx, &messages.ConsumeRequest{Offset: off})
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got.GetRecords()[0].GetValue())).To(Equal("through the proxy"))

		stream, err := log.ConsumeStream(ctx, &messages.ConsumeStreamRequest{Offset: off})
		Expect(err).NotTo(HaveOccurred())
		first, err := stream.Recv()
		Expect(err).NotTo(HaveOccurred())
		Expect(first.GetRecords()[0].GetOffset()).To(Equal(off))
		ps, err := log.ProduceStream(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(ps.Send(&messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("streamed through the proxy")}}})).To(Succeed())
		pr, err := ps.Recv()
		Expect(err).NotTo(HaveOccurred())
		Expect(pr.GetOffsets()).To(Equal([]uint64{off + 1}))
		next, err := stream.Recv()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(next.GetRecords()[0].GetValue())).To(Equal("streamed through the proxy"))
		Expect(proxy.conns.Load()).To(Equal(int64(1)), "one connection carried everything")
	})
})

var _ = Describe("gRPC streams across a change of leader", func() {
	It("reports Unavailable on an open ProduceStream when the leader dies, and a retry with the same producer id and sequences appends nothing twice", func() {
		c := startCluster(3)
		leader := c.leader()
		stream, err := grpcConn("passthrough:///" + leader.grpcAddr).ProduceStream(specCtx(2 * time.Minute))
		Expect(err).NotTo(HaveOccurred())
		const producer, total, window = "failover-producer", 400, 16
		value := func(seq int) []byte { return fmt.Appendf(nil, "failover-%d", seq) }
		req := func(seq int) *messages.ProduceRequest {
			return &messages.ProduceRequest{Records: []*messages.Record{{Value: value(seq)}}, ProducerId: producer, Sequence: uint64(seq)}
		}
		// At most window requests unanswered: well inside the cluster's
		// memory of a producer's recent sequences.
		acked := make(chan int, total)
		sendErr := make(chan error, 1)
		credit := make(chan struct{}, window)
		for range window {
			credit <- struct{}{}
		}
		go func() {
			defer GinkgoRecover()
			for seq := 1; seq <= total; seq++ {
				<-credit
				if err := stream.Send(req(seq)); err != nil {
					sendErr <- err
					return
				}
			}
		}()
		var recvErr error
		answered := 0
		for answered < total {
			if answered == 100 {
				leader.kill9()
			}
			if _, err := stream.Recv(); err != nil {
				recvErr = err
				break
			}
			answered++
			acked <- answered
			credit <- struct{}{}
		}
		Expect(recvErr).To(HaveOccurred(), "the stream must fail when its node dies")
		Expect(status.Code(recvErr)).To(Equal(codes.Unavailable))
		Expect(answered).To(BeNumerically(">=", 100))

		// Retry everything unanswered, with the same producer id and
		// sequences, through the resolver to whoever leads now.
		var live []string
		for _, nd := range c.running() {
			live = append(live, nd.grpcAddr)
		}
		retry := grpcConn(grpcroute.Scheme + ":///" + live[0] + "," + live[1])
		ctx := specCtx(2 * time.Minute)
		for seq := answered + 1; seq <= total; seq++ {
			Eventually(func() error {
				_, err := retry.Produce(ctx, req(seq))
				return err
			}, 60*time.Second, 100*time.Millisecond).Should(Succeed())
		}
		// The retried sequences that had committed before the crash were
		// answered with their original offsets: every value is in the log
		// exactly once, in sequence order.
		log := c.sameLogEverywhere(total)
		for i, v := range log {
			Expect(string(v)).To(Equal(string(value(i+1))), "offset %d", i)
		}
	})

	It("keeps a ConsumeStream on a follower going across a change of leader", func() {
		c := startCluster(3)
		leader := c.leader()
		follower := c.followers()[0]
		gc := grpcClient(c.grpcAddrs())
		before := produceAll(gc, uniqueValues("before", 10))
		stream, err := grpcConn("passthrough:///"+follower.grpcAddr).ConsumeStream(specCtx(2*time.Minute), &messages.ConsumeStreamRequest{Offset: before[0]})
		Expect(err).NotTo(HaveOccurred())
		next := before[0]
		read := func(until uint64) {
			GinkgoHelper()
			for next < until {
				res, err := stream.Recv()
				Expect(err).NotTo(HaveOccurred())
				for _, r := range res.GetRecords() {
					Expect(r.GetOffset()).To(Equal(next), "in order, without gaps")
					next++
				}
			}
		}
		read(before[9] + 1)

		leader.kill9()
		Eventually(c.settled, 60*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(c.leader()).NotTo(Equal(leader))
		after := produceAll(gc, uniqueValues("after", 10))
		read(after[9] + 1)
	})
})

var _ = Describe("gRPC clients that find the nodes in Consul", func() {
	It("resolves actorlog:///?consul= to the members' gRPC addresses, and follows a member that leaves", func() {
		consul := startConsul()
		c := startConsulCluster(consul.Addr(), 3)
		// The members register their gRPC addresses in Consul.
		Eventually(func() (map[string]string, error) {
			ms, err := consulMembers(consul.Addr())
			out := map[string]string{}
			for id, m := range ms {
				out[id] = m.GRPCAddr
			}
			return out, err
		}, 30*time.Second, 200*time.Millisecond).Should(Equal(map[string]string{
			"k1": c.nodes[0].grpcAddr, "k2": c.nodes[1].grpcAddr, "k3": c.nodes[2].grpcAddr}))

		gc := clusterClient(nil, func(cfg *client.Config) {
			cfg.Transport = client.TransportGRPC
			cfg.Consul = consul.Addr()
		})
		offs := produceAll(gc, uniqueValues("via-consul", 5))
		c.waitNext(offs[4] + 1)
		res, err := gc.Consume(specCtx(20*time.Second), offs[0], client.ConsumeOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Records).To(HaveLen(5))

		// The leader dies: the client finds the new one by itself.
		c.leader().kill9()
		Eventually(c.settled, 60*time.Second, 100*time.Millisecond).Should(Succeed())
		more := produceAll(gc, uniqueValues("via-consul-after", 5))
		Expect(more[0]).To(Equal(offs[4] + 1))
	})
})

var _ = Describe("A gRPC subscription of the Go client", func() {
	It("goes on from the next offset on another member when its node dies", func() {
		c := startCluster(3)
		gc := grpcClient(c.grpcAddrs())
		first := produceAll(gc, uniqueValues("sub-before", 20))
		sub, err := gc.Subscribe(specCtx(20*time.Second), first[0], client.SubscribeOptions{Buffer: 8})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(sub.Close)
		next := first[0]
		read := func(until uint64) {
			GinkgoHelper()
			for next < until {
				r, err := sub.Next(specCtx(60 * time.Second))
				Expect(err).NotTo(HaveOccurred())
				Expect(r.Offset).To(Equal(next), "in order, without gaps or repeats")
				next++
			}
		}
		read(first[19] + 1)
		// Reads go to the followers: kill both in turn, so the stream's
		// node is certainly among them, one at a time so the cluster keeps
		// its majority.
		for _, f := range c.followers() {
			f.kill9()
			more := produceAll(gc, uniqueValues("sub-after-"+f.id, 10))
			read(more[9] + 1)
			f.start()
			c.waitSettled()
		}
	})
})
