package specs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"actorlog/client"
	"actorlog/discovery/consultest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// leaveAnswer is the body of a successful POST /v1/leave, which
// `actorlog leave` prints.
type leaveAnswer struct {
	Node    string   `json:"node"`
	Removed bool     `json:"removed"`
	Leader  string   `json:"leader"`
	Voters  []string `json:"voters"`
}

// leave runs `actorlog leave` against the node and returns its session
// once it has exited.
func (nd *clusterNode) leave(extra ...string) *gexec.Session {
	GinkgoHelper()
	s := cli(nil, append([]string{"leave", "--http-addr", nd.httpAddr}, extra...)...)
	Eventually(s, 90*time.Second).Should(gexec.Exit())
	return s
}

// background keeps producing one record at a time through c until stopped,
// and remembers every value that was acknowledged.
type background struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	acked []string
	fails int
}

func produceInBackground(c *client.Client, prefix string) *background {
	b := &background{stop: make(chan struct{})}
	b.wg.Add(1)
	go func() {
		defer GinkgoRecover()
		defer b.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-b.stop:
				return
			default:
			}
			v := fmt.Sprintf("%s-%06d", prefix, i)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := c.Produce(ctx, []byte(v))
			cancel()
			b.mu.Lock()
			if err == nil {
				b.acked = append(b.acked, v)
			} else {
				b.fails++
			}
			b.mu.Unlock()
		}
	}()
	return b
}

// count is how many values have been acknowledged so far.
func (b *background) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.acked)
}

// finish stops the producer and returns what was acknowledged.
func (b *background) finish() []string {
	close(b.stop)
	b.wg.Wait()
	GinkgoWriter.Printf("background producer: %d acknowledged, %d failed attempts\n", len(b.acked), b.fails)
	return b.acked
}

// README, "Kubernetes" and `actorlog leave --help`: a node that is scaled
// away leaves raft and Consul before it ends, so the cluster keeps no dead
// voter.
var _ = Describe("Leaving a cluster for good (actorlog leave)", Ordered, func() {
	var (
		consul  *consultest.Agent
		cluster *testCluster
		bg      *background
		left    []*clusterNode
	)

	BeforeAll(func() {
		consul = startConsul()
		cluster = startConsulCluster(consul.Addr(), 3)
		c := clusterClient(cluster.actorAddrs(), func(cfg *client.Config) { cfg.Consul = consul.Addr() })
		bg = produceInBackground(c, "bg")
		Eventually(bg.count, 30*time.Second).Should(BeNumerically(">=", 20))
	})

	// leaves checks a leave of nd while the background producer runs:
	// the agent exits 0, the raft configuration and Consul hold the
	// others only (and keep doing so: the leader's reconcile does not add
	// the node back), and writes go on.
	leaves := func(nd *clusterNode) {
		GinkgoHelper()
		s := nd.leave()
		Expect(s).To(gexec.Exit(0), "stderr: %s", s.Err.Contents())
		var ans leaveAnswer
		Expect(json.Unmarshal(s.Out.Contents(), &ans)).To(Succeed())
		Expect(ans.Node).To(Equal(nd.id))
		Expect(ans.Removed).To(BeTrue())
		Eventually(nd.session, 40*time.Second).Should(gexec.Exit(0))
		Expect(nd.session.Err).To(gbytes.Say("left the cluster"))

		cluster.nodes = without(cluster.nodes, nd)
		left = append(left, nd)
		var ids []string
		for _, r := range cluster.nodes {
			ids = append(ids, r.id)
		}
		Expect(ans.Voters).To(ConsistOf(ids))
		cluster.waitSettled()
		for _, r := range cluster.nodes {
			sv, err := r.servers()
			Expect(err).NotTo(HaveOccurred())
			Expect(sv).To(HaveLen(len(ids)), r.id)
			for _, s := range sv {
				Expect(s.Voter).To(BeTrue(), "%s lists %s as a non-voter", r.id, s.ID)
			}
		}
		Eventually(consulStatuses(consul.Addr()), 20*time.Second).Should(Equal(allPassing(cluster.nodes...)))
		// Longer than a reconcile round (2 s): a leader that still saw the
		// node in Consul would add it back as a non-voter.
		Consistently(func() ([]string, error) { return cluster.leader().serverIDs() }, 5*time.Second, 250*time.Millisecond).
			Should(ConsistOf(ids))
		before := bg.count()
		Eventually(bg.count, 30*time.Second).Should(BeNumerically(">=", before+20), "produce goes on after %s left", nd.id)
	}

	It("lets a follower leave: raft and Consul keep the other two, and writes go on", func() {
		leaves(cluster.followers()[0])
	})

	It("lets the leader leave: it hands leadership over first, and the last node serves alone", func() {
		old := cluster.leader()
		leaves(old)
		Expect(cluster.leader()).NotTo(BeIdenticalTo(old))
		Expect(cluster.nodes).To(HaveLen(1))
	})

	It("keeps every acknowledged record exactly once", func() {
		acked := bg.finish()
		Expect(acked).NotTo(BeEmpty())
		st, err := cluster.nodes[0].status()
		Expect(err).NotTo(HaveOccurred())
		log := cluster.sameLogEverywhere(st.NextOffset)
		seen := map[string]int{}
		for _, v := range log {
			seen[string(v)]++
		}
		for v, n := range seen {
			Expect(n).To(Equal(1), "%q is in the log %d times", v, n)
		}
		for _, v := range acked {
			Expect(seen).To(HaveKey(v), "acknowledged %q is not in the log", v)
		}
	})

	It("refuses to remove the last voter, and the node keeps serving", func() {
		last := cluster.nodes[0]
		s := last.leave("--timeout", "10s")
		Expect(s).To(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say("last_voter"))
		code, body := httpJSON("POST", "http://"+last.httpAddr+"/v1/leave", nil)
		Expect(code).To(Equal(409))
		Expect(body["error"]).To(HaveKeyWithValue("code", "last_voter"))
		Expect(last.running()).To(BeTrue())
		Expect(last.serverIDs()).To(ConsistOf(last.id))
		Eventually(consulStatuses(consul.Addr()), 20*time.Second).Should(Equal(allPassing(last)))
		produceAll(clusterClient([]string{last.actorAddr}, nil), uniqueValues("after-refusal", 5))
	})

	It("does not let a data directory that left start again unless --rejoin, which joins it as a new member", func() {
		gone := left[0]
		restarted := cli(nil, append([]string{"agent", "--id", gone.id, "--data-dir", gone.dataDir,
			"--actor-addr", gone.actorAddr, "--http-addr", gone.httpAddr, "--raft-addr", gone.raftAddr, "--grpc-addr", gone.grpcAddr},
			gone.args...)...)
		Eventually(restarted, 30*time.Second).Should(gexec.Exit(1))
		Expect(restarted.Err).To(gbytes.Say("left its cluster"))
		Expect(cluster.leader().serverIDs()).To(ConsistOf(cluster.nodes[0].id))
		Expect(consulStatuses(consul.Addr())()).To(Equal(allPassing(cluster.nodes...)))

		gone.args = append(gone.args, "--rejoin")
		gone.start()
		cluster.nodes = append(cluster.nodes, gone)
		cluster.waitSettled()
		Eventually(consulStatuses(consul.Addr()), 20*time.Second).Should(Equal(allPassing(cluster.nodes...)))
		st, err := cluster.leader().status()
		Expect(err).NotTo(HaveOccurred())
		cluster.sameLogEverywhere(st.NextOffset)
		_, err = os.Stat(gone.dataDir + "/left.json")
		Expect(os.IsNotExist(err)).To(BeTrue(), "the leave marker is gone once the node rejoined")
	})
})

var _ = Describe("A leave the cluster cannot afford", Ordered, func() {
	var cluster *testCluster

	BeforeAll(func() {
		cluster = startCluster(3)
	})

	// unchanged checks that every running node still lists all three
	// voters and the node that was asked to leave still runs.
	unchanged := func(asked *clusterNode) {
		GinkgoHelper()
		Expect(asked.running()).To(BeTrue())
		Consistently(func() ([]string, error) { return asked.serverIDs() }, 2*time.Second, 250*time.Millisecond).
			Should(ConsistOf("c1", "c2", "c3"))
		_, err := os.Stat(asked.dataDir + "/left.json")
		Expect(os.IsNotExist(err)).To(BeTrue(), "a refused leave writes no leave marker")
	}

	It("is refused when the voters that would remain lack a majority that answers", func() {
		followers := cluster.followers()
		down, asked := followers[0], followers[1]
		down.kill9()
		s := asked.leave("--timeout", "20s")
		Expect(s).To(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say("no_quorum"))
		unchanged(asked)
		down.start()
		cluster.waitSettled()
	})

	It("fails with no_leader within its timeout when no leader can be found", func() {
		leader := cluster.leader()
		followers := cluster.followers()
		leader.kill9()
		followers[0].kill9()
		asked := followers[1]
		start := time.Now()
		s := asked.leave("--timeout", "3s")
		Expect(s).To(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say("no_leader"))
		Expect(time.Since(start)).To(BeNumerically("<", 20*time.Second))
		unchanged(asked)
		leader.start()
		followers[0].start()
		cluster.waitSettled()
	})

	It("answers only POST", func() {
		code, body := httpJSON("GET", "http://"+cluster.nodes[0].httpAddr+"/v1/leave", nil)
		Expect(code).To(Equal(405))
		Expect(body["error"]).To(HaveKeyWithValue("code", "method_not_allowed"))
		code, body = httpJSON("POST", "http://"+cluster.nodes[0].httpAddr+"/v1/leave?timeout=soon", nil)
		Expect(code).To(Equal(400))
		Expect(body["error"]).To(HaveKeyWithValue("field", "timeout"))
	})
})

var _ = Describe("actorlog leave with mutual TLS", func() {
	It("needs the admin grant or a node certificate, and then takes the node out", func() {
		tmp := GinkgoT().TempDir()
		ours := makeCerts(filepath.Join(tmp, "certs"), "--nodes", "2")
		nodeFlags := func(id string) []string {
			return append(ours.flags(id), "--acl-policy", ours.file("policy.csv"))
		}
		n1 := startAgent("n1", filepath.Join(tmp, "n1"), nodeFlags("n1")...)
		n2 := startAgent("n2", filepath.Join(tmp, "n2"), append(nodeFlags("n2"), "--join", n1.actorAddr, "--stabilization-time", "1s")...)
		admin := httpsClient(ours, ours, "root")
		voters := func() ([]string, error) {
			code, body, err := do(admin, http.MethodGet, "https://"+n1.httpAddr+"/v1/servers", nil)
			if err != nil || code != http.StatusOK {
				return nil, fmt.Errorf("GET /v1/servers: %d %v", code, err)
			}
			var list []serverJSON
			if err := json.Unmarshal([]byte(body), &list); err != nil {
				return nil, err
			}
			var ids []string
			for _, s := range list {
				if s.Voter {
					ids = append(ids, s.ID)
				}
			}
			return ids, nil
		}
		Eventually(voters, 60*time.Second, 200*time.Millisecond).Should(ConsistOf("n1", "n2"))

		By("plaintext: the CLI says the node serves HTTPS")
		s := cli(nil, "leave", "--http-addr", n2.httpAddr)
		Eventually(s, 30*time.Second).Should(gexec.Exit(2))
		Expect(s.Err).To(gbytes.Say("serves HTTPS"))

		By("an identity without the admin grant is refused and nothing changes")
		s = cli(nil, append([]string{"leave", "--http-addr", n2.httpAddr}, ours.flags("nobody")...)...)
		Eventually(s, 30*time.Second).Should(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say("unauthorized"))
		Consistently(voters, 2*time.Second, 250*time.Millisecond).Should(ConsistOf("n1", "n2"))

		By("the admin takes n2 out")
		s = cli(nil, append([]string{"leave", "--http-addr", n2.httpAddr}, ours.flags("root")...)...)
		Eventually(s, 60*time.Second).Should(gexec.Exit(0))
		Eventually(n2.session, 40*time.Second).Should(gexec.Exit(0))
		Eventually(voters, 20*time.Second).Should(ConsistOf("n1"))
	})
})
