package consensus_test

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
	"actorlog/messages"
)

var errStalled = errors.New("the disk stalls")

// failure is the error of a produce entry's result.
func failure(v any) error {
	GinkgoHelper()
	r, ok := v.(*consensus.ProduceResult)
	Expect(ok).To(BeTrue(), "response %T %v", v, v)
	return r.Err
}

var _ = Describe("FSM appends that the log refuses or that never finish (docs/DESIGN.md, invariant 4)", func() {
	var (
		dir string
		log *memLog
	)
	open := func(maxAppend int) *consensus.FSM {
		GinkgoHelper()
		f, err := consensus.NewFSM(consensus.FSMConfig{Log: log, StatePath: filepath.Join(dir, "fsm.state"),
			MaxAppendRecords: maxAppend, Logger: testLogger("fsm")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		return f
	}
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		log = &memLog{}
	})

	It("splits an entry larger than one append into appends the log accepts", func() {
		// The log, like one segment's index, takes at most 2 records per
		// append; a committed entry of 5 must still be appended whole.
		log.refuse = func(recs []*messages.Record) error {
			if len(recs) > 2 {
				return fmt.Errorf("batch of %d records exceeds the limit of 2", len(recs))
			}
			return nil
		}
		f := open(2)
		done := make(chan []interface{}, 1)
		go func() {
			defer GinkgoRecover()
			done <- f.ApplyBatch([]*raft.Log{produceEntry(1, "p", 1, "a", "b", "c", "d", "e"), produceEntry(2, "", 0, "f")})
		}()
		var out []interface{}
		Eventually(done, "10s").Should(Receive(&out), "a refusal that retrying cannot cure wedges the FSM")
		Expect(result(out[0]).Offsets()).To(Equal([]uint64{0, 1, 2, 3, 4}))
		Expect(result(out[1]).Offsets()).To(Equal([]uint64{5}))
		Expect(log.values()).To(Equal([]string{"0:a@1", "1:b@1", "2:c@1", "3:d@1", "4:e@1", "5:f@2"}))
	})

	It("persists nothing past an entry it gave up on, and replay appends that entry after a restart", func() {
		stalled := true
		log.refuse = func(recs []*messages.Record) error {
			if stalled && string(recs[0].GetValue()) == "big" {
				return errStalled
			}
			return nil
		}
		f := open(0)
		first := make(chan []interface{}, 1)
		go func() {
			defer GinkgoRecover()
			first <- f.ApplyBatch([]*raft.Log{produceEntry(1, "p1", 1, "big")})
		}()
		Eventually(func() int {
			log.mu.Lock()
			defer log.mu.Unlock()
			return log.appends
		}).Should(BeNumerically(">", 1), "the FSM retries the stalled append")
		// The node stops while the append is stuck: the FSM gives up.
		f.Close()
		var out []interface{}
		Eventually(first).Should(Receive(&out))
		Expect(failure(out[0])).To(HaveOccurred())

		By("refusing every later entry instead of appending it where the given-up one belongs")
		later := f.ApplyBatch([]*raft.Log{produceEntry(2, "", 0, "small")})
		Expect(failure(later[0])).To(HaveOccurred())
		Expect(log.values()).To(BeEmpty())
		_, err := f.Snapshot()
		Expect(err).To(HaveOccurred(), "a snapshot would record entries that are not in the log")

		By("restarting: replay appends both entries, in order")
		stalled = false
		g := open(0)
		again := g.ApplyBatch([]*raft.Log{produceEntry(1, "p1", 1, "big"), produceEntry(2, "", 0, "small")})
		Expect(result(again[0]).Offsets()).To(Equal([]uint64{0}))
		Expect(result(again[1]).Offsets()).To(Equal([]uint64{1}))
		Expect(log.values()).To(Equal([]string{"0:big@1", "1:small@2"}))

		By("answering a retry of p1/1 with the offset that holds its record")
		retry := g.ApplyBatch([]*raft.Log{produceEntry(3, "p1", 1, "big")})
		Expect(result(retry[0]).Duplicate).To(BeTrue())
		Expect(result(retry[0]).Offsets()).To(Equal([]uint64{0}))
	})
})
