package discovery

import (
	"time"

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

var _ = Describe("Backoff", func() {
	It("doubles from min to max with jitter, and starts over after reset", func() {
		b := newBackoff(100*time.Millisecond, 800*time.Millisecond)
		for _, ceil := range []time.Duration{100, 200, 400, 800, 800, 800} {
			ceil *= time.Millisecond
			Expect(b.next()).To(And(BeNumerically(">=", ceil/2), BeNumerically("<", ceil)))
		}
		b.reset()
		Expect(b.next()).To(BeNumerically("<", 100*time.Millisecond))
	})
})
