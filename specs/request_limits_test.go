package specs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// produceJSON posts records to /v1/records and returns the status and the
// decoded body.
func produceJSON(a *agent, n int, producer string, seq uint64) (int, map[string]any) {
	GinkgoHelper()
	recs := make([]map[string][]byte, n)
	for i := range recs {
		recs[i] = map[string][]byte{"value": fmt.Appendf(nil, "%s-%d-%03d", producer, seq, i)}
	}
	body, err := json.Marshal(map[string]any{"records": recs, "producer_id": producer, "sequence": seq})
	Expect(err).NotTo(HaveOccurred())
	return httpJSON(http.MethodPost, a.url("/v1/records"), body)
}

var _ = Describe("Requests larger than one segment (docs/DESIGN.md, invariant 4)", func() {
	// 1200 index bytes hold 100 records: one segment cannot store a
	// request of 101.
	flags := []string{"--index-bytes", "1200"}

	It("refuses them up front, and the node goes on serving, stopping and restarting", func() {
		dir := GinkgoT().TempDir()
		a := startAgent("big1", dir, flags...)
		status, body := produceJSON(a, 101, "p1", 1)
		Expect(status).To(Equal(http.StatusRequestEntityTooLarge), "body %v", body)
		Expect(fmt.Sprint(body["error"])).To(ContainSubstring("limit of 100 records"))

		By("taking the next request at once")
		status, body = produceJSON(a, 1, "p2", 1)
		Expect(status).To(Equal(http.StatusOK), "body %v", body)
		Expect(body["offsets"]).To(Equal([]any{0.0}))

		By("splitting a large call of the Go client into requests the node takes")
		c := newClient(a)
		values := make([][]byte, 250)
		for i := range values {
			values[i] = fmt.Appendf(nil, "v%03d", i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		offs, err := c.Produce(ctx, values...)
		cancel()
		Expect(err).NotTo(HaveOccurred())
		Expect(offs).To(HaveLen(250))
		c.Close()

		By("stopping gracefully and restarting with every record once")
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
		a = startAgent("big1", dir, flags...)
		Expect(a.caughtUp().NextOffset).To(Equal(uint64(251)))
		got := readAll(newClient(a))
		Expect(got).To(HaveLen(251))
		for i, off := range offs {
			Expect(string(got[off])).To(Equal(string(values[i])), "offset %d", off)
		}

		By("answering a retry of a refused request with the same refusal, not with offsets")
		status, _ = produceJSON(a, 101, "p1", 1)
		Expect(status).To(Equal(http.StatusRequestEntityTooLarge))
		Expect(a.caughtUp().NextOffset).To(Equal(uint64(251)))
	})
})

var _ = Describe("Nodes whose request limits differ (a rolling change of --max-batch-bytes)", func() {
	It("store and apply every entry the leader accepted", func() {
		c := startCluster(2)
		leader := c.leader()
		// The third node takes smaller requests itself; it must still
		// store what the leader took.
		small := &clusterNode{id: "c3", dataDir: nodeDir(), args: []string{"--join", leader.actorAddr,
			"--stabilization-time", "1s", "--max-batch-bytes", "2097152", "--max-record-bytes", "1048576"}}
		small.start()
		c.nodes = append(c.nodes, small)
		c.waitSettled()

		values := make([]map[string][]byte, 6)
		for i := range values {
			values[i] = map[string][]byte{"value": bytes.Repeat([]byte{byte('a' + i)}, 1<<20)}
		}
		body, err := json.Marshal(map[string]any{"records": values})
		Expect(err).NotTo(HaveOccurred())
		status, resp := httpJSON(http.MethodPost, "http://"+c.leader().httpAddr+"/v1/records", body)
		Expect(status).To(Equal(http.StatusOK), "%v", resp)
		got := c.sameLogEverywhere(6)
		Expect(got[5]).To(Equal(bytes.Repeat([]byte{'f'}, 1<<20)))

		By("serving later requests on every node")
		status, resp = httpJSON(http.MethodPost, "http://"+c.leader().httpAddr+"/v1/records", []byte(`{"records":[{"value":"eA=="}]}`))
		Expect(status).To(Equal(http.StatusOK), "%v", resp)
		c.sameLogEverywhere(7)
	})
})
