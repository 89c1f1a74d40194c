package dockerspecs

import (
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("The Compose cluster with TLS (deploy/compose.tls.yaml)", Ordered, func() {
	var s *stack
	var certDir string

	BeforeAll(func() {
		s = newStack("compose.yaml", "compose.tls.yaml")
		s.up()
		certDir = GinkgoT().TempDir()
		certs := s.containerID("certs")
		Expect(certs).NotTo(BeEmpty())
		for _, f := range []string{"ca.pem", "root.pem", "root-key.pem", "nobody.pem", "nobody-key.pem"} {
			docker("cp", certs+":/data/"+f, filepath.Join(certDir, f))
		}
	})

	tlsFlags := func(identity string) []string {
		return []string{"--tls-cert", filepath.Join(certDir, identity+".pem"),
			"--tls-key", filepath.Join(certDir, identity+"-key.pem"), "--tls-ca", filepath.Join(certDir, "ca.pem")}
	}
	run := func(args ...string) *gexec.Session {
		GinkgoHelper()
		sess := cli(args...)
		Eventually(sess).WithTimeout(time.Minute).Should(gexec.Exit())
		return sess
	}

	It("serves the host's CLI with a client certificate of the stack's CA, and refuses plaintext and identities without a grant", func() {
		var offsets []uint64
		Eventually(func() error {
			var err error
			offsets, err = produceWith(s, []string{"secret"}, 5*time.Second, append(s.clientFlags(), tlsFlags("root")...)...)
			return err
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
		Expect(offsets).To(Equal([]uint64{0}))

		consume := run(append(append([]string{"consume", "--from", "0", "--consistent"}, s.clientFlags()...), tlsFlags("root")...)...)
		Expect(consume.ExitCode()).To(Equal(0))
		Expect(strings.Fields(string(consume.Out.Contents()))).To(Equal([]string{"secret"}))

		plain := run(append([]string{"consume", "--from", "0", "--timeout", "5s"}, s.clientFlags()...)...)
		Expect(plain.ExitCode()).NotTo(Equal(0))
		Expect(string(plain.Err.Contents())).To(ContainSubstring("requires mutual TLS"))

		nobody := run(append(append([]string{"consume", "--from", "0", "--timeout", "5s"}, s.clientFlags()...), tlsFlags("nobody")...)...)
		Expect(nobody.ExitCode()).NotTo(Equal(0))
		Expect(string(nobody.Err.Contents())).To(ContainSubstring("nobody"))

		for _, n := range nodeNames {
			Eventually(func() string {
				return docker("inspect", "--format", "{{.State.Health.Status}}", s.containerID(n))
			}).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Equal("healthy"), "the health check speaks HTTPS to a TLS node")
		}
	})
})
