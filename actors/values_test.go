package actors_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"actorlog/actors"
	"actorlog/consensus"
	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/asynkron/protoactor-go/actor"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// fakeEntries is a fake of the raft log store as a ValueSource: raft
// entries held in a map. The node's real one (consensus.SegmentLogStore)
// has its own specs; these test how the log uses one.
type fakeEntries struct {
	mu      sync.Mutex
	entries map[uint64][]*messages.Record
	reads   int
	closed  bool
}

func (f *fakeEntries) EntryRecords(index uint64) ([]*messages.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.closed {
		return nil, consensus.ErrClosed
	}
	recs, ok := f.entries[index]
	if !ok {
		return nil, fmt.Errorf("%w: %d", consensus.ErrEntryGone, index)
	}
	return recs, nil
}

var _ = Describe("A log whose records refer to raft entries (data format 2)", func() {
	var (
		h       *harness
		sess    *actor.PID
		src     *fakeEntries
		corrupt chan uint64
	)
	BeforeEach(func() {
		src = &fakeEntries{entries: map[uint64][]*messages.Record{}}
		corrupt = make(chan uint64, 16)
		h = newHarness(GinkgoT().TempDir(), func(l *actors.LogConfig, _ *actors.SessionConfig) {
			l.Values = src
			l.OnCorrupt = func(from uint64, _ string) { corrupt <- from }
		})
		sess = h.openSession()
	})
	// appendEntry stores a raft entry of n records in the fake and appends
	// references to it, as the FSM does.
	appendEntry := func(index uint64, n int) {
		var entry, refs []*messages.Record
		for i := range n {
			v := []byte(fmt.Sprintf("e%d-r%d-%s", index, i, strings.Repeat("x", 1000)))
			entry = append(entry, &messages.Record{Value: v})
			refs = append(refs, &messages.Record{Value: v, RaftIndex: index, InEntry: uint32(i + 1), TimestampUnixNano: int64(index)})
		}
		src.mu.Lock()
		src.entries[index] = entry
		src.mu.Unlock()
		res := h.ask(h.log, &messages.ProduceRequest{Records: refs})
		Expect(res).To(BeAssignableToTypeOf(&messages.ProduceResponse{}))
	}
	storeBytes := func() int64 {
		files, err := filepath.Glob(filepath.Join(h.logCfg.Dir, "*.store"))
		Expect(err).NotTo(HaveOccurred())
		var n int64
		for _, f := range files {
			st, err := os.Stat(f)
			Expect(err).NotTo(HaveOccurred())
			n += st.Size()
		}
		return n
	}

	It("stores a reference instead of each value, and serves the values from the entries", func() {
		appendEntry(5, 3)
		appendEntry(6, 2)
		Expect(storeBytes()).To(BeNumerically("<", 5*64), "five references, not five 1 KiB values")

		resp := h.consume(sess, 0, 0)
		Expect(resp.GetRecords()).To(HaveLen(5))
		for i, r := range resp.GetRecords() {
			idx, pos := uint64(5), i
			if i >= 3 {
				idx, pos = 6, i-3
			}
			Expect(string(r.GetValue())).To(HavePrefix(fmt.Sprintf("e%d-r%d-", idx, pos)))
			Expect(r.GetOffset()).To(Equal(uint64(i)))
			Expect(r.GetRaftIndex()).To(Equal(idx))
			Expect(r.GetInEntry()).To(BeZero(), "the reference never leaves the node")
			Expect(r.GetTimestampUnixNano()).To(Equal(int64(idx)))
		}
	})

	It("counts the values its references stand for in its size, so segments roll over and retention weighs as with the values", func() {
		h.stop()
		h = newHarness(GinkgoT().TempDir(), func(l *actors.LogConfig, _ *actors.SessionConfig) {
			l.Values = src
			l.Storage.MaxStoreBytes = 8 << 10
		})
		sess = h.openSession()
		for i := uint64(1); i <= 20; i++ {
			appendEntry(i, 2)
		}
		st := h.status()
		Expect(st.GetSegments()).To(BeNumerically(">=", 4), "40 KiB of values in segments of 8 KiB")
		Expect(st.GetSizeBytes()).To(BeNumerically(">=", 40*1000))
		Expect(storeBytes()).To(BeNumerically("<", 4<<10))
		Expect(h.consume(sess, 39, 1).GetRecords()).To(HaveLen(1))
	})

	It("reads an entry once for its records read one at a time", func() {
		appendEntry(9, 4)
		for off := uint64(0); off < 4; off++ {
			Expect(h.consume(sess, off, 1).GetRecords()).To(HaveLen(1))
		}
		src.mu.Lock()
		defer src.mu.Unlock()
		Expect(src.reads).To(Equal(1))
	})

	It("keeps a reply within its byte limit counted in values, not references", func() {
		appendEntry(3, 50)
		resp := h.ask(sess, &messages.ConsumeRequest{Offset: 0, MaxBytes: 4000})
		Expect(resp.(*messages.ConsumeResponse).GetRecords()).To(HaveLen(3))
	})

	It("reports a record whose entry is gone as damage, and never serves it", func() {
		appendEntry(7, 2)
		src.mu.Lock()
		delete(src.entries, 7)
		src.mu.Unlock()
		Expect(h.ask(sess, &messages.ConsumeRequest{Offset: 0})).To(BeAssignableToTypeOf(&messages.Unavailable{}))
		Eventually(corrupt).Should(Receive(Equal(uint64(0))))
	})

	It("answers Unavailable, without reporting damage, while the raft log is closed", func() {
		appendEntry(8, 1)
		src.mu.Lock()
		src.closed = true
		src.mu.Unlock()
		Expect(h.ask(sess, &messages.ConsumeRequest{Offset: 0})).To(BeAssignableToTypeOf(&messages.Unavailable{}))
		Consistently(corrupt).ShouldNot(Receive())
	})

	It("stores records that carry their value as they are beside references", func() {
		res := h.ask(h.log, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("inline"), RaftIndex: 2}}})
		Expect(res).To(BeAssignableToTypeOf(&messages.ProduceResponse{}))
		appendEntry(3, 1)
		recs := h.consume(sess, 0, 0).GetRecords()
		Expect(valuesOf(recs)[0]).To(Equal("inline"))
		Expect(string(recs[1].GetValue())).To(HavePrefix("e3-r0-"))
	})

	It("refuses a producer's record that sets the internal reference", func() {
		res := h.ask(sess, &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("x"), RaftIndex: 1, InEntry: 1}}})
		Expect(res).To(BeAssignableToTypeOf(&messages.InvalidRequest{}))
		Expect(res.(*messages.InvalidRequest).GetField()).To(Equal("records[0].in_entry"))
		Expect(h.status().GetNextOffset()).To(BeZero())
	})
})

var _ = Describe("Cutting records that refer to raft entries a power loss took", func() {
	// refTerm is how a reference's frame carries its raft index.
	refTerm := func(index uint64) uint64 { return index | 1<<63 }
	write := func(dir string, terms ...uint64) {
		cfg := smallStorage()
		cfg.MaxStoreBytes = segmentstore.MinMaxStoreBytes
		l, err := segmentstore.Open(dir, cfg)
		Expect(err).NotTo(HaveOccurred())
		for _, t := range terms {
			_, err := l.Append(segmentstore.Record{Term: t, Value: []byte{0, 8}})
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(l.Close()).To(Succeed())
	}
	next := func(dir string) uint64 {
		l, err := segmentstore.Open(dir, smallStorage())
		Expect(err).NotTo(HaveOccurred())
		defer func() { Expect(l.Close()).To(Succeed()) }()
		return l.NextOffset()
	}

	It("cuts the log from the first record that refers to an entry past the raft log's end", func() {
		dir := GinkgoT().TempDir()
		var terms []uint64
		for i := uint64(1); i <= 300; i++ {
			terms = append(terms, refTerm(i))
		}
		write(dir, terms...)
		cut, err := actors.CutDanglingReferences(dir, smallStorage(), 201)
		Expect(err).NotTo(HaveOccurred())
		Expect(cut).To(Equal(uint64(100)))
		Expect(next(dir)).To(Equal(uint64(200)))
	})

	It("keeps a log whose references all have their entries, and records that carry their values", func() {
		dir := GinkgoT().TempDir()
		write(dir, 1, 2, refTerm(3), refTerm(4), 5)
		cut, err := actors.CutDanglingReferences(dir, smallStorage(), 5)
		Expect(err).NotTo(HaveOccurred())
		Expect(cut).To(BeZero())
		Expect(next(dir)).To(Equal(uint64(5)))
	})
})
