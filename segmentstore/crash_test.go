package segmentstore_test

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const (
	crashWriterEnv = "SEGMENTSTORE_CRASH_WRITER_DIR"
	crashPolicyEnv = "SEGMENTSTORE_CRASH_WRITER_SYNC"
)

func crashWriterConfig(policy string) segmentstore.Config {
	c := testConfig()
	p, err := segmentstore.ParseSyncPolicy(policy)
	if err != nil {
		panic(err)
	}
	c.Sync = p
	c.SyncInterval = 1_000_000 // 1ms
	return c
}

// runCrashWriter appends batches forever, printing "acked <first> <n>"
// after each Append returns, until it is killed.
func runCrashWriter(dir, policy string) int {
	l, err := segmentstore.Open(dir, crashWriterConfig(policy))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewSource(int64(os.Getpid())))
	for {
		n := uint64(rng.Intn(8) + 1)
		next := l.NextOffset()
		first, err := l.Append(records(next, n)...)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		fmt.Fprintf(out, "acked %d %d\n", first, n)
		out.Flush()
	}
}

var _ = Describe("A writer process killed with SIGKILL", func() {
	DescribeTable("reopens to a valid prefix",
		func(policy string, keepsAcked bool) {
			dir := GinkgoT().TempDir()
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), crashWriterEnv+"="+dir, crashPolicyEnv+"="+policy)
			cmd.Stderr = GinkgoWriter
			stdout, err := cmd.StdoutPipe()
			Expect(err).NotTo(HaveOccurred())
			Expect(cmd.Start()).To(Succeed())
			DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

			killAfter := 200 + rand.New(rand.NewSource(GinkgoRandomSeed())).Intn(600)
			var acked uint64
			sc := bufio.NewScanner(stdout)
			for acked < uint64(killAfter) && sc.Scan() {
				f := strings.Fields(sc.Text())
				Expect(f).To(HaveLen(3))
				first, _ := strconv.ParseUint(f[1], 10, 64)
				n, _ := strconv.ParseUint(f[2], 10, 64)
				Expect(first).To(Equal(acked))
				acked = first + n
			}
			Expect(acked).To(BeNumerically(">=", killAfter), "the writer stopped early")
			Expect(cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
			_ = cmd.Wait()

			l := mustOpen(dir, crashWriterConfig(policy))
			next := l.NextOffset()
			if keepsAcked {
				Expect(next).To(BeNumerically(">=", acked), "an acknowledged record was lost")
			}
			for off := uint64(0); off < next; off++ {
				expectRecord(l, off)
			}
			first, err := l.Append(segmentstore.Record{Value: value(next), Term: next + 1000})
			Expect(err).NotTo(HaveOccurred())
			Expect(first).To(Equal(next))
		},
		Entry("SyncAlways keeps every acknowledged record", "always", true),
		Entry("SyncInterval", "interval", false),
		Entry("SyncNone", "none", false),
	)
})
