package node

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The applied-index watch", func() {
	It("reports an applied index that stays below the commit index, and nothing while it moves", func() {
		var w applyWatch
		t0 := time.Now()
		Expect(w.check(5, 9, t0, time.Second)).To(Succeed())
		Expect(w.check(6, 9, t0.Add(2*time.Second), time.Second)).To(Succeed(), "it moved")
		Expect(w.check(6, 12, t0.Add(2500*time.Millisecond), time.Second)).To(Succeed())
		Expect(w.check(6, 12, t0.Add(4*time.Second), time.Second)).To(MatchError(ErrUnhealthy))
		Expect(w.check(12, 12, t0.Add(5*time.Second), time.Second)).To(Succeed(), "caught up")
	})
})
