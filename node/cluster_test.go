package node

import (
	"context"

	"actorlog/actors"
	"actorlog/messages"
	"encoding/json"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// getJSON decodes the JSON answer of a GET into out and returns the status.
func getJSON(url string, out any) int {
	GinkgoHelper()
	resp, err := httpClient.Get(url)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(json.NewDecoder(resp.Body).Decode(out)).To(Succeed())
	return resp.StatusCode
}

func nodeStatus(n *Node) statusJSON {
	GinkgoHelper()
	var st statusJSON
	Expect(getJSON("http://"+n.HTTPAddr()+"/v1/status", &st)).To(Equal(http.StatusOK))
	return st
}

// records reads a node's whole local log over HTTP.
func records(n *Node, consistent bool) []recordJSON {
	GinkgoHelper()
	url := "http://" + n.HTTPAddr() + "/v1/records?offset=0&max=100000"
	if consistent {
		url += "&consistent=true"
	}
	var out consumeJSON
	if code := getJSON(url, &out); code != http.StatusOK {
		return nil
	}
	return out.Records
}

func clusterConfig(id string, join ...string) Config {
	cfg := testConfig()
	cfg.ID = id
	cfg.Bootstrap = len(join) == 0
	cfg.Join = join
	// Joined members are promoted to voters after this long.
	cfg.StabilizationTime = 500 * time.Millisecond
	return cfg
}

func waitingConfig(id string) Config {
	cfg := clusterConfig(id)
	cfg.Bootstrap = false
	return cfg
}

// join asks via's raft actor to add n (as a non-voter, promoted once it
// has caught up), as n's --join would.
func join(n, via *Node) {
	GinkgoHelper()
	Eventually(func() any {
		res, err := via.sys.Root.RequestFuture(via.sys.NewLocalPID(actors.RaftName),
			&messages.JoinRequest{Member: n.self()}, 5*time.Second).Result()
		if err != nil {
			return err
		}
		return res
	}, 20*time.Second, 100*time.Millisecond).Should(BeAssignableToTypeOf(&messages.JoinResponse{}))
}

var _ = Describe("A raft cluster of three in-process nodes", func() {
	var n1, n2, n3 *Node
	BeforeEach(func() {
		// Every remote starts before the nodes talk to each other:
		// protoactor's remote.Start writes gRPC's global logger, which the
		// gRPC connections of nodes already talking read (a data race that
		// separate processes do not have). So the joins that --join would
		// make are sent here, once all three listen.
		n1 = startNode(clusterConfig("n1"))
		n2 = startNode(waitingConfig("n2"))
		n3 = startNode(waitingConfig("n3"))
		join(n2, n1)
		join(n3, n2) // through a follower, which forwards it to the leader
		Eventually(func() []serverJSON {
			var out []serverJSON
			getJSON("http://"+n3.HTTPAddr()+"/v1/servers", &out)
			return out
		}, 20*time.Second, 50*time.Millisecond).Should(ConsistOf(
			serverJSON{ID: "n1", ActorAddress: n1.ActorAddr(), RaftAddress: n1.RaftAddr(), HTTPAddress: n1.HTTPAddr(), GRPCAddress: n1.GRPCAddr(), IsLeader: true, Voter: true},
			serverJSON{ID: "n2", ActorAddress: n2.ActorAddr(), RaftAddress: n2.RaftAddr(), HTTPAddress: n2.HTTPAddr(), GRPCAddress: n2.GRPCAddr(), Voter: true},
			serverJSON{ID: "n3", ActorAddress: n3.ActorAddr(), RaftAddress: n3.RaftAddr(), HTTPAddress: n3.HTTPAddr(), GRPCAddress: n3.GRPCAddr(), Voter: true},
		))
	})

	It("replicates identical records, with writes sent to followers forwarded to the leader", func() {
		for i, n := range []*Node{n1, n2, n3, n2} {
			code, body := httpDo(http.MethodPost, "http://"+n.HTTPAddr()+"/v1/records",
				`{"records":[{"value":"YQ=="},{"value":"Yg=="}],"producer_id":"p","sequence":`+string(rune('1'+i))+`}`)
			Expect(code).To(Equal(http.StatusOK), "%v", body)
			Expect(body["offsets"]).To(Equal([]any{float64(2 * i), float64(2*i + 1)}))
		}
		By("answering a retry through another follower with the original offsets")
		code, body := httpDo(http.MethodPost, "http://"+n3.HTTPAddr()+"/v1/records",
			`{"records":[{"value":"YQ=="},{"value":"Yg=="}],"producer_id":"p","sequence":2}`)
		Expect(code).To(Equal(http.StatusOK))
		Expect(body["offsets"]).To(Equal([]any{float64(2), float64(3)}))

		want := records(n1, false)
		Expect(want).To(HaveLen(8))
		for _, n := range []*Node{n2, n3} {
			Eventually(func() []recordJSON { return records(n, false) }, 10*time.Second, 20*time.Millisecond).Should(Equal(want))
		}
		By("serving a consistent read through a follower")
		Expect(records(n3, true)).To(Equal(want))
		st := nodeStatus(n2)
		Expect(st.State).To(Equal("Follower"))
		Expect(st.LeaderID).To(Equal("n1"))
		Expect(st.NextOffset).To(Equal(uint64(8)))
	})

	It("forgets a member that left: raft and every node's member table drop it", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := n3.Leave(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Removed).To(BeTrue())
		for _, n := range []*Node{n1, n2} {
			Eventually(func() bool {
				_, ok := n.fsm.Member("n3")
				return ok
			}, 10*time.Second, 20*time.Millisecond).Should(BeFalse(), "the member table still holds n3")
			_, ok := n.fsm.Member("n1")
			Expect(ok).To(BeTrue())
		}
	})

	It("keeps serving writes after the leader stops gracefully", func() {
		code, _ := httpDo(http.MethodPost, "http://"+n2.HTTPAddr()+"/v1/records", `{"records":[{"value":"YQ=="}]}`)
		Expect(code).To(Equal(http.StatusOK))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		Expect(n1.Stop(ctx)).To(Succeed())
		Eventually(func() string {
			st := nodeStatus(n2)
			return st.LeaderID
		}, 10*time.Second, 20*time.Millisecond).Should(Or(Equal("n2"), Equal("n3")))
		Eventually(func() int {
			code, _ := httpDo(http.MethodPost, "http://"+n3.HTTPAddr()+"/v1/records", `{"records":[{"value":"Yg=="}]}`)
			return code
		}, 10*time.Second, 50*time.Millisecond).Should(Equal(http.StatusOK))
		Eventually(func() int { return len(records(n2, false)) }, 10*time.Second, 20*time.Millisecond).Should(BeNumerically(">=", 2))
		Expect(records(n2, true)).To(Equal(records(n3, true)))
	})
})

var _ = Describe("A node with neither Bootstrap nor Join and no raft state", func() {
	It("waits to be added: it elects no leader and refuses writes as unavailable", func() {
		n := startNode(waitingConfig("lonely"))
		Consistently(func() string { return nodeStatus(n).LeaderID }, 1500*time.Millisecond, 100*time.Millisecond).Should(BeEmpty())
		code, body := httpDo(http.MethodPost, "http://"+n.HTTPAddr()+"/v1/records", `{"records":[{"value":"YQ=="}]}`)
		Expect(code).To(Equal(http.StatusServiceUnavailable), "%v", body)
	})
})
