package specs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("make run (scripts/run-cluster.sh)", func() {
	It("starts three nodes that bootstrap through Consul, serves produce and consume, and leaves nothing running after SIGINT", func() {
		consul := startConsul()
		data := GinkgoT().TempDir()
		repo, err := filepath.Abs("..")
		Expect(err).NotTo(HaveOccurred())

		cmd := exec.Command("bash", filepath.Join(repo, "scripts", "run-cluster.sh"))
		cmd.Dir = repo
		cmd.Env = append(os.Environ(),
			"DATA_DIR="+data, "ACTORLOG="+actorlogBin, "CONSUL_ADDR="+consul.Addr(),
			"ACTOR_BASE=0", "HTTP_BASE=0", "RAFT_BASE=0", "GRPC_BASE=0")
		run, err := gexec.Start(cmd, gexec.NewPrefixedWriter("[run] ", GinkgoWriter), gexec.NewPrefixedWriter("[run] ", GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { run.Kill().Wait(10 * time.Second) })
		pids := func() []int {
			var out []int
			for i := 1; i <= 3; i++ {
				raw, err := os.ReadFile(filepath.Join(data, "n"+strconv.Itoa(i), "pid"))
				if err == nil {
					if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
						out = append(out, pid)
					}
				}
			}
			return out
		}
		DeferCleanup(func() {
			for _, pid := range pids() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		Eventually(run.Out, time.Minute).Should(gbytes.Say("cluster ready"))
		Expect(pids()).To(HaveLen(3))

		produce := cli(strings.NewReader("hello\nworld\n"), "produce", "--consul-addr", consul.Addr())
		Eventually(produce, 30*time.Second).Should(gexec.Exit(0))
		Expect(lines(produce.Out.Contents())).To(Equal([]string{"0", "1"}))
		// A follower may serve the read before it has applied the
		// records; a later read sees them.
		Eventually(func() []string {
			consume := cli(nil, "consume", "--from", "0", "--consul-addr", consul.Addr())
			Eventually(consume, 30*time.Second).Should(gexec.Exit(0))
			return lines(consume.Out.Contents())
		}, 30*time.Second, 200*time.Millisecond).Should(Equal([]string{"hello", "world"}))
		servers := cli(nil, "servers", "--consul-addr", consul.Addr())
		Eventually(servers, 30*time.Second).Should(gexec.Exit(0))
		rows := lines(servers.Out.Contents())
		Expect(rows).To(HaveLen(4))
		leaders := 0
		for _, row := range rows[1:] {
			f := strings.Fields(row)
			Expect(f).To(HaveLen(7))
			Expect(f[6]).To(Equal("passing"), row)
			if f[5] == "true" {
				leaders++
			}
		}
		Expect(leaders).To(Equal(1))

		run.Signal(syscall.SIGINT)
		Eventually(run, time.Minute).Should(gexec.Exit(0))
		for _, pid := range pids() {
			Expect(errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)).To(BeTrue(), "node pid %d still runs", pid)
		}
		Eventually(consulStatuses(consul.Addr()), 20*time.Second).Should(BeEmpty(), "the nodes deregistered")
	})
})
