package specs

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// actorlogBin is the binary under test: $ACTORLOG_BIN when set (make test
// builds it once for every suite), otherwise built here once per run.
var actorlogBin string

func TestSpecs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "actorlog specs")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	if bin := os.Getenv("ACTORLOG_BIN"); bin != "" {
		return []byte(bin)
	}
	bin, err := gexec.Build("actorlog/cmd/actorlog")
	Expect(err).NotTo(HaveOccurred())
	return []byte(bin)
}, func(bin []byte) {
	actorlogBin = string(bin)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	gexec.CleanupBuildArtifacts()
})
