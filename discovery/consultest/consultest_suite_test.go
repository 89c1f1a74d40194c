package consultest_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestConsultest(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "consultest")
}
