package raftmux_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestRaftmux(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "raftmux")
}
