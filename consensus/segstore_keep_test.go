package consensus_test

import (
	"fmt"
	"path/filepath"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"

	"actorlog/consensus"
	"actorlog/messages"
)

// recordsEntry is a raft entry carrying a produce command of n records
// whose values name the entry and the record.
func recordsEntry(index uint64, n int) *raft.Log {
	req := &messages.ProduceRequest{}
	for i := range n {
		req.Records = append(req.Records, &messages.Record{Value: []byte(fmt.Sprintf("entry %d record %d %0900d", index, i, 0))})
	}
	data, err := proto.Marshal(&messages.RaftCommand{Command: &messages.RaftCommand_Produce{Produce: req}, TimestampUnixNano: int64(index)})
	Expect(err).NotTo(HaveOccurred())
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

// Data format 2 keeps record values only in raft entries: the store must
// keep an entry on disk for as long as a retained record refers to it,
// whatever raft compacts.
var _ = Describe("SegmentLogStore keeping entries for records (data format 2)", func() {
	var (
		dir   string
		store *consensus.SegmentLogStore
	)
	open := func(keep bool) {
		var err error
		store, err = consensus.OpenSegmentLogStore(dir, consensus.StoreConfig{SegmentBytes: smallSegments, KeepRecords: keep})
		Expect(err).NotTo(HaveOccurred())
	}
	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "log")
		open(true)
		DeferCleanup(func() { Expect(store.Close()).To(Succeed()) })
		var logs []*raft.Log
		for i := uint64(1); i <= 200; i++ {
			logs = append(logs, recordsEntry(i, 3))
		}
		Expect(store.StoreLogs(logs)).To(Succeed())
	})
	segmentFiles := func() int {
		files, err := filepath.Glob(filepath.Join(dir, "*.store"))
		Expect(err).NotTo(HaveOccurred())
		return len(files)
	}
	value := func(index uint64, pos int) string {
		recs, err := store.EntryRecords(index)
		Expect(err).NotTo(HaveOccurred())
		return string(recs[pos].GetValue())
	}

	It("reads an entry's records", func() {
		Expect(value(17, 2)).To(HavePrefix("entry 17 record 2 "))
	})

	It("keeps what raft compacts on disk, readable for records, until told nothing refers to it", func() {
		before := segmentFiles()
		Expect(before).To(BeNumerically(">", 4))
		Expect(store.DeleteRange(1, 150)).To(Succeed())
		expectBounds(store, 151, 200)
		Expect(segmentFiles()).To(Equal(before), "no segment dropped: records may still refer to every entry")
		Expect(value(3, 0)).To(HavePrefix("entry 3 record 0 "), "a compacted entry is still read for its records")

		Expect(store.RetainFrom(120)).To(Succeed())
		Expect(segmentFiles()).To(BeNumerically("<", before))
		Expect(value(120, 1)).To(HavePrefix("entry 120 record 1 "))
		_, err := store.EntryRecords(1)
		Expect(err).To(MatchError(consensus.ErrEntryGone))
		expectBounds(store, 151, 200)
	})

	It("never drops what raft still holds, whatever the records say", func() {
		before := segmentFiles()
		Expect(store.RetainFrom(190)).To(Succeed())
		Expect(segmentFiles()).To(Equal(before))
		Expect(value(1, 0)).To(HavePrefix("entry 1 record 0 "))
		expectBounds(store, 1, 200)
	})

	It("forgets what records refer to after a restart, and so keeps everything until told again", func() {
		Expect(store.RetainFrom(120)).To(Succeed())
		Expect(store.Close()).To(Succeed())
		open(true)
		before := segmentFiles()
		Expect(store.DeleteRange(1, 199)).To(Succeed())
		Expect(segmentFiles()).To(Equal(before))
		Expect(value(130, 0)).To(HavePrefix("entry 130 record 0 "))
	})

	It("drops compacted entries at once when it keeps nothing for records (data format 1)", func() {
		Expect(store.Close()).To(Succeed())
		open(false)
		before := segmentFiles()
		Expect(store.DeleteRange(1, 150)).To(Succeed())
		Expect(segmentFiles()).To(BeNumerically("<", before))
	})

	It("says when an entry holds no records", func() {
		Expect(store.StoreLogs([]*raft.Log{{Index: 201, Term: 1, Type: raft.LogNoop}})).To(Succeed())
		_, err := store.EntryRecords(201)
		Expect(err).To(MatchError(consensus.ErrNotProduce))
		_, err = store.EntryRecords(500)
		Expect(err).To(MatchError(consensus.ErrEntryGone))
	})

	It("is refused with the wal store kind", func() {
		err := consensus.StoreConfig{Kind: consensus.StoreWAL, KeepRecords: true}.Validate()
		Expect(err).To(MatchError(ContainSubstring("KeepRecords")))
	})
})
