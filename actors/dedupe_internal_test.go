package actors

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The producer table of idempotent produce", func() {
	It("remembers where each recent (producer, sequence) landed", func() {
		t := newProducerTable(10, 4)
		t.record("p", 1, 100, 3)
		t.record("q", 1, 103, 1)
		b, ok := t.lookup("p", 1)
		Expect(ok).To(BeTrue())
		Expect(b).To(Equal(appliedBatch{seq: 1, first: 100, count: 3}))
		_, ok = t.lookup("p", 2)
		Expect(ok).To(BeFalse())
		_, ok = t.lookup("r", 1)
		Expect(ok).To(BeFalse())
	})

	It("keeps only the last window sequences of a producer", func() {
		t := newProducerTable(10, 4)
		for seq := range uint64(6) {
			t.record("p", seq, seq*10, 1)
		}
		for seq := range uint64(6) {
			_, ok := t.lookup("p", seq)
			Expect(ok).To(Equal(seq >= 2), "sequence %d", seq)
		}
	})

	It("forgets the least recently used producer first", func() {
		t := newProducerTable(2, 4)
		t.record("a", 1, 0, 1)
		t.record("b", 1, 1, 1)
		_, _ = t.lookup("a", 1) // a is now the most recently used
		t.record("c", 1, 2, 1)
		Expect(t.len()).To(Equal(2))
		_, ok := t.lookup("b", 1)
		Expect(ok).To(BeFalse())
		_, ok = t.lookup("a", 1)
		Expect(ok).To(BeTrue())
	})
})
