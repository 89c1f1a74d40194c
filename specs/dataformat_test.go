package specs

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("The data directory's format", func() {
	It("is recorded, and a directory of another format is refused with both formats named", func() {
		dir := GinkgoT().TempDir()
		a := startAgent("fmt1", dir)
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
		Expect(os.ReadFile(filepath.Join(dir, "FORMAT"))).To(Equal([]byte("actorlog data format 1\n")))

		Expect(os.WriteFile(filepath.Join(dir, "FORMAT"), []byte("actorlog data format 2\n"), 0o644)).To(Succeed())
		agent := cli(nil, "agent", "--id", "fmt1", "--data-dir", dir, "--bootstrap",
			"--actor-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0")
		Eventually(agent, 30*time.Second).Should(gexec.Exit())
		Expect(agent.ExitCode()).NotTo(Equal(0))
		Expect(agent.Err).To(gbytes.Say(`has format 2, but this build of actorlog reads format 1`))
	})
})
