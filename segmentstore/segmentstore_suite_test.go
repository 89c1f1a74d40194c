package segmentstore_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSegmentstore(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "segmentstore")
}
