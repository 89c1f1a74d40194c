package consensus_test

import (
	"bytes"
	"errors"
	"sync/atomic"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
)

// countingStore counts the reads that reach the store behind the cache,
// and can be made to fail its writes.
type countingStore struct {
	*raft.InmemStore
	reads    atomic.Int64
	failNext atomic.Bool
}

func (s *countingStore) GetLog(index uint64, out *raft.Log) error {
	s.reads.Add(1)
	return s.InmemStore.GetLog(index, out)
}

func (s *countingStore) StoreLogs(logs []*raft.Log) error {
	if s.failNext.Swap(false) {
		return errors.New("disk full")
	}
	return s.InmemStore.StoreLogs(logs)
}

func sized(index uint64, n int) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(index)}, n)}
}

var _ = Describe("LogCache", func() {
	var (
		store *countingStore
		cache *consensus.LogCache
	)
	// read returns the entry and whether the store had to serve it.
	read := func(index uint64) (*raft.Log, bool) {
		GinkgoHelper()
		before := store.reads.Load()
		var out raft.Log
		Expect(cache.GetLog(index, &out)).To(Succeed())
		return &out, store.reads.Load() != before
	}
	BeforeEach(func() {
		store = &countingStore{InmemStore: raft.NewInmemStore()}
		var err error
		cache, err = consensus.NewLogCache(store, 8, 64<<10)
		Expect(err).NotTo(HaveOccurred())
	})

	It("serves the newest entries from memory, up to its entry bound", func() {
		for i := uint64(1); i <= 12; i++ {
			Expect(cache.StoreLog(sized(i, 100))).To(Succeed())
		}
		for i := uint64(5); i <= 12; i++ {
			l, fromStore := read(i)
			Expect(fromStore).To(BeFalse(), "entry %d", i)
			Expect(l.Data).To(Equal(sized(i, 100).Data))
		}
		l, fromStore := read(4)
		Expect(fromStore).To(BeTrue())
		Expect(l.Index).To(Equal(uint64(4)))
	})

	It("keeps only as many large entries as its byte bound allows, and always the newest", func() {
		Expect(cache.StoreLogs([]*raft.Log{sized(1, 30<<10), sized(2, 30<<10), sized(3, 30<<10)})).To(Succeed())
		count, bytes := cache.CachedEntries()
		Expect(count).To(Equal(2))
		Expect(bytes).To(BeNumerically("<=", 64<<10))
		_, fromStore := read(1)
		Expect(fromStore).To(BeTrue())
		_, fromStore = read(3)
		Expect(fromStore).To(BeFalse())

		Expect(cache.StoreLog(sized(4, 1<<20))).To(Succeed())
		count, _ = cache.CachedEntries()
		Expect(count).To(Equal(1), "an entry above the byte bound is still the one raft replicates next")
		_, fromStore = read(4)
		Expect(fromStore).To(BeFalse())
	})

	It("caches nothing that the store refused, and forgets everything on DeleteRange", func() {
		Expect(cache.StoreLogs([]*raft.Log{sized(1, 10), sized(2, 10)})).To(Succeed())
		store.failNext.Store(true)
		Expect(cache.StoreLog(sized(3, 10))).NotTo(Succeed())
		var out raft.Log
		Expect(cache.GetLog(3, &out)).To(MatchError(raft.ErrLogNotFound))

		Expect(cache.DeleteRange(2, 2)).To(Succeed())
		Expect(cache.GetLog(2, &out)).To(MatchError(raft.ErrLogNotFound))
		Expect(cache.StoreLog(&raft.Log{Index: 2, Term: 2, Data: []byte("new")})).To(Succeed())
		l, _ := read(2)
		Expect(l.Term).To(Equal(uint64(2)))
		Expect(l.Data).To(Equal([]byte("new")))
	})

	It("refuses bounds that are not positive", func() {
		_, err := consensus.NewLogCache(store, 0, 1)
		Expect(err).To(HaveOccurred())
		_, err = consensus.NewLogCache(store, 1, 0)
		Expect(err).To(HaveOccurred())
	})
})
