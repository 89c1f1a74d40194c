package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

var clusterReady = regexp.MustCompile(`actorlog agent ready id=\S+ actor=(\S+) http=(\S+) raft=\S+`)

// startMember runs one agent of a cluster with kernel ports: it bootstraps
// when join is empty and joins that actor address otherwise. It is killed
// at the end of the spec or container.
func startMember(id, join string) *testNode {
	GinkgoHelper()
	args := []string{"agent", "--id", id, "--data-dir", GinkgoT().TempDir(),
		"--actor-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"}
	if join == "" {
		args = append(args, "--bootstrap")
	} else {
		// A joined member votes once promoted, after this long.
		args = append(args, "--join", join, "--stabilization-time", "1s")
	}
	w := gexec.NewPrefixedWriter(fmt.Sprintf("[%s] ", id), GinkgoWriter)
	session, err := gexec.Start(exec.Command(agentBin, args...), w, w)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Kill().Wait(10 * time.Second) })
	Eventually(session.Out, 30*time.Second).Should(gbytes.Say(clusterReady.String()))
	m := clusterReady.FindSubmatch(session.Out.Contents())
	return &testNode{session: session, actorAddr: string(m[1]), httpAddr: string(m[2])}
}

// allVoters waits until the node lists want members, every one a voter
// (joined members are promoted once caught up).
func allVoters(n *testNode, want int) {
	GinkgoHelper()
	Eventually(func() error {
		resp, err := http.Get("http://" + n.httpAddr + "/v1/servers")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var list []struct {
			ID    string `json:"id"`
			Voter bool   `json:"voter"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			return err
		}
		if len(list) != want {
			return fmt.Errorf("%d members listed, want %d", len(list), want)
		}
		for _, s := range list {
			if !s.Voter {
				return fmt.Errorf("%s is not a voter yet", s.ID)
			}
		}
		return nil
	}, 60*time.Second, 100*time.Millisecond).Should(Succeed())
}

// leaderOf asks c for the members until one is marked leader and every one
// of want is listed.
func leaderOf(c *client.Client, want int) client.Server {
	GinkgoHelper()
	var leader client.Server
	Eventually(func() error {
		servers, err := c.Servers(ctxFor(5 * time.Second))
		if err != nil {
			return err
		}
		if len(servers) != want {
			return fmt.Errorf("%d members listed, want %d", len(servers), want)
		}
		for _, s := range servers {
			if s.IsLeader {
				leader = s
				return nil
			}
		}
		return errors.New("no leader marked")
	}, 60*time.Second, 50*time.Millisecond).Should(Succeed())
	return leader
}

var _ = Describe("Routing across a three-node cluster", Ordered, func() {
	var nodes []*testNode

	BeforeAll(func() {
		nodes = []*testNode{startMember("r1", "")}
		nodes = append(nodes, startMember("r2", nodes[0].ActorAddr()), startMember("r3", nodes[0].ActorAddr()))
		leaderOf(newClient(client.Config{}, nodes[0].ActorAddr()), 3)
		allVoters(nodes[0], 3)
	})

	It("learns the members from the one node it was given, and goes on when that node dies", func() {
		c := newClient(client.Config{}, nodes[2].ActorAddr())
		leaderOf(c, 3)
		offs, err := c.Produce(ctxFor(10*time.Second), values("learned", 5)...)
		Expect(err).NotTo(HaveOccurred())

		By("killing the only node the client was configured with")
		nodes[2].session.Kill()
		Eventually(nodes[2].session, 10*time.Second).Should(gexec.Exit())
		more, err := c.Produce(ctxFor(20*time.Second), values("after", 5)...)
		Expect(err).NotTo(HaveOccurred())
		Expect(more[0]).To(Equal(offs[4] + 1))

		By("reading back from the leader what was acknowledged")
		res, err := c.Consume(ctxFor(10*time.Second), offs[0], client.ConsumeOptions{PreferLeader: true, MaxRecords: 10})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Records).To(HaveLen(10))
		Expect(string(res.Records[9].Value)).To(Equal("after-4"))

		By("reading from the remaining follower, which may lag a little")
		Eventually(func() (int, error) {
			res, err := c.Consume(ctxFor(10*time.Second), offs[0], client.ConsumeOptions{MaxRecords: 10})
			if err != nil {
				return 0, err
			}
			return len(res.Records), nil
		}, 10*time.Second, 20*time.Millisecond).Should(Equal(10))
	})

	It("gives up by the caller's deadline when no quorum is left, saying the cluster is unavailable", func() {
		c := newClient(client.Config{}, nodes[0].ActorAddr(), nodes[1].ActorAddr())
		_, err := c.Produce(ctxFor(10*time.Second), []byte("with quorum"))
		Expect(err).NotTo(HaveOccurred())

		By("killing a second node: one of three is left")
		nodes[1].session.Kill()
		Eventually(nodes[1].session, 10*time.Second).Should(gexec.Exit())
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = c.Produce(ctx, []byte("without quorum"))
		Expect(time.Since(start)).To(BeNumerically("<", 2500*time.Millisecond), "an operation never waits past its deadline")
		Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "%v", err)
		var nl *client.NotLeaderError
		Expect(errors.Is(err, client.ErrUnavailable) || errors.As(err, &nl)).To(BeTrue(), "%v", err)
	})
})
