package specs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
)

// metric scrapes the agent's /metrics and returns the value of one series,
// named as the text exposition writes it (`name` or `name{label="v"}`).
// It fails when the series is missing.
func (a *agent) metric(series string) (float64, error) {
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(a.url("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("/metrics answered %d: %s", resp.StatusCode, body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no series %s in /metrics", series)
}

// metricOf is for Eventually: the series' value, or -1 when it cannot be read.
func (a *agent) metricOf(series string) func() float64 {
	return func() float64 {
		v, err := a.metric(series)
		if err != nil {
			GinkgoWriter.Printf("scrape %s: %v\n", series, err)
			return -1
		}
		return v
	}
}

var _ = Describe("Metrics on /metrics", func() {
	It("count the bytes written to disk, by log", func() {
		node := startAgent("met-disk", GinkgoT().TempDir())
		c := newClient(node)
		values := make([][]byte, 200)
		for i := range values {
			values[i] = bytes.Repeat([]byte{'x'}, 1024)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.Produce(ctx, values...)
		Expect(err).NotTo(HaveOccurred())
		// Data format 2: the raft log holds every value (and its envelope)
		// once, and the record log a reference to each.
		Eventually(node.metricOf(`actorlog_disk_write_bytes_total{log="raft"}`), 10*time.Second).
			Should(BeNumerically(">=", 200*1024))
		Expect(node.metric(`actorlog_disk_write_bytes_total{log="raft"}`)).To(BeNumerically("<", 200*1024*11/10),
			"one record costs its value plus a small share of its raft entry's envelope")
		Eventually(node.metricOf(`actorlog_disk_write_bytes_total{log="records"}`), 10*time.Second).
			Should(BeNumerically(">=", 200*32), "a frame per record")
		Expect(node.metric(`actorlog_disk_write_bytes_total{log="records"}`)).To(BeNumerically("<", 200*100),
			"a reference per record, not its value")
		Expect(node.metric(`actorlog_disk_write_bytes_total{log="snapshots"}`)).To(BeNumerically(">=", 0))
	})

	It("count the records produced and the requests served", func() {
		node := startAgent("met1", GinkgoT().TempDir())
		Eventually(node.metricOf(`actorlog_raft_state{state="Leader"}`), 30*time.Second).Should(BeEquivalentTo(1))
		records, err := node.metric("actorlog_produce_records_total")
		Expect(err).NotTo(HaveOccurred())
		requests, err := node.metric("actorlog_produce_requests_total")
		Expect(err).NotTo(HaveOccurred())

		By("producing three records over HTTP")
		status, body := httpJSON(http.MethodPost, node.url("/v1/records"),
			[]byte(`{"records":[{"value":"YQ=="},{"value":"Yg=="},{"value":"Yw=="}]}`))
		Expect(status).To(Equal(http.StatusOK), "%v", body)

		Expect(node.metric("actorlog_produce_records_total")).To(BeNumerically(">=", records+3))
		Expect(node.metric("actorlog_produce_requests_total")).To(BeNumerically(">=", requests+1))
		Expect(node.metric("actorlog_http_produce_duration_seconds_count")).To(BeNumerically(">=", 1))
		Eventually(node.metricOf("actorlog_raft_applied_index"), 10*time.Second).Should(BeNumerically(">", 0))
		Expect(node.metric("actorlog_log_segments")).To(BeNumerically(">=", 1))
		Expect(node.metric("actorlog_log_size_bytes")).To(BeNumerically(">", 0))
		Expect(node.metric(`actorlog_consul_registration{state="off"}`)).To(BeEquivalentTo(1))

		By("producing through a client over the actor remote")
		c := newClient(node)
		before, err := node.metric("actorlog_produce_records_total")
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.Produce(ctx, []byte("d"), []byte("e"))
		Expect(err).NotTo(HaveOccurred())
		Expect(node.metric("actorlog_produce_records_total")).To(BeNumerically(">=", before+2))
		Expect(node.metric(`actorlog_remote_requests_total{kind="produce"}`)).To(BeNumerically(">=", 1))
		Expect(node.metric("actorlog_sessions")).To(BeNumerically(">=", 1))

		By("subscribing, then closing the subscription")
		Expect(node.metric("actorlog_subscriptions")).To(BeEquivalentTo(0))
		sub, err := c.Subscribe(ctx, 0, client.SubscribeOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(node.metricOf("actorlog_subscriptions"), 10*time.Second).Should(BeEquivalentTo(1))
		Expect(sub.Close()).To(Succeed())
		Eventually(node.metricOf("actorlog_subscriptions"), 10*time.Second).Should(BeEquivalentTo(0))
	})

	It("count a segment actor's restart after a crash", func() {
		node := startAgent("met2", GinkgoT().TempDir(), "--enable-fault-injection")
		Expect(node.metric(`actorlog_actor_restarts_total{actor="segment"}`)).To(BeEquivalentTo(0))

		resp, err := http.Post(node.url("/debug/fault/segment-crash?mode=now"), "application/json", nil)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))

		Eventually(node.metricOf(`actorlog_actor_restarts_total{actor="segment"}`), 10*time.Second).Should(BeEquivalentTo(1))
	})
})

var _ = Describe("Readiness on /readyz", func() {
	It("is 503 with a reason on a node that belongs to no cluster, while /healthz is 200", func() {
		node := startAgent("rdy1", GinkgoT().TempDir(), "--bootstrap=false")
		status, body := httpJSON(http.MethodGet, node.url("/readyz"), nil)
		Expect(status).To(Equal(http.StatusServiceUnavailable))
		Expect(body).To(HaveKeyWithValue("status", "not_ready"))
		Expect(body["reason"]).To(ContainSubstring("not a member of a raft cluster"))
		Expect(node.healthy()).To(Succeed())
	})

	It("is 200 once a bootstrapped node is the leader", func() {
		node := startAgent("rdy2", GinkgoT().TempDir())
		Eventually(func() int {
			status, _ := httpJSON(http.MethodGet, node.url("/readyz"), nil)
			return status
		}, 30*time.Second).Should(Equal(http.StatusOK))
	})
})

var _ = Describe("The agent's logs", func() {
	It("are JSON when standard error is not a terminal, and text with --log-format text", func() {
		j := startAgent("log1", GinkgoT().TempDir())
		Eventually(j.session.Err, 10*time.Second).Should(gbytes.Say(`\{.*"msg":"node started".*\}`))
		t := startAgent("log2", GinkgoT().TempDir(), "--log-format", "text")
		Eventually(t.session.Err, 10*time.Second).Should(gbytes.Say(`level=info msg="node started"`))
	})
})
