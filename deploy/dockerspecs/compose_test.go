package dockerspecs

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("The Compose cluster (deploy/compose.yaml)", Ordered, func() {
	var s *stack
	// acked holds every record acknowledged in any step so far: each step
	// checks all of them again.
	acked := map[string]uint64{}

	BeforeAll(func() {
		s = newStack("compose.yaml")
		s.up()
	})

	// converged waits until every node serves the same log holding every
	// acknowledged record exactly once, and the nodes agree on a leader.
	converged := func() {
		GinkgoHelper()
		Eventually(s.leader).WithTimeout(2 * time.Minute).WithPolling(time.Second).ShouldNot(BeEmpty())
		Eventually(func() error { return checkLogs(s, acked) }).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
	}

	// during runs a producer on the host while fault happens, and heal
	// after the producer made progress under the fault; then everything
	// acknowledged must be there once on every node.
	during := func(tag string, fault, heal func()) {
		GinkgoHelper()
		p := startProducer(s, tag)
		DeferCleanup(func() { p.finish() })
		Eventually(p.count).WithTimeout(2*time.Minute).WithPolling(200*time.Millisecond).Should(BeNumerically(">=", 100), "records before the fault")
		fault()
		before := p.count()
		Eventually(p.count).WithTimeout(3*time.Minute).WithPolling(200*time.Millisecond).Should(BeNumerically(">=", before+100), "records acknowledged under the fault")
		heal()
		Eventually(s.leader).WithTimeout(2 * time.Minute).WithPolling(time.Second).ShouldNot(BeEmpty())
		after := p.count()
		Eventually(p.count).WithTimeout(2*time.Minute).WithPolling(200*time.Millisecond).Should(BeNumerically(">=", after+100), "records after healing")
		for v, o := range p.finish() {
			acked[v] = o
		}
		converged()
	}

	It("forms a cluster that the host's produce and consume reach within a minute", func() {
		var offsets []uint64
		Eventually(func() error {
			var err error
			offsets, err = produce(s, []string{"hello", "world"}, 5*time.Second)
			return err
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Expect(offsets).To(HaveLen(2))
		acked["hello"], acked["world"] = offsets[0], offsets[1]

		consume := cli(append([]string{"consume", "--from", "0", "--consistent"}, s.clientFlags()...)...)
		Eventually(consume).WithTimeout(time.Minute).Should(gexec.Exit(0))
		Expect(strings.Fields(string(consume.Out.Contents()))).To(Equal([]string{"hello", "world"}))

		// The gRPC Log service through the published loopback ports: no
		// dial-back, so it works where the actor remote cannot.
		Eventually(func() error {
			var err error
			offsets, err = produceWith(s, []string{"over-grpc"}, 5*time.Second, s.grpcFlags()...)
			return err
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Expect(offsets).To(Equal([]uint64{2}))
		acked["over-grpc"] = 2
		grpcConsume := cli(append([]string{"consume", "--from", "0", "--consistent"}, s.grpcFlags()...)...)
		Eventually(grpcConsume).WithTimeout(time.Minute).Should(gexec.Exit(0))
		Expect(strings.Fields(string(grpcConsume.Out.Contents()))).To(Equal([]string{"hello", "world", "over-grpc"}))

		// Every member with its advertised addresses, once the leader has
		// learnt them all.
		Eventually(func() string {
			servers := cli(append([]string{"servers"}, s.clientFlags()...)...)
			Eventually(servers).WithTimeout(time.Minute).Should(gexec.Exit(0))
			return string(servers.Out.Contents())
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(And(
			MatchRegexp(`(?m)^n1\s+%s:7400\s+\S+\s+n1:7470\s+127\.0\.0\.1:%d\s+(true|false)\s+passing$`, s.nodeIP("n1"), s.grpcPorts["n1"]),
			MatchRegexp(`(?m)^n2\s+%s:7400\s+\S+\s+n2:7470\s+127\.0\.0\.1:%d\s+(true|false)\s+passing$`, s.nodeIP("n2"), s.grpcPorts["n2"]),
			MatchRegexp(`(?m)^n3\s+%s:7400\s+\S+\s+n3:7470\s+127\.0\.0\.1:%d\s+(true|false)\s+passing$`, s.nodeIP("n3"), s.grpcPorts["n3"])))
		for _, n := range nodeNames {
			Eventually(func() string {
				return docker("inspect", "--format", "{{.State.Health.Status}} {{.Config.User}}", s.containerID(n))
			}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Equal("healthy 65532:65532"), "the image's health check passes as the unprivileged user")
		}
		converged()
	})

	It("loses and duplicates nothing when the leader is killed and started again", func() {
		var victim string
		during("kill", func() {
			var err error
			victim, err = s.leader()
			Expect(err).NotTo(HaveOccurred())
			docker("kill", s.containerID(victim))
		}, func() {
			docker("start", s.containerID(victim))
		})
	})

	It("loses and duplicates nothing when the leader is paused and resumed", func() {
		var victim string
		during("pause", func() {
			var err error
			victim, err = s.leader()
			Expect(err).NotTo(HaveOccurred())
			docker("pause", s.containerID(victim))
		}, func() {
			docker("unpause", s.containerID(victim))
		})
	})

	It("loses and duplicates nothing when the leader is cut off the network and reconnected", func() {
		var victim string
		during("partition", func() {
			var err error
			victim, err = s.leader()
			Expect(err).NotTo(HaveOccurred())
			docker("network", "disconnect", s.network(), s.containerID(victim))
		}, func() {
			// Back with its fixed address and its service name.
			docker("network", "connect", "--ip", s.nodeIP(victim), "--alias", victim, s.network(), s.containerID(victim))
		})
	})

	It("loses and duplicates nothing when every container restarts, and keeps the data", func() {
		during("restart", func() {
			s.compose("restart", "-t", "20")
		}, func() {})
		for _, n := range nodeNames {
			st, err := s.status(n)
			Expect(err).NotTo(HaveOccurred())
			Expect(st.NextOffset).To(BeNumerically(">=", uint64(len(acked))))
		}
	})

	It("turns a node whose data directory was wiped unhealthy, in its health check and on /healthz", func() {
		victim := "n3"
		mount := docker("volume", "inspect", "--format", "{{.Mountpoint}}", s.project+"_n3-data")
		entries, err := os.ReadDir(mount)
		Expect(err).NotTo(HaveOccurred(), "the spec removes the volume's files through its mount point, which needs root on the Docker host")
		Expect(entries).NotTo(BeEmpty())
		for _, e := range entries {
			Expect(os.RemoveAll(filepath.Join(mount, e.Name()))).To(Succeed())
		}
		Eventually(func() string {
			return docker("inspect", "--format", "{{.State.Health.Status}}", s.containerID(victim))
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Equal("unhealthy"))
		resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.httpPorts[victim]))
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
		Expect(string(body)).To(ContainSubstring("data directory lost"))
	})
})
