package segmentstore_test

import (
	"fmt"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Log smoke", func() {
	It("appends, rolls over, reads back and reopens", func() {
		dir := GinkgoT().TempDir()
		c := segmentstore.DefaultConfig()
		c.MaxStoreBytes = 4096
		l, err := segmentstore.Open(dir, c)
		Expect(err).NotTo(HaveOccurred())
		for i := 0; i < 500; i++ {
			off, err := l.Append(segmentstore.Record{Value: []byte(fmt.Sprintf("v%d", i))})
			Expect(err).NotTo(HaveOccurred())
			Expect(off).To(BeEquivalentTo(i))
		}
		Expect(len(l.Segments())).To(BeNumerically(">", 1))
		r, err := l.Read(321)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(r.Value)).To(Equal("v321"))
		Expect(l.Close()).To(Succeed())
		l, err = segmentstore.Open(dir, c)
		Expect(err).NotTo(HaveOccurred())
		Expect(l.NextOffset()).To(BeEquivalentTo(500))
		recs, err := l.ReadRange(0, 0, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(HaveLen(500))
		Expect(l.Close()).To(Succeed())
	})
})
