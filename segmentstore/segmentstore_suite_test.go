package segmentstore_test

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestMain(m *testing.M) {
	// The kill specs re-run this test binary as a writer process that they
	// kill -9; see crash_test.go.
	if dir := os.Getenv(crashWriterEnv); dir != "" {
		os.Exit(runCrashWriter(dir, os.Getenv(crashPolicyEnv)))
	}
	os.Exit(m.Run())
}

func TestSegmentstore(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "segmentstore")
}
