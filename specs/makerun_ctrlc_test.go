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

var _ = Describe("Ctrl-C in the terminal of make run", func() {
	// The terminal sends SIGINT to every process of the foreground group
	// at once: make, the script and the nodes. The nodes stop gracefully by
	// themselves; the script must then not report a failure.
	DescribeTable("stops every node and ends quietly when SIGINT reaches the whole process group",
		func(underMake, sigintIgnored bool) {
			consul := startConsul()
			data := GinkgoT().TempDir()
			repo, err := filepath.Abs("..")
			Expect(err).NotTo(HaveOccurred())

			script := filepath.Join(repo, "scripts", "run-cluster.sh")
			cmd := exec.Command("bash", script)
			if underMake {
				// make runs the script as `make run` does (its other
				// prerequisites build what the suite has built already).
				mk := filepath.Join(GinkgoT().TempDir(), "Makefile")
				Expect(os.WriteFile(mk, []byte("run:\n\tbash "+script+"\n"), 0o644)).To(Succeed())
				cmd = exec.Command("make", "--no-print-directory", "-f", mk, "run")
			}
			if sigintIgnored {
				// As for a job started in the background of a script or by a
				// tool: SIGINT ignored on entry, so bash cannot trap it, while
				// the Go nodes still act on it.
				cmd.Args = append([]string{"bash", "-c", `trap "" INT; exec "$@"`, "-"}, cmd.Args...)
				cmd.Path, err = exec.LookPath("bash")
				Expect(err).NotTo(HaveOccurred())
			}
			cmd.Dir = repo
			cmd.Env = append(os.Environ(),
				"DATA_DIR="+data, "ACTORLOG="+actorlogBin, "CONSUL_ADDR="+consul.Addr(),
				"ACTOR_BASE=0", "HTTP_BASE=0", "RAFT_BASE=0")
			// A process group of its own, as a terminal gives a foreground job.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			run, err := gexec.Start(cmd, gexec.NewPrefixedWriter("[run] ", GinkgoWriter), gexec.NewPrefixedWriter("[run] ", GinkgoWriter))
			Expect(err).NotTo(HaveOccurred())
			pgid := cmd.Process.Pid
			DeferCleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL); run.Wait(10 * time.Second) })

			Eventually(run.Out, time.Minute).Should(gbytes.Say("cluster ready"))
			var pids []int
			for i := 1; i <= 3; i++ {
				raw, err := os.ReadFile(filepath.Join(data, "n"+strconv.Itoa(i), "pid"))
				Expect(err).NotTo(HaveOccurred())
				pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
				Expect(err).NotTo(HaveOccurred())
				pids = append(pids, pid)
			}

			Expect(syscall.Kill(-pgid, syscall.SIGINT)).To(Succeed())
			Eventually(run, time.Minute).Should(gexec.Exit())
			if underMake && !sigintIgnored {
				// GNU make always ends by the SIGINT it got itself (status
				// 130) once its recipe is done; it reports nothing when the
				// recipe succeeded, and "Error 1" when it failed.
				Expect(run.ExitCode()).To(Or(Equal(0), Equal(130)))
			} else {
				Expect(run.ExitCode()).To(Equal(0))
			}
			Expect(string(run.Err.Contents())).To(BeEmpty())
			Expect(string(run.Out.Contents())).To(ContainSubstring("stopped; data is kept"))
			for _, pid := range pids {
				Expect(errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)).To(BeTrue(), "node pid %d still runs", pid)
			}
			Eventually(consulStatuses(consul.Addr()), 20*time.Second).Should(BeEmpty(), "the nodes deregistered")
		},
		Entry("the script", false, false),
		Entry("make", true, false),
		Entry("make, started with SIGINT ignored", true, true),
	)
})
