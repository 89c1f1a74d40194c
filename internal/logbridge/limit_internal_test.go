package logbridge

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The message limiter of RepeatEvery", func() {
	var (
		now time.Time
		l   *msgLimiter
	)
	BeforeEach(func() {
		now = time.Unix(1_000_000, 0)
		h := newSlogHandler(nil, SlogOptions{RepeatEvery: time.Second}, func() time.Time { return now })
		l = h.limit
	})

	It("lets a message through again once the interval has passed", func() {
		Expect(l.allow("m")).To(BeTrue())
		now = now.Add(999 * time.Millisecond)
		Expect(l.allow("m")).To(BeFalse())
		Expect(l.allow("other")).To(BeTrue())
		now = now.Add(time.Millisecond)
		Expect(l.allow("m")).To(BeTrue())
		Expect(l.allow("m")).To(BeFalse())
	})

	It("forgets every message rather than grow without bound", func() {
		for i := range maxLimited + 1 {
			Expect(l.allow(fmt.Sprint(i))).To(BeTrue())
		}
		Expect(l.allow("0")).To(BeFalse())
		Expect(l.allow("one too many")).To(BeTrue())
		Expect(l.last).To(HaveLen(1))
		Expect(l.allow("0")).To(BeTrue())
	})

	It("is absent without RepeatEvery", func() {
		Expect(newSlogHandler(nil, SlogOptions{}, time.Now).limit).To(BeNil())
	})
})
