package consensus_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
	"actorlog/messages"
)

var _ = Describe("The producer table of idempotent produce", func() {
	batch := func(seq, first uint64, count uint32) *messages.ProducedBatch {
		return &messages.ProducedBatch{Sequence: seq, FirstOffset: first, Count: count}
	}

	It("remembers where each recent (producer, sequence) landed", func() {
		t := consensus.NewProducerTable(10, 4)
		t.Remember("p", 1, batch(1, 100, 3))
		t.Remember("q", 2, batch(1, 103, 1))
		b, ok := t.Lookup("p", 1, 3)
		Expect(ok).To(BeTrue())
		Expect(b.GetFirstOffset()).To(Equal(uint64(100)))
		Expect(b.GetCount()).To(Equal(uint32(3)))
		_, ok = t.Lookup("p", 2, 4)
		Expect(ok).To(BeFalse())
		_, ok = t.Lookup("r", 1, 5)
		Expect(ok).To(BeFalse())
	})

	It("keeps only the last window sequences of a producer", func() {
		t := consensus.NewProducerTable(10, 4)
		for seq := range uint64(6) {
			t.Remember("p", seq, batch(seq, seq*10, 1))
		}
		for seq := range uint64(6) {
			_, ok := t.Lookup("p", seq, 10)
			Expect(ok).To(Equal(seq >= 2), "sequence %d", seq)
		}
	})

	It("forgets the least recently used tenth of the producers when it holds too many", func() {
		t := consensus.NewProducerTable(10, 4)
		for i := range uint64(10) {
			t.Remember(fmt.Sprint("p", i), i, batch(1, i, 1))
		}
		_, ok := t.Lookup("p0", 1, 10) // p0 is now the most recently used
		Expect(ok).To(BeTrue())
		t.Remember("p10", 11, batch(1, 10, 1))
		Expect(t.Len()).To(Equal(9))
		for _, gone := range []string{"p1", "p2"} {
			_, ok := t.Lookup(gone, 1, 12)
			Expect(ok).To(BeFalse(), gone)
		}
		_, ok = t.Lookup("p0", 1, 12)
		Expect(ok).To(BeTrue())
	})

	It("loads the state it returns, with the recency of every producer", func() {
		t := consensus.NewProducerTable(2, 4)
		t.Remember("b", 5, batch(1, 0, 1))
		t.Remember("a", 7, batch(3, 1, 2))
		st := t.State()
		Expect(st).To(HaveLen(2))
		Expect(st[0].GetProducerId()).To(Equal("a"), "sorted by id")
		Expect(st[0].GetLastIndex()).To(Equal(uint64(7)))

		loaded := consensus.NewProducerTable(2, 4)
		loaded.Load(st)
		b, ok := loaded.Lookup("a", 3, 8)
		Expect(ok).To(BeTrue())
		Expect(b.GetFirstOffset()).To(Equal(uint64(1)))
		// b is the least recently used: it goes first when a third comes.
		loaded.Remember("c", 9, batch(1, 3, 1))
		_, ok = loaded.Lookup("b", 1, 10)
		Expect(ok).To(BeFalse())
		Expect(consensus.NewProducerTable(2, 4).State()).To(BeNil())
	})
})
