package specs

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// docs/DESIGN.md, invariant 1: an acknowledged record survives kill -9 of a
// single node at any moment. A kill -9 takes the process, not the machine,
// so this holds whatever the fsync policy, as long as the node hands a
// record to the operating system before it acknowledges it.
var _ = Describe("A node killed with SIGKILL in the middle of a produce", func() {
	DescribeTable("keeps every acknowledged record, and offsets continue densely after a restart", func(flags ...string) {
		dir := GinkgoT().TempDir()
		node := startAgent("crash1", dir, flags...)

		By("producing an endless stream of lines through the CLI")
		pr, pw := io.Pipe()
		line := func(i int) []byte { return fmt.Appendf(nil, "crash-%08d-payload-%d", i, i*7919) }
		stopFeeding := make(chan struct{})
		fed := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(fed)
			defer pw.Close()
			for i := 0; ; i++ {
				select {
				case <-stopFeeding:
					return
				default:
				}
				if _, err := pw.Write(append(line(i), '\n')); err != nil {
					return
				}
			}
		}()
		produce := cli(pr, "produce", "--servers", node.actorAddr, "--batch", "100", "--in-flight", "4", "--timeout", "3s")
		Eventually(func() int { return len(lines(produce.Out.Contents())) }, time.Minute, 10*time.Millisecond).
			Should(BeNumerically(">=", 30_000))

		By("killing the node with SIGKILL while records are in flight")
		node.kill9()
		close(stopFeeding)
		pr.Close()
		<-fed
		Eventually(produce, 30*time.Second).Should(gexec.Exit())
		acked := lines(produce.Out.Contents())
		GinkgoWriter.Printf("acknowledged before the kill: %d records\n", len(acked))

		By("restarting the node on the same data directory")
		node = startAgent("crash1", dir, flags...)
		c := newClient(node)
		all := readAll(c)

		By("finding every acknowledged record at its offset with its value")
		Expect(len(all)).To(BeNumerically(">=", len(acked)),
			"the restarted node holds %d records but acknowledged %d: acknowledged records were lost", len(all), len(acked))
		for i, s := range acked {
			off, err := strconv.ParseUint(s, 10, 64)
			Expect(err).NotTo(HaveOccurred())
			Expect(off).To(BeNumerically("<", len(all)), "acknowledged offset %d is gone", off)
			Expect(string(all[off])).To(Equal(string(line(i))), "offset %d", off)
		}

		By("appending after the recovered records, with no gap")
		next := nextOffset(c)
		Expect(next).To(Equal(uint64(len(all))))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		offs, err := c.Produce(ctx, []byte("after-restart-1"), []byte("after-restart-2"))
		Expect(err).NotTo(HaveOccurred())
		Expect(offs).To(Equal([]uint64{next, next + 1}))
	},
		Entry("with --sync always", "--sync", "always"),
		Entry("with --sync interval (the default)", nil...),
		Entry("with --sync none", "--sync", "none"),
	)
})
