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
	writeFormat := func(line string) {
		Expect(os.WriteFile(filepath.Join(dir, formatFileName), []byte(line), 0o644)).To(Succeed())
	}

	It("is recorded in a new directory, as the node is configured", func() {
		Expect(checkFormat(dir, DataFormat1)).To(BeFalse())
		Expect(formatFile()).To(Equal("actorlog data format 1\n"))
		Expect(checkFormat(dir, DataFormat1)).To(BeFalse(), "and read back")

		dir = GinkgoT().TempDir()
		Expect(checkFormat(dir, DataFormat2)).To(BeFalse())
		Expect(formatFile()).To(Equal("actorlog data format 2\n"))
	})

	It("is recorded as the configured format in a directory written before the format was", func() {
		Expect(os.MkdirAll(filepath.Join(dir, "raft", "log"), 0o755)).To(Succeed())
		Expect(checkFormat(dir, DataFormat1)).To(BeFalse())
		Expect(formatFile()).To(Equal("actorlog data format 1\n"))
	})

	It("moves a format 1 directory up to format 2, which reads its records as they are", func() {
		writeFormat("actorlog data format 1\n")
		Expect(checkFormat(dir, DataFormat2)).To(BeTrue())
		Expect(formatFile()).To(Equal("actorlog data format 2\n"))
		Expect(checkFormat(dir, DataFormat2)).To(BeFalse(), "once")
	})

	It("refuses to move a format 2 directory down to 1, naming both, and changes nothing", func() {
		writeFormat("actorlog data format 2\n")
		_, err := checkFormat(dir, DataFormat1)
		Expect(err).To(MatchError(ErrDataFormat))
		Expect(err.Error()).To(ContainSubstring("has format 2, but this node is configured for format 1"))
		Expect(err.Error()).To(ContainSubstring("--data-format 2"))
		Expect(formatFile()).To(Equal("actorlog data format 2\n"))
	})

	It("refuses a format this build does not know, naming the ones it reads, and changes nothing", func() {
		writeFormat("actorlog data format 3\n")
		_, err := checkFormat(dir, DataFormat2)
		Expect(err).To(MatchError(ErrDataFormat))
		Expect(err.Error()).To(ContainSubstring("has format 3, but this build of actorlog reads formats 1 to 2"))
		Expect(formatFile()).To(Equal("actorlog data format 3\n"))
	})

	It("refuses a format file it cannot read", func() {
		writeFormat("garbage")
		_, err := checkFormat(dir, DataFormat1)
		Expect(err).To(MatchError(ContainSubstring(`has format "garbage"`)))
	})
})
