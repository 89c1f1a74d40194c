package node

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The data directory format", func() {
	var dir string
	BeforeEach(func() { dir = GinkgoT().TempDir() })
	formatFile := func() string {
		b, err := os.ReadFile(filepath.Join(dir, formatFileName))
		Expect(err).NotTo(HaveOccurred())
		return string(b)
	}

	It("is recorded in a new directory", func() {
		Expect(checkFormat(dir)).To(Succeed())
		Expect(formatFile()).To(Equal("actorlog data format 1\n"))
		Expect(checkFormat(dir)).To(Succeed(), "and read back")
	})

	It("is recorded as format 1 in a directory written before the format was", func() {
		Expect(os.MkdirAll(filepath.Join(dir, "raft", "log"), 0o755)).To(Succeed())
		Expect(checkFormat(dir)).To(Succeed())
		Expect(formatFile()).To(Equal("actorlog data format 1\n"))
	})

	It("refuses another format, naming both, and changes nothing", func() {
		Expect(os.WriteFile(filepath.Join(dir, formatFileName), []byte("actorlog data format 2\n"), 0o644)).To(Succeed())
		err := checkFormat(dir)
		Expect(err).To(MatchError(ErrDataFormat))
		Expect(err.Error()).To(ContainSubstring("has format 2, but this build of actorlog reads format 1"))
		Expect(formatFile()).To(Equal("actorlog data format 2\n"))
	})

	It("refuses a format file it cannot read", func() {
		Expect(os.WriteFile(filepath.Join(dir, formatFileName), []byte("garbage"), 0o644)).To(Succeed())
		Expect(checkFormat(dir)).To(MatchError(ContainSubstring(`has format "garbage"`)))
	})
})
