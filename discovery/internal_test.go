package discovery

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Blocking query index", func() {
	DescribeTable("follows Consul's rules",
		func(prev, got, want uint64) {
			Expect(nextIndex(prev, got)).To(Equal(want))
		},
		Entry("first query", uint64(0), uint64(42), uint64(42)),
		Entry("moved forward", uint64(42), uint64(50), uint64(50)),
		Entry("unchanged after WaitTime", uint64(42), uint64(42), uint64(42)),
		Entry("went backwards: start over without blocking", uint64(42), uint64(7), uint64(0)),
		Entry("zero: still block next time", uint64(0), uint64(0), uint64(1)),
	)
})
