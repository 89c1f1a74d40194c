package specs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	GinkgoHelper()
	var n int64
	Expect(filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return err
	})).To(Succeed())
	return n
}

var _ = Describe("The data directory's format (docs/DESIGN.md, \"Data directory formats\")", func() {
	refused := func(dir string, extra ...string) *gexec.Session {
		GinkgoHelper()
		args := append([]string{"agent", "--id", "fmt", "--data-dir", dir, "--bootstrap",
			"--actor-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"}, extra...)
		agent := cli(nil, args...)
		Eventually(agent, 30*time.Second).Should(gexec.Exit())
		Expect(agent.ExitCode()).NotTo(Equal(0))
		return agent
	}
	produce := func(a *agent, from, n int) {
		GinkgoHelper()
		c := newClient(a)
		defer c.Close()
		for i := from; i < from+n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := c.Produce(ctx, fmt.Appendf(nil, "r%04d-%01000d", i, 0))
			cancel()
			Expect(err).NotTo(HaveOccurred())
		}
	}
	expectRecords := func(a *agent, n int) {
		GinkgoHelper()
		c := newClient(a)
		defer c.Close()
		got := readAll(c)
		Expect(got).To(HaveLen(n))
		for i, v := range got {
			Expect(string(v)).To(Equal(fmt.Sprintf("r%04d-%01000d", i, 0)), "offset %d", i)
		}
	}

	It("is recorded; format 2 writes each record's bytes once, in the raft log", func() {
		dir := GinkgoT().TempDir()
		a := startAgent("fmt2", dir)
		produce(a, 0, 200)
		expectRecords(a, 200)
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
		Expect(os.ReadFile(filepath.Join(dir, "FORMAT"))).To(Equal([]byte("actorlog data format 2\n")))
		// 200 KiB of values: the raft log holds them, the record log only
		// references (about 35 bytes each, and its index).
		Expect(dirBytes(filepath.Join(dir, "raft", "log"))).To(BeNumerically(">", 200*1000))
		Expect(dirBytes(filepath.Join(dir, "log"))).To(BeNumerically("<", 200*100), "the record log holds references, not values")

		a = startAgent("fmt2", dir)
		expectRecords(a, 200)
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
	})

	It("moves a format 1 directory up to 2 in place, serving its old records and the new ones", func() {
		dir := GinkgoT().TempDir()
		a := startAgent("fmt1", dir, "--data-format", "1")
		produce(a, 0, 50)
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
		Expect(os.ReadFile(filepath.Join(dir, "FORMAT"))).To(Equal([]byte("actorlog data format 1\n")))
		format1 := dirBytes(filepath.Join(dir, "log"))
		Expect(format1).To(BeNumerically(">", 50*1000), "format 1's records carry their values")

		a = startAgent("fmt1", dir, "--data-format", "2")
		Eventually(a.session.Err, 10*time.Second).Should(gbytes.Say("moved up to a newer format"))
		expectRecords(a, 50)
		produce(a, 50, 50)
		expectRecords(a, 100)
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
		Expect(os.ReadFile(filepath.Join(dir, "FORMAT"))).To(Equal([]byte("actorlog data format 2\n")))
		Expect(dirBytes(filepath.Join(dir, "log"))-format1).To(BeNumerically("<", 50*100), "the new records are references")

		By("refusing to go back to format 1, naming both formats")
		agent := refused(dir, "--data-format", "1")
		Expect(agent.Err).To(gbytes.Say(`has format 2, but this node is configured for format 1`))

		a = startAgent("fmt1", dir)
		expectRecords(a, 100)
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
	})

	It("gives the raft log's disk space back as retention deletes records, and keeps what it retains readable across restarts", func() {
		dir := GinkgoT().TempDir()
		flags := []string{"--segment-bytes", "65536", "--retention-bytes", "262144", "--raft-segment-bytes", "65536",
			"--raft-snapshot-threshold", "20", "--raft-snapshot-interval", "200ms", "--raft-trailing-logs", "10"}
		a := startAgent("fmtret", dir, flags...)
		c := newClient(a)
		const total = 3000
		for i := 0; i < total; i += 10 {
			var vals [][]byte
			for j := i; j < i+10; j++ {
				vals = append(vals, fmt.Appendf(nil, "r%04d-%01000d", j, 0))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := c.Produce(ctx, vals...)
			cancel()
			Expect(err).NotTo(HaveOccurred())
		}
		raftLog := func() int64 {
			files, err := filepath.Glob(filepath.Join(dir, "raft", "log", "*.store"))
			Expect(err).NotTo(HaveOccurred())
			var n int64
			for _, f := range files {
				st, err := os.Stat(f)
				if err == nil {
					n += st.Size()
				}
			}
			return n
		}
		// 3 MB of values went in; retention keeps about 256 KiB of them,
		// and the raft log follows within a segment or two.
		Eventually(raftLog, 30*time.Second, 200*time.Millisecond).Should(BeNumerically("<", 1<<20))
		readRetained := func(a *agent) {
			GinkgoHelper()
			st := a.caughtUp()
			Expect(st.LowOffset).To(BeNumerically(">", 0))
			Expect(st.NextOffset).To(Equal(uint64(total)))
			c := newClient(a)
			defer c.Close()
			for off := st.LowOffset; off < st.NextOffset; {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := c.Consume(ctx, off, client.ConsumeOptions{MaxRecords: 500})
				cancel()
				Expect(err).NotTo(HaveOccurred(), "offset %d", off)
				for _, r := range res.Records {
					Expect(r.Offset).To(Equal(off))
					Expect(string(r.Value)).To(Equal(fmt.Sprintf("r%04d-%01000d", off, 0)))
					off++
				}
			}
		}
		readRetained(a)
		c.Close()
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
		a = startAgent("fmtret", dir, flags...)
		readRetained(a)
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
	})

	It("refuses a format this build does not know, naming the ones it reads", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "FORMAT"), []byte("actorlog data format 3\n"), 0o644)).To(Succeed())
		agent := refused(dir)
		Expect(agent.Err).To(gbytes.Say(`has format 3, but this build of actorlog reads formats 1 to 2`))
		Expect(os.ReadFile(filepath.Join(dir, "FORMAT"))).To(Equal([]byte("actorlog data format 3\n")))
	})
})
