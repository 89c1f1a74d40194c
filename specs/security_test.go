package specs

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"actorlog/client"
	"actorlog/discovery"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	consulapi "github.com/hashicorp/consul/api"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The attacks of README "Security" (issue: an identity with no grants must
// not exhaust, redirect or wedge a node), each from `nobody` (no grant)
// against a TLS node whose policy lets `root` do everything. Each spec
// checks that the node's open files, goroutines and memory stay bounded,
// that root keeps being served, and that nothing was written.
var _ = Describe("Security: an identity with no grants", Ordered, func() {
	var (
		set     certSet
		node    *agent
		root    *client.Client
		nobody  *tls.Config
		https   *http.Client // root's, for the HTTP API
		metrics string
		before  uint64
		base    usage
	)
	sessionsActor := func() *actor.PID { return &actor.PID{Address: node.actorAddr, Id: "sessions"} }
	current := func() (usage, error) { return processUsage(node.pid(), https, metrics) }

	BeforeAll(func() {
		tmp := GinkgoT().TempDir()
		set = makeCerts(filepath.Join(tmp, "certs"), "--nodes", "1")
		node = startAgent("n1", filepath.Join(tmp, "n1"), append(set.flags("n1"), "--acl-policy", set.file("policy.csv"))...)
		nobody = loadTLS(set.files("nobody"))
		https = httpsClient(set, set, "root")
		metrics = "https://" + node.httpAddr + "/metrics"
		var err error
		root, err = tlsClient([]string{node.actorAddr}, loadTLS(set.files("root")))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(root.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err = root.Produce(ctx, []byte("before the attack"))
		Expect(err).NotTo(HaveOccurred())
	})

	BeforeEach(func() {
		before = nextOffset(root)
		Eventually(func() error {
			var err error
			base, err = current()
			return err
		}, 20*time.Second).Should(Succeed())
	})

	AfterEach(func() {
		By("keeping the node up, bounded, serving root, with nothing written by the attacker")
		Expect(node.session).NotTo(gexec.Exit())
		Consistently(func() error {
			now, err := current()
			if err != nil {
				return err
			}
			return boundedGrowth(base, now)
		}, 3*time.Second, 500*time.Millisecond).Should(Succeed())
		now, _ := current()
		fmt.Fprintf(GinkgoWriter, "node usage before: %s; after: %s\n", base, now)
		Expect(nextOffset(root)).To(Equal(before))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		offs, err := root.Produce(ctx, []byte("root after the attack"))
		Expect(err).NotTo(HaveOccurred())
		Expect(offs).To(Equal([]uint64{before}))
		before++
	})

	It("opens no connection for spoofed Terminated, Watch and Unwatch notices (finding 1)", func() {
		n := hostileMessages()
		_, port, _ := strings.Cut(node.actorAddr, ":")
		a := newAttacker(node.actorAddr, nobody, "127.0.0.1:1")
		var envs []envelope
		for i := range n {
			// The node's own port written with i leading zeros: a new
			// address each time, which reaches the node itself.
			spoofed := &actor.PID{Address: "127.0.0.1:" + strings.Repeat("0", 1+i%2000) + port, Id: "x" + strconv.Itoa(i)}
			switch i % 3 {
			case 0:
				envs = append(envs, envelope{"actor.Terminated", sessionsActor(), nil, &actor.Terminated{Who: spoofed}})
			case 1:
				envs = append(envs, envelope{"actor.Watch", sessionsActor(), nil, &actor.Watch{Watcher: spoofed}})
			default:
				envs = append(envs, envelope{"actor.Unwatch", sessionsActor(), nil, &actor.Unwatch{Watcher: spoofed}})
			}
		}
		_ = a.sendAll(envs)

		By("announcing such an address gets the stream refused")
		b := newAttacker(node.actorAddr, nobody, "127.0.0.1:000"+port)
		Eventually(func() error {
			_, err := b.stream.Recv()
			return err
		}, 10*time.Second).Should(MatchError(ContainSubstring("announced address")))
	})

	It("holds no session, and the sessions gauge counts what exists (findings 2 and 7)", func() {
		n := hostileMessages()
		gauge := func() (int, error) { return metricValue(https, metrics, "actorlog_sessions") }
		sessionsBefore, err := gauge()
		Expect(err).NotTo(HaveOccurred())
		a := newAttacker(node.actorAddr, nobody, "127.0.0.1:1")
		var envs []envelope
		for i := range n {
			envs = append(envs, envelope{"actorlog.v1.OpenSession", sessionsActor(),
				&actor.PID{Address: "127.0.0.1:1", Id: "req" + strconv.Itoa(i)}, &messages.OpenSession{ClientName: "attacker"}})
		}
		Expect(a.sendAll(envs)).To(Succeed())
		// The gauge is missing from a scrape while the acceptor still
		// works through the refusals; then it must show no new session.
		Eventually(gauge, 60*time.Second, 300*time.Millisecond).Should(BeNumerically("<=", sessionsBefore))
		Consistently(gauge, 3*time.Second, 300*time.Millisecond).Should(BeNumerically("<=", sessionsBefore))
		// A client's remote.Start writes gRPC's global logger, which a
		// live gRPC connection of this process reads: close ours first.
		a.close()

		By("nobody's own client is told it may not open a session")
		c, err := tlsClient([]string{node.actorAddr}, nobody)
		if err == nil {
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err = c.Produce(ctx, []byte("from nobody"))
		}
		var ue *client.UnauthorizedError
		Expect(errors.As(err, &ue)).To(BeTrue(), "%v", err)
		Expect(ue.Identity).To(Equal("nobody"))
	})

	It("delivers nothing to the node's own futures, and replies only to the stream's own address (finding 3)", func() {
		n := hostileMessages()
		elsewhere := newCountingListener()

		By("root's HTTP long poll is parked at the end of the log")
		type result struct {
			code int
			body string
			err  error
		}
		polled := make(chan result, 1)
		go func() {
			defer GinkgoRecover()
			code, body, err := do(https, http.MethodGet, fmt.Sprintf("https://%s/v1/records?offset=%d&wait=8s", node.httpAddr, before), nil)
			polled <- result{code, body, err}
		}()

		By("nobody answers pending requests in the node's name, and asks for replies elsewhere")
		a := newAttacker(node.actorAddr, nobody, "127.0.0.1:1")
		var envs []envelope
		for i := range n {
			// Sequential future ids: one of them is the long poll's.
			forged := &actor.PID{Address: node.actorAddr, Id: "future$" + strconv.Itoa(i)}
			envs = append(envs, envelope{"actorlog.v1.ProduceRequest", sessionsActor(), forged,
				&messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("x")}}}})
			if i%10 == 0 {
				envs = append(envs, envelope{"actorlog.v1.ProduceRequest", sessionsActor(),
					&actor.PID{Address: elsewhere.addr(), Id: "victim" + strconv.Itoa(i)}, &messages.ProduceRequest{}})
			}
		}
		_ = a.sendAll(envs)

		By("root produces; the long poll returns root's record, not an answer forged by nobody")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		offs, err := root.Produce(ctx, []byte("for the long poll"))
		Expect(err).NotTo(HaveOccurred())
		var r result
		Eventually(polled, 30*time.Second).Should(Receive(&r))
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.code).To(Equal(http.StatusOK), r.body)
		Expect(r.body).To(ContainSubstring(base64.StdEncoding.EncodeToString([]byte("for the long poll"))))
		Expect(offs).To(Equal([]uint64{before}))
		before++
		Consistently(elsewhere.accepted.Load, 2*time.Second, 200*time.Millisecond).Should(BeZero(),
			"the node dialled an address that the attacker named")
	})

	It("refuses oversized messages by their length, and closes silent connections (finding 6)", func() {
		By("a message above the batch limit plus framing ends the stream before the node buffers it")
		a := newAttacker(node.actorAddr, nobody, "127.0.0.1:1")
		big := &messages.ProduceRequest{Records: []*messages.Record{{Value: make([]byte, 40<<20)}}}
		_ = a.sendAll([]envelope{{"actorlog.v1.ProduceRequest", sessionsActor(), nil, big}})
		Eventually(func() error {
			_, err := a.stream.Recv()
			return err
		}, 20*time.Second).Should(Satisfy(func(err error) bool {
			return status.Code(err) == codes.ResourceExhausted
		}))

		By("a connection that never completes its TLS handshake is closed within seconds")
		Expect(silentConnClosed(node.actorAddr, 60*time.Second)).To(BeNumerically("<", 20*time.Second))
		By("so is a silent connection to the raft port")
		Expect(silentConnClosed(node.raftAddr, 60*time.Second)).To(BeNumerically("<", 20*time.Second))
	})
})

var _ = Describe("Security without TLS: limits checked where requests enter raft", Ordered, func() {
	It("refuses a record over the limit sent straight to the raft actor, and keeps serving (finding 4)", func() {
		node := startAgent("r1", GinkgoT().TempDir())
		c := newClient(node)
		before := nextOffset(c)
		a := newAttacker(node.actorAddr, nil, "127.0.0.1:1")
		raftPID := &actor.PID{Address: node.actorAddr, Id: "raft"}
		big := &messages.ProduceRequest{Records: []*messages.Record{{Value: make([]byte, 2<<20)}}}
		_ = a.sendAll([]envelope{{"actorlog.v1.ProduceRequest", raftPID, nil, big}})

		// The big message arrives while these produces run: each must
		// still commit, at the next offset, and the node stay healthy.
		next := before
		Consistently(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			offs, err := c.Produce(ctx, []byte("after the big one"))
			if err != nil {
				return err
			}
			if len(offs) != 1 || offs[0] != next {
				return fmt.Errorf("offsets %v, want [%d]: the big record was written", offs, next)
			}
			next++
			return node.healthy()
		}, 8*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("refuses, on the leader, a record that a follower with a larger limit accepted (finding 4)", func() {
		cl := startCluster(2)
		// A follower restarted with a larger --max-record-bytes, as in a
		// rolling change of the limit.
		f := cl.followers()[0]
		f.kill9()
		f.args = append(f.args, "--max-record-bytes", strconv.Itoa(4<<20))
		f.start()
		cl.waitSettled()
		big := base64.StdEncoding.EncodeToString(make([]byte, 2<<20))
		code, body := httpJSON(http.MethodPost, "http://"+f.httpAddr+"/v1/records", []byte(`{"records":[{"value":"`+big+`"}]}`))
		Expect(code).To(Equal(http.StatusBadRequest), "%v", body)

		By("every later produce succeeds and the replicas agree")
		c := clusterClient(cl.actorAddrs(), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.Produce(ctx, []byte("after the big one"))
		Expect(err).NotTo(HaveOccurred())
		for _, nd := range cl.nodes {
			Eventually(func() error {
				var st nodeStatus
				if err := nd.getJSON("/v1/status", &st); err != nil {
					return err
				}
				if st.NextOffset != 1 {
					return fmt.Errorf("%s: next offset %d", nd.id, st.NextOffset)
				}
				return nil
			}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
		}
	})

	It("answers null and empty records with 400, and writes nothing (finding 7)", func() {
		node := startAgent("h1", GinkgoT().TempDir())
		for _, body := range []string{`{"records":[null]}`, `{"records":[{}]}`, `{"records":[]}`} {
			status, resp := httpJSON(http.MethodPost, node.url("/v1/records"), []byte(body))
			Expect(status).To(Equal(http.StatusBadRequest), "body %s: %v", body, resp)
		}
		c := newClient(node)
		Expect(nextOffset(c)).To(BeZero())
	})

	It("logs invalid protobuf from a peer at most once a second (finding 7)", func() {
		node := startAgent("p1", GinkgoT().TempDir())
		sessions := &actor.PID{Address: node.actorAddr, Id: "sessions"}
		start := time.Now()
		for range 200 {
			a := newAttacker(node.actorAddr, nil, "127.0.0.1:1")
			_ = a.send(&remote.MessageBatch{
				TypeNames: []string{"actorlog.v1.ProduceRequest"},
				Targets:   []*actor.PID{sessions},
				Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: []byte{0xff, 0xff, 0xff, 0xff}}},
			})
			_, _ = a.stream.Recv()
			a.close()
		}
		elapsed := time.Since(start)
		Expect(node.healthy()).To(Succeed())
		logged := strings.Count(string(node.session.Err.Contents())+string(node.session.Out.Contents()), "deserialize")
		Expect(logged).To(BeNumerically("<=", int(elapsed.Seconds())+2), "lines about invalid protobuf in %s", elapsed)
	})
})

var _ = Describe("Security: membership that cannot be taken over (finding 5)", func() {
	It("keeps quorum and serves writes when rogue members with dead addresses join, without TLS", func() {
		cl := startCluster(1)
		c := clusterClient(cl.actorAddrs(), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, err := c.Produce(ctx, []byte("before the rogues"))
		Expect(err).NotTo(HaveOccurred())

		By("three rogues ask the raft actor to add them, with raft addresses nobody listens on")
		nd := cl.nodes[0]
		a := newAttacker(nd.actorAddr, nil, "127.0.0.1:1")
		raftPID := &actor.PID{Address: nd.actorAddr, Id: "raft"}
		var envs []envelope
		for i := range 3 {
			dead := newCountingListener()
			addr := dead.addr()
			Expect(dead.ln.Close()).To(Succeed())
			envs = append(envs, envelope{"actorlog.v1.JoinRequest", raftPID, nil, &messages.JoinRequest{Member: &messages.Member{
				Id: fmt.Sprintf("rogue%d", i), RaftAddress: addr, ActorAddress: addr, HttpAddress: addr}}})
		}
		Expect(a.sendAll(envs)).To(Succeed())

		By("they are at most non-voters: writes keep committing")
		Eventually(func() ([]serverJSON, error) { return nd.servers() }, 30*time.Second, 200*time.Millisecond).Should(HaveLen(4))
		Consistently(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.Produce(ctx, []byte("during the rogues"))
			return err
		}, 5*time.Second, 500*time.Millisecond).Should(Succeed())
		sv, err := nd.servers()
		Expect(err).NotTo(HaveOccurred())
		for _, s := range sv {
			Expect(s.Voter).To(Equal(s.ID == nd.id), "%s", s.ID)
		}
	})

	Context("with TLS", Ordered, func() {
		var (
			set  certSet
			node *agent
		)
		BeforeAll(func() {
			tmp := GinkgoT().TempDir()
			set = makeCerts(filepath.Join(tmp, "certs"), "--node", "n1,n9")
			node = startAgent("n1", filepath.Join(tmp, "n1"), append(set.flags("n1"), "--acl-policy", set.file("policy.csv"))...)
		})

		It("lets no other node certificate, a non-member's, speak raft", func() {
			conn, err := tls.Dial("tcp", node.raftAddr, loadTLS(set.files("n9")))
			if err == nil {
				defer conn.Close()
				// An AppendEntries RPC type byte; a member would go on.
				_, _ = conn.Write([]byte{0})
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err = conn.Read(make([]byte, 1))
			}
			Expect(err).To(HaveOccurred())
			var ne interface{ Timeout() bool }
			Expect(errors.As(err, &ne) && ne.Timeout()).To(BeFalse(), "the connection stayed open: %v", err)
		})

		It("makes clients accept only the node certificate of the member they dial", func() {
			By("a server holding nobody's client certificate is refused by root's client")
			ln, err := tls.Listen("tcp", "127.0.0.1:0", loadTLS(set.files("nobody")))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(ln.Close)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						_ = c.(*tls.Conn).Handshake()
						_, _ = c.Read(make([]byte, 1))
					}()
				}
			}()
			_, err = tlsClient([]string{ln.Addr().String()}, loadTLS(set.files("root")))
			Expect(err).To(MatchError(client.ErrTLSHandshake))
			Expect(err.Error()).To(ContainSubstring("not a node certificate"))
		})

		It("refuses a join whose id is not the name of the certificate at its addresses", func() {
			a := newAttacker(node.actorAddr, loadTLS(set.files("n9")), "127.0.0.1:1")
			// n9 claims to be n2, at its own listener (which presents n9).
			ln, err := tls.Listen("tcp", "127.0.0.1:0", loadTLS(set.files("n9")))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(ln.Close)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { defer c.Close(); _ = c.(*tls.Conn).Handshake() }()
				}
			}()
			addr := ln.Addr().String()
			Expect(a.sendAll([]envelope{{"actorlog.v1.JoinRequest", &actor.PID{Address: node.actorAddr, Id: "raft"}, nil,
				&messages.JoinRequest{Member: &messages.Member{Id: "n2", RaftAddress: addr, ActorAddress: addr, HttpAddress: addr}}}})).To(Succeed())
			admin := httpsClient(set, set, "root")
			Consistently(func() (string, error) {
				_, body, err := do(admin, http.MethodGet, "https://"+node.httpAddr+"/v1/servers", nil)
				return body, err
			}, 5*time.Second, 500*time.Millisecond).ShouldNot(ContainSubstring(`"n2"`))
		})
	})
})

var _ = Describe("Security: rogue registrations in an open Consul (finding 5)", func() {
	It("keep quorum and writes: dead addresses and a reused id never become voters", func() {
		consul := startConsul()
		cl := startConsulCluster(consul.Addr(), 3)
		c := clusterClient(cl.actorAddrs(), nil)
		api, err := consulapi.NewClient(&consulapi.Config{Address: consul.Addr()})
		Expect(err).NotTo(HaveOccurred())

		By("registering three rogues at dead addresses, and one that reuses the id k2")
		register := func(serviceID, nodeID, addr string) {
			host, port, _ := strings.Cut(addr, ":")
			p, _ := strconv.Atoi(port)
			Expect(api.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
				ID: serviceID, Name: discovery.DefaultService, Address: host, Port: p,
				Meta: map[string]string{discovery.MetaNodeID: nodeID, discovery.MetaRaftAddr: addr, discovery.MetaHTTPAddr: addr},
			})).To(Succeed())
		}
		for i := range 3 {
			dead := newCountingListener()
			addr := dead.addr()
			Expect(dead.ln.Close()).To(Succeed())
			register(fmt.Sprintf("rogue%d", i), fmt.Sprintf("rogue%d", i), addr)
		}
		stranger := newCountingListener()
		register("rogue-k2", "k2", stranger.addr())

		By("writes keep committing, and the voters stay the three real nodes at their addresses")
		Consistently(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.Produce(ctx, []byte("during the rogues"))
			return err
		}, 20*time.Second, time.Second).Should(Succeed())
		sv, err := cl.nodes[0].servers()
		Expect(err).NotTo(HaveOccurred())
		voters := map[string]string{}
		for _, s := range sv {
			if s.Voter {
				voters[s.ID] = s.RaftAddress
			}
		}
		Expect(voters).To(Equal(map[string]string{
			"k1": cl.byID("k1").raftAddr, "k2": cl.byID("k2").raftAddr, "k3": cl.byID("k3").raftAddr,
		}))
	})
})

var _ = Describe("Security: rogue registrations in an open Consul, with TLS (finding 5)", func() {
	It("keep quorum and writes: dead addresses, a reused id and a stranger's certificate never become voters", func() {
		consul := startConsul()
		tmp := GinkgoT().TempDir()
		set := makeCerts(filepath.Join(tmp, "certs"), "--node", "k1,k2,k3,k9")
		var nodes []*clusterNode
		DeferCleanup(func() {
			for _, nd := range nodes {
				nd.session.Kill().Wait(10 * time.Second)
			}
		})
		for i := range 3 {
			id := fmt.Sprintf("k%d", i+1)
			nd := &clusterNode{id: id, dataDir: filepath.Join(tmp, id), args: append([]string{
				"--consul-addr", consul.Addr(), "--bootstrap-expect", "3", "--stabilization-time", "1s",
				"--acl-policy", set.file("policy.csv")}, set.flags(id)...)}
			nd.start()
			nodes = append(nodes, nd)
		}
		admin := httpsClient(set, set, "root")
		voters := func() (map[string]string, error) {
			_, body, err := do(admin, http.MethodGet, "https://"+nodes[0].httpAddr+"/v1/servers", nil)
			if err != nil {
				return nil, err
			}
			var list []serverJSON
			if err := json.Unmarshal([]byte(body), &list); err != nil {
				return nil, fmt.Errorf("%w: %s", err, body)
			}
			out := map[string]string{}
			for _, s := range list {
				if s.Voter {
					out[s.ID] = s.RaftAddress
				}
			}
			return out, nil
		}
		realVoters := map[string]string{"k1": nodes[0].raftAddr, "k2": nodes[1].raftAddr, "k3": nodes[2].raftAddr}
		Eventually(voters, 60*time.Second, 200*time.Millisecond).Should(Equal(realVoters))
		c, err := tlsClient([]string{nodes[0].actorAddr, nodes[1].actorAddr, nodes[2].actorAddr}, loadTLS(set.files("root")))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Close)

		By("registering rogues: dead addresses, k2's id at a stranger's listener, and the stranger k9 itself")
		api, err := consulapi.NewClient(&consulapi.Config{Address: consul.Addr()})
		Expect(err).NotTo(HaveOccurred())
		register := func(serviceID, nodeID, addr string) {
			host, port, _ := strings.Cut(addr, ":")
			p, _ := strconv.Atoi(port)
			Expect(api.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
				ID: serviceID, Name: discovery.DefaultService, Address: host, Port: p,
				Meta: map[string]string{discovery.MetaNodeID: nodeID, discovery.MetaRaftAddr: addr, discovery.MetaHTTPAddr: addr},
			})).To(Succeed())
		}
		for i := range 2 {
			dead := newCountingListener()
			addr := dead.addr()
			Expect(dead.ln.Close()).To(Succeed())
			register(fmt.Sprintf("rogue%d", i), fmt.Sprintf("rogue%d", i), addr)
		}
		// The stranger holds a node certificate of the CA (k9) and answers
		// TLS handshakes, but is no actorlog node.
		ln, err := tls.Listen("tcp", "127.0.0.1:0", loadTLS(set.files("k9")))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ln.Close)
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer conn.Close(); _ = conn.(*tls.Conn).Handshake() }()
			}
		}()
		register("rogue-k2", "k2", ln.Addr().String())
		register("k9", "k9", ln.Addr().String())

		By("writes keep committing, and the voters stay the three real nodes at their addresses")
		Consistently(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.Produce(ctx, []byte("during the rogues"))
			return err
		}, 20*time.Second, time.Second).Should(Succeed())
		Expect(voters()).To(Equal(realVoters))
	})
})
