package grpcroute

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestGRPCRoute(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "grpcroute Suite")
}
