package specs

import (
	"context"
	"fmt"
	"time"

	"actorlog/discovery"
	"actorlog/discovery/consultest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// startConsul starts a Consul dev agent on kernel ports for the spec (or
// the container, from BeforeAll) and stops it at the end.
func startConsul() *consultest.Agent {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	agent, err := consultest.Start(ctx, consultest.Options{LogOutput: GinkgoWriter, LogLevel: "warn"})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(agent.Stop)
	return agent
}

// startConsulCluster starts n agents at once, registering with the Consul
// agent at consulAddr with --bootstrap-expect n and neither --bootstrap nor
// --join, and waits until they form one cluster. extra goes to every agent.
func startConsulCluster(consulAddr string, n int, extra ...string) *testCluster {
	GinkgoHelper()
	c := &testCluster{}
	DeferCleanup(c.cleanup)
	for i := range n {
		nd := &clusterNode{id: fmt.Sprintf("k%d", i+1), dataDir: nodeDir(),
			args: append([]string{"--consul-addr", consulAddr, "--bootstrap-expect", fmt.Sprint(n), "--stabilization-time", "1s"}, extra...)}
		nd.start()
		c.nodes = append(c.nodes, nd)
	}
	c.waitSettled()
	return c
}

// consulMembers lists every registered actorlog instance, whatever its
// status, by node id.
func consulMembers(consulAddr string) (map[string]discovery.Member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := discovery.Members(ctx, consulAddr, "", discovery.AnyStatus)
	if err != nil {
		return nil, err
	}
	out := make(map[string]discovery.Member, len(ms))
	for _, m := range ms {
		out[m.ID] = m
	}
	return out, nil
}

// consulStatuses is consulMembers reduced to each node's status, for
// readable Eventually failures.
func consulStatuses(consulAddr string) func() (map[string]discovery.Status, error) {
	return func() (map[string]discovery.Status, error) {
		ms, err := consulMembers(consulAddr)
		if err != nil {
			return nil, err
		}
		out := make(map[string]discovery.Status, len(ms))
		for id, m := range ms {
			out[id] = m.Status
		}
		return out, nil
	}
}

// allPassing is the expected consulStatuses of the given nodes, all
// passing.
func allPassing(nodes ...*clusterNode) map[string]discovery.Status {
	out := make(map[string]discovery.Status, len(nodes))
	for _, nd := range nodes {
		out[nd.id] = discovery.StatusPassing
	}
	return out
}

// serverIDs lists the ids of a node's /v1/servers.
func (nd *clusterNode) serverIDs() ([]string, error) {
	sv, err := nd.servers()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(sv))
	for i, s := range sv {
		out[i] = s.ID
	}
	return out, nil
}

// consulState is the "consul" field of the node's /v1/status.
func (nd *clusterNode) consulState() (string, error) {
	var st struct {
		Consul string `json:"consul"`
	}
	err := nd.getJSON("/v1/status", &st)
	return st.Consul, err
}

// without returns nodes other than gone.
func without(nodes []*clusterNode, gone *clusterNode) []*clusterNode {
	var out []*clusterNode
	for _, nd := range nodes {
		if nd != gone {
			out = append(out, nd)
		}
	}
	return out
}

// requestCounts are the client requests a node has taken (GET /v1/status).
type requestCounts struct {
	Produces uint64 `json:"produce_requests"`
	Consumes uint64 `json:"consume_requests"`
}

func (nd *clusterNode) requestCounts() requestCounts {
	GinkgoHelper()
	var rc requestCounts
	Expect(nd.getJSON("/v1/status", &rc)).To(Succeed())
	return rc
}
