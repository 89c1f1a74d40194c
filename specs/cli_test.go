package specs

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("The command line", func() {
	It("lists the servers with the leader and their health", func() {
		node := startAgent("cli1", GinkgoT().TempDir())
		servers := cli(nil, "servers", "--servers", node.actorAddr)
		Eventually(servers, 10*time.Second).Should(gexec.Exit(0))
		out := lines(servers.Out.Contents())
		Expect(out).To(HaveLen(2))
		Expect(strings.Fields(out[0])).To(Equal([]string{"ID", "ACTOR", "HTTP", "RAFT", "GRPC", "LEADER", "HEALTH"}))
		Expect(strings.Fields(out[1])).To(Equal([]string{"cli1", node.actorAddr, node.httpAddr, node.raftAddr, node.grpcAddr, "true", "passing"}))
	})

	It("produces, consumes and lists the servers over gRPC with --transport grpc", func() {
		node := startAgent("cli4", GinkgoT().TempDir())
		produce := cli(strings.NewReader("over\ngrpc\n"), "produce", "--transport", "grpc", "--servers", node.grpcAddr)
		Eventually(produce, 20*time.Second).Should(gexec.Exit(0))
		Expect(lines(produce.Out.Contents())).To(Equal([]string{"0", "1"}))
		consume := cli(nil, "consume", "--transport", "grpc", "--servers", node.grpcAddr, "--from", "0")
		Eventually(consume, 20*time.Second).Should(gexec.Exit(0))
		Expect(lines(consume.Out.Contents())).To(Equal([]string{"over", "grpc"}))
		servers := cli(nil, "servers", "--transport", "grpc", "--servers", node.grpcAddr)
		Eventually(servers, 20*time.Second).Should(gexec.Exit(0))
		Expect(strings.Fields(lines(servers.Out.Contents())[1])).To(ContainElement(node.grpcAddr))
		bad := cli(nil, "servers", "--transport", "carrier-pigeon")
		Eventually(bad, 10*time.Second).Should(gexec.Exit(2))
	})

	It("benchmarks produce and consume against a running node", func() {
		node := startAgent("cli3", GinkgoT().TempDir())
		bench := cli(nil, "bench", "--servers", node.actorAddr, "--records", "2000", "--size", "100", "--batch", "50")
		Eventually(bench, time.Minute).Should(gexec.Exit(0))
		Expect(bench.Out).To(gbytes.Say(`produce: 2000 records of 100 B in .*records/s`))
		// Every record is written at least once, value and framing.
		Expect(bench.Out).To(gbytes.Say(`disk writes per acknowledged record: cli3 (\d+) B`))
		m := regexp.MustCompile(`disk writes per acknowledged record: cli3 (\d+) B`).FindSubmatch(bench.Out.Contents())
		perRecord, err := strconv.Atoi(string(m[1]))
		Expect(err).NotTo(HaveOccurred())
		Expect(perRecord).To(BeNumerically(">=", 100))
		Expect(bench.Out).To(gbytes.Say(`consume: 2000 records in .*records/s`))
	})

	It("reports an unreachable node clearly, with status 1, within --timeout", func() {
		start := time.Now()
		produce := cli(strings.NewReader("x\n"), "produce", "--servers", "127.0.0.1:1", "--timeout", "1s")
		Eventually(produce, 10*time.Second).Should(gexec.Exit(1))
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		Expect(produce.Err).To(gbytes.Say(`unavailable.*connection refused`))
		Expect(produce.Out.Contents()).To(BeEmpty())
	})

	It("rejects bad flags with status 2 before doing anything", func() {
		for _, args := range [][]string{
			{"produce", "--batch", "0"},
			{"consume", "--nope"},
			{"agent", "--data-dir", GinkgoT().TempDir(), "--sync", "sometimes"},
			{"servers", "extra-argument"},
		} {
			s := cli(nil, args...)
			Eventually(s, 10*time.Second).Should(gexec.Exit(2), "%v", args)
			Expect(s.Err.Contents()).NotTo(BeEmpty())
		}
	})

	It("stops the agent gracefully on SIGINT and keeps its records across the restart", func() {
		dir := GinkgoT().TempDir()
		node := startAgent("cli2", dir)
		produce := cli(strings.NewReader("one\ntwo\nthree\n"), "produce", "--servers", node.actorAddr)
		Eventually(produce, 10*time.Second).Should(gexec.Exit(0))
		Expect(lines(produce.Out.Contents())).To(Equal([]string{"0", "1", "2"}))

		Eventually(node.session.Interrupt(), 30*time.Second).Should(gexec.Exit(0))
		Expect(lines(node.session.Out.Contents())).To(HaveLen(1), "the ready line is the only output")

		node = startAgent("cli2", dir)
		consume := cli(nil, "consume", "--servers", node.actorAddr)
		Eventually(consume, 10*time.Second).Should(gexec.Exit(0))
		Expect(lines(consume.Out.Contents())).To(Equal([]string{"one", "two", "three"}))
	})
})
