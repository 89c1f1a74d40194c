package specs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// clusterReadyLine is the ready line of an agent that runs raft.
var clusterReadyLine = regexp.MustCompile(`actorlog agent ready id=(\S+) actor=(\S+) http=(\S+) raft=(\S+) grpc=(\S+)`)

// clusterNode is one member of a test cluster. Its addresses are the ones
// the first start bound (kernel ports): a restart reuses them, so the raft
// configuration and the clients' lists stay valid.
type clusterNode struct {
	id        string
	dataDir   string
	args      []string // --bootstrap or --join, and the cluster's extra flags
	actorAddr string
	httpAddr  string
	raftAddr  string
	grpcAddr  string
	session   *gexec.Session
}

// testCluster is a set of agents forming one raft cluster: the first
// bootstraps, the others join it through its actor address.
type testCluster struct {
	nodes []*clusterNode
}

// startCluster starts n agents with temporary data directories and waits
// until they agree on a leader and each lists n members. extra goes to every
// agent. Every agent still running at the end of the spec (or of the
// container, when called from BeforeAll) is killed then, restarted ones
// included.
func startCluster(n int, extra ...string) *testCluster {
	GinkgoHelper()
	c := &testCluster{}
	DeferCleanup(c.cleanup)
	// A joined member is promoted to voter after this long (the default
	// is 10 s); the specs need no production-sized wait.
	extra = append([]string{"--stabilization-time", "1s"}, extra...)
	for i := range n {
		nd := &clusterNode{id: fmt.Sprintf("c%d", i+1), dataDir: nodeDir()}
		if i == 0 {
			nd.args = append([]string{"--bootstrap"}, extra...)
		} else {
			nd.args = append([]string{"--join", c.nodes[0].actorAddr}, extra...)
		}
		nd.start()
		c.nodes = append(c.nodes, nd)
	}
	c.waitSettled()
	return c
}

// nodeDir makes a data directory for a cluster node. The cluster's cleanup
// removes it after killing the node: a test temp dir would be removed
// while the node may still write (a snapshot in progress), when the node
// outlives the spec that made the directory.
func nodeDir() string {
	GinkgoHelper()
	dir, err := os.MkdirTemp("", "actorlog-node-")
	Expect(err).NotTo(HaveOccurred())
	return dir
}

// cleanup kills every node still running, then removes their data.
func (c *testCluster) cleanup() {
	for _, nd := range c.nodes {
		if nd.session != nil {
			nd.session.Kill().Wait(10 * time.Second)
		}
	}
	for _, nd := range c.nodes {
		_ = os.RemoveAll(nd.dataDir)
	}
}

// start runs the agent, on its earlier addresses when it has run before,
// and waits for its ready line. The cluster's cleanup kills it: a cleanup
// registered here would end with the spec that restarted the node, while
// the cluster lives on in its ordered container.
func (nd *clusterNode) start() {
	GinkgoHelper()
	addr := func(a string) string {
		if a == "" {
			return "127.0.0.1:0"
		}
		return a
	}
	args := append([]string{"agent", "--id", nd.id, "--data-dir", nd.dataDir,
		"--actor-addr", addr(nd.actorAddr), "--http-addr", addr(nd.httpAddr), "--raft-addr", addr(nd.raftAddr), "--grpc-addr", addr(nd.grpcAddr)},
		nd.args...)
	cmd := exec.Command(actorlogBin, args...)
	prefix := fmt.Sprintf("[%s] ", nd.id)
	session, err := gexec.Start(cmd,
		gexec.NewPrefixedWriter(prefix, GinkgoWriter),
		gexec.NewPrefixedWriter(prefix, GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	nd.session = session
	Eventually(session.Out, 30*time.Second).Should(gbytes.Say(clusterReadyLine.String()))
	m := clusterReadyLine.FindSubmatch(session.Out.Contents())
	Expect(m).NotTo(BeNil())
	nd.actorAddr, nd.httpAddr, nd.raftAddr, nd.grpcAddr = string(m[2]), string(m[3]), string(m[4]), string(m[5])
}

// kill9 kills the agent with SIGKILL and waits until it is gone.
func (nd *clusterNode) kill9() {
	GinkgoHelper()
	nd.session.Kill()
	Eventually(nd.session, 10*time.Second).Should(gexec.Exit())
}

func (nd *clusterNode) running() bool { return nd.session != nil && nd.session.ExitCode() == -1 }

// nodeStatus is GET /v1/status.
type nodeStatus struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	LeaderID     string `json:"leader_id"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LowOffset    uint64 `json:"low_offset"`
	NextOffset   uint64 `json:"next_offset"`
}

// serverJSON is one entry of GET /v1/servers.
type serverJSON struct {
	ID           string `json:"id"`
	ActorAddress string `json:"actor_address"`
	RaftAddress  string `json:"raft_address"`
	HTTPAddress  string `json:"http_address"`
	IsLeader     bool   `json:"is_leader"`
	Voter        bool   `json:"voter"`
}

// getJSON decodes a 200 answer of the node's HTTP API into out. It returns
// errors rather than failing, for use inside Eventually.
func (nd *clusterNode) getJSON(path string, out any) error {
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + nd.httpAddr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", nd.id, path, resp.Status, raw)
	}
	return json.Unmarshal(raw, out)
}

func (nd *clusterNode) status() (nodeStatus, error) {
	var st nodeStatus
	err := nd.getJSON("/v1/status", &st)
	return st, err
}

func (nd *clusterNode) servers() ([]serverJSON, error) {
	var sv []serverJSON
	err := nd.getJSON("/v1/servers", &sv)
	return sv, err
}

// running lists the nodes whose process is up.
func (c *testCluster) running() []*clusterNode {
	var out []*clusterNode
	for _, nd := range c.nodes {
		if nd.running() {
			out = append(out, nd)
		}
	}
	return out
}

// settled reports why the running nodes do not yet agree on one leader
// among them, each listing every member of the cluster; nil once they do.
func (c *testCluster) settled() error {
	leader := ""
	for _, nd := range c.running() {
		st, err := nd.status()
		if err != nil {
			return err
		}
		if st.LeaderID == "" {
			return fmt.Errorf("%s knows no leader (%s, term %d)", nd.id, st.State, st.Term)
		}
		if leader == "" {
			leader = st.LeaderID
		}
		if st.LeaderID != leader {
			return fmt.Errorf("%s follows %s, another node follows %s", nd.id, st.LeaderID, leader)
		}
		sv, err := nd.servers()
		if err != nil {
			return err
		}
		if len(sv) != len(c.nodes) {
			return fmt.Errorf("%s lists %d members, want %d: %+v", nd.id, len(sv), len(c.nodes), sv)
		}
		for _, s := range sv {
			if !s.Voter {
				// New members join as non-voters and are promoted
				// once caught up and stable.
				return fmt.Errorf("%s lists %s as a non-voter still", nd.id, s.ID)
			}
		}
	}
	if l := c.byID(leader); l == nil || !l.running() {
		return fmt.Errorf("the agreed leader %q is not running", leader)
	}
	return nil
}

// waitSettled waits until the running nodes agree on a running leader and
// list every member.
func (c *testCluster) waitSettled() {
	GinkgoHelper()
	Eventually(c.settled, 60*time.Second, 50*time.Millisecond).Should(Succeed())
}

func (c *testCluster) byID(id string) *clusterNode {
	for _, nd := range c.nodes {
		if nd.id == id {
			return nd
		}
	}
	return nil
}

// leader is the running node that reports itself leader, once the cluster
// has settled.
func (c *testCluster) leader() *clusterNode {
	GinkgoHelper()
	c.waitSettled()
	var leader *clusterNode
	Eventually(func() error {
		for _, nd := range c.running() {
			st, err := nd.status()
			if err != nil {
				return err
			}
			if st.State == "Leader" {
				leader = nd
				return nil
			}
		}
		return fmt.Errorf("no running node reports itself leader")
	}, 30*time.Second, 50*time.Millisecond).Should(Succeed())
	return leader
}

// followers are the running nodes other than the leader.
func (c *testCluster) followers() []*clusterNode {
	GinkgoHelper()
	l := c.leader()
	var out []*clusterNode
	for _, nd := range c.running() {
		if nd != l {
			out = append(out, nd)
		}
	}
	return out
}

func (c *testCluster) actorAddrs() []string {
	out := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = nd.actorAddr
	}
	return out
}

// clusterClient connects a Go client to the given actor addresses; tweak may
// adjust its Config. It is closed at the end of the spec.
func clusterClient(servers []string, tweak func(*client.Config)) *client.Client {
	GinkgoHelper()
	cfg := client.DefaultConfig()
	cfg.Servers = servers
	cfg.Logger = clientLog
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New(ctx, cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}

// waitNext waits until every running node has applied the log up to next
// (its next_offset reached it).
func (c *testCluster) waitNext(next uint64) {
	GinkgoHelper()
	Eventually(func() error {
		for _, nd := range c.running() {
			st, err := nd.status()
			if err != nil {
				return err
			}
			if st.NextOffset != next {
				return fmt.Errorf("%s: next_offset %d, want %d", nd.id, st.NextOffset, next)
			}
		}
		return nil
	}, 60*time.Second, 50*time.Millisecond).Should(Succeed())
}

// localLog reads the node's own committed log over HTTP, from 0 to its
// next_offset, checking that offsets are dense.
func (nd *clusterNode) localLog() [][]byte {
	GinkgoHelper()
	st, err := nd.status()
	Expect(err).NotTo(HaveOccurred())
	var page struct {
		Records []struct {
			Offset uint64 `json:"offset"`
			Value  []byte `json:"value"`
		} `json:"records"`
	}
	out := make([][]byte, 0, st.NextOffset)
	for next := st.LowOffset; next < st.NextOffset; {
		Expect(nd.getJSON(fmt.Sprintf("/v1/records?offset=%d&max=5000&max_bytes=%d", next, 4<<20), &page)).To(Succeed())
		Expect(page.Records).NotTo(BeEmpty(), "%s: nothing at offset %d below next_offset %d", nd.id, next, st.NextOffset)
		for _, r := range page.Records {
			Expect(r.Offset).To(Equal(next), "%s: offsets must be dense", nd.id)
			out = append(out, r.Value)
			next++
		}
	}
	return out
}

// sameLogEverywhere waits until every running node holds next records and
// checks that they hold the same bytes at every offset; it returns that log.
func (c *testCluster) sameLogEverywhere(next uint64) [][]byte {
	GinkgoHelper()
	c.waitNext(next)
	var want [][]byte
	for i, nd := range c.running() {
		got := nd.localLog()
		Expect(got).To(HaveLen(int(next)), "%s", nd.id)
		if i == 0 {
			want = got
			continue
		}
		for off := range want {
			if string(got[off]) != string(want[off]) {
				Fail(fmt.Sprintf("%s differs at offset %d: %q, %s has %q", nd.id, off, got[off], c.running()[0].id, want[off]))
			}
		}
	}
	return want
}

// produceAll appends values through c in one call and returns their offsets.
func produceAll(c *client.Client, values [][]byte) []uint64 {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := c.Produce(ctx, values...)
	Expect(err).NotTo(HaveOccurred())
	Expect(offs).To(HaveLen(len(values)))
	return offs
}

// uniqueValues makes n values that appear nowhere else in a spec.
func uniqueValues(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%06d", prefix, i)
	}
	return out
}
