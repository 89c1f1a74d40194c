package consensus_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sirupsen/logrus"
)

func TestConsensus(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Consensus Suite")
}

// testLogger sends logs to GinkgoWriter, which prints them only for a
// failed spec.
func testLogger(node string) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(GinkgoWriter)
	l.SetLevel(logrus.InfoLevel)
	return l.WithField("node", node)
}
