package consensus_test

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"

	"actorlog/consensus"
	"actorlog/messages"
	"actorlog/segmentstore"
)

// fileLog is consensus.Log over a real segmentstore.Log in a temp dir, the
// storage the node's log actor uses, without the actors.
type fileLog struct {
	mu      sync.Mutex
	dir     string
	l       *segmentstore.Log
	appends int
}

func openFileLog(dir string) *fileLog {
	GinkgoHelper()
	l, err := segmentstore.Open(dir, segmentstore.DefaultConfig())
	Expect(err).NotTo(HaveOccurred())
	f := &fileLog{dir: dir, l: l}
	DeferCleanup(f.close)
	return f
}

func (f *fileLog) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.l != nil {
		_ = f.l.Close()
		f.l = nil
	}
}

func (f *fileLog) Append(recs []*messages.Record) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appends++
	in := make([]segmentstore.Record, len(recs))
	for i, r := range recs {
		in[i] = segmentstore.Record{Value: r.GetValue(), Timestamp: r.GetTimestampUnixNano(), Term: r.GetRaftIndex()}
	}
	return f.l.Append(in...)
}

func (f *fileLog) Bounds() (uint64, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.l.LowestOffset(), f.l.NextOffset(), nil
}

func (f *fileLog) Read(off uint64, max int) ([]*messages.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs, err := f.l.ReadRange(off, max, 4<<20)
	if err != nil {
		return nil, err
	}
	out := make([]*messages.Record, len(recs))
	for i, r := range recs {
		out[i] = &messages.Record{Offset: r.Offset, Value: r.Value, TimestampUnixNano: r.Timestamp, RaftIndex: r.Term}
	}
	return out, nil
}

func (f *fileLog) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.l.Sync()
}

func (f *fileLog) Reset(base uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.l.Remove(); err != nil {
		return err
	}
	cfg := segmentstore.DefaultConfig()
	cfg.InitialOffset = base
	l, err := segmentstore.Open(f.dir, cfg)
	f.l = l
	return err
}

func (f *fileLog) values() []string {
	GinkgoHelper()
	low, next, _ := f.Bounds()
	var out []string
	for off := low; off < next; off++ {
		recs, err := f.Read(off, 1)
		Expect(err).NotTo(HaveOccurred())
		out = append(out, fmt.Sprintf("%d:%s@%d", recs[0].GetOffset(), recs[0].GetValue(), recs[0].GetRaftIndex()))
	}
	return out
}

func produceEntry(index uint64, producer string, seq uint64, values ...string) *raft.Log {
	GinkgoHelper()
	req := &messages.ProduceRequest{ProducerId: producer, Sequence: seq}
	for _, v := range values {
		req.Records = append(req.Records, &messages.Record{Value: []byte(v)})
	}
	data, err := proto.Marshal(&messages.RaftCommand{Command: &messages.RaftCommand_Produce{Produce: req}, TimestampUnixNano: int64(index)})
	Expect(err).NotTo(HaveOccurred())
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func memberEntry(index uint64, id string) *raft.Log {
	GinkgoHelper()
	data, err := proto.Marshal(&messages.RaftCommand{Command: &messages.RaftCommand_Member{Member: &messages.Member{Id: id, ActorAddress: id + ":1"}}})
	Expect(err).NotTo(HaveOccurred())
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func result(v any) *consensus.ProduceResult {
	GinkgoHelper()
	r, ok := v.(*consensus.ProduceResult)
	Expect(ok).To(BeTrue(), "response %T %v", v, v)
	Expect(r.Err).NotTo(HaveOccurred())
	return r
}

var _ = Describe("FSM", func() {
	var (
		dir string
		log *fileLog
	)
	openFSM := func() *consensus.FSM {
		GinkgoHelper()
		f, err := consensus.NewFSM(consensus.FSMConfig{Log: log, StatePath: filepath.Join(dir, "fsm.state"), Logger: testLogger("fsm")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		return f
	}
	// restart closes the log's files and opens them again, as a node
	// restart would.
	restart := func() *consensus.FSM {
		GinkgoHelper()
		log.close()
		log = openFileLog(filepath.Join(dir, "log"))
		return openFSM()
	}
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		log = openFileLog(filepath.Join(dir, "log"))
	})

	It("appends a batch of committed entries as one log append, with dense offsets", func() {
		f := openFSM()
		var batch []*raft.Log
		for i := uint64(1); i <= 50; i++ {
			batch = append(batch, produceEntry(i, "", 0, fmt.Sprint(i), "x"))
		}
		out := f.ApplyBatch(batch)
		for i, v := range out {
			Expect(result(v).Offsets()).To(Equal([]uint64{uint64(2 * i), uint64(2*i + 1)}))
		}
		Expect(log.appends).To(Equal(1))
		Expect(log.values()).To(HaveLen(100))
		Expect(f.Applied()).To(Equal(uint64(50)))
	})

	It("replays idempotently: entries already in the log are not appended again after a restart", func() {
		f := openFSM()
		entries := []*raft.Log{
			produceEntry(1, "p", 1, "a", "b"),
			memberEntry(2, "n1"),
			produceEntry(3, "p", 2, "c"),
			produceEntry(4, "q", 1, "d"),
		}
		first := f.ApplyBatch(entries)
		before := log.values()
		Expect(before).To(Equal([]string{"0:a@1", "1:b@1", "2:c@3", "3:d@4"}))

		// raft replays from the start after a restart (no snapshot yet).
		f = restart()
		By("knowing the members before anything is replayed")
		_, ok := f.Member("n1")
		Expect(ok).To(BeTrue())
		again := f.ApplyBatch(append(entries, produceEntry(5, "p", 3, "e")))
		for i := range first {
			if first[i] != nil {
				Expect(result(again[i]).Offsets()).To(Equal(result(first[i]).Offsets()))
			}
		}
		Expect(result(again[4]).Offsets()).To(Equal([]uint64{4}))
		Expect(log.values()).To(Equal(append(before, "4:e@5")))

		By("rebuilding the dedupe table from the replayed entries")
		dup := result(f.Apply(produceEntry(6, "p", 2, "c")))
		Expect(dup.Duplicate).To(BeTrue())
		Expect(dup.Offsets()).To(Equal([]uint64{2}))
		Expect(log.values()).To(HaveLen(5))
		m, ok := f.Member("n1")
		Expect(ok).To(BeTrue())
		Expect(m.GetActorAddress()).To(Equal("n1:1"))
	})

	It("answers a duplicate (producer, sequence) with the original offsets and appends nothing", func() {
		f := openFSM()
		orig := result(f.Apply(produceEntry(1, "p", 7, "a", "b")))
		f.Apply(produceEntry(2, "", 0, "z"))
		dup := result(f.Apply(produceEntry(3, "p", 7, "a", "b")))
		Expect(dup.Duplicate).To(BeTrue())
		Expect(dup.Offsets()).To(Equal(orig.Offsets()))
		Expect(log.values()).To(HaveLen(3))
	})

	It("keeps the dedupe table across a restart after a snapshot, and skips entries the state file covers", func() {
		f := openFSM()
		f.Apply(produceEntry(1, "p", 1, "a"))
		f.Apply(memberEntry(2, "n1"))
		snap, err := f.Snapshot()
		Expect(err).NotTo(HaveOccurred())
		snap.Release()
		Expect(filepath.Join(dir, "fsm.state")).To(BeARegularFile())
		f.Apply(produceEntry(3, "p", 2, "b"))

		f = restart()
		Expect(f.StateIndex()).To(Equal(uint64(2)))
		// raft (NoSnapshotRestoreOnStart) replays after the snapshot index.
		out := f.ApplyBatch([]*raft.Log{produceEntry(3, "p", 2, "b"), produceEntry(4, "p", 1, "a")})
		Expect(result(out[0]).Offsets()).To(Equal([]uint64{1}))
		Expect(result(out[1]).Duplicate).To(BeTrue())
		Expect(result(out[1]).Offsets()).To(Equal([]uint64{0}))
		Expect(log.values()).To(Equal([]string{"0:a@1", "1:b@3"}))
	})

	It("forgets a member that left, also across a restart", func() {
		f := openFSM()
		f.ApplyBatch([]*raft.Log{memberEntry(1, "n1"), memberEntry(2, "n2")})
		data, err := proto.Marshal(&messages.RaftCommand{Command: &messages.RaftCommand_Member{Member: &messages.Member{Id: "n2", Removed: true}}})
		Expect(err).NotTo(HaveOccurred())
		f.Apply(&raft.Log{Index: 3, Term: 1, Type: raft.LogCommand, Data: data})
		_, ok := f.Member("n2")
		Expect(ok).To(BeFalse())
		Expect(f.Members()).To(HaveLen(1))
		f = restart()
		_, ok = f.Member("n2")
		Expect(ok).To(BeFalse(), "the member table file forgot it too")
		_, ok = f.Member("n1")
		Expect(ok).To(BeTrue())
	})

	It("round-trips a snapshot: restore replaces the log, the dedupe table and the members", func() {
		f := openFSM()
		for i := uint64(1); i <= 30; i++ {
			f.Apply(produceEntry(i, "p", i, fmt.Sprint("v", i), "w"))
		}
		f.Apply(memberEntry(31, "n1"))
		want := log.values()

		store := raft.NewInmemSnapshotStore()
		snap, err := f.Snapshot()
		Expect(err).NotTo(HaveOccurred())
		sink, err := store.Create(raft.SnapshotVersionMax, 31, 1, raft.Configuration{}, 1, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(snap.Persist(sink)).To(Succeed())
		snap.Release()

		By("restoring into a node whose log holds something else")
		otherDir := GinkgoT().TempDir()
		dir, log = otherDir, openFileLog(filepath.Join(otherDir, "log"))
		g := openFSM()
		g.Apply(produceEntry(1, "", 0, "stale", "stale"))
		list, err := store.List()
		Expect(err).NotTo(HaveOccurred())
		_, rc, err := store.Open(list[0].ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(g.Restore(rc)).To(Succeed())
		Expect(log.values()).To(Equal(want))
		Expect(g.Applied()).To(Equal(uint64(31)))
		_, ok := g.Member("n1")
		Expect(ok).To(BeTrue())

		dup := result(g.Apply(produceEntry(32, "p", 30, "v30", "w")))
		Expect(dup.Duplicate).To(BeTrue())
		Expect(dup.Offsets()).To(Equal([]uint64{58, 59}))
		next := result(g.Apply(produceEntry(33, "p", 31, "new")))
		Expect(next.Offsets()).To(Equal([]uint64{60}))

		By("and the restored state survives a restart")
		g = restart()
		Expect(g.StateIndex()).To(Equal(uint64(31)))
		dup = result(g.Apply(produceEntry(32, "p", 30, "v30", "w")))
		Expect(dup.Duplicate).To(BeTrue())
		out := g.Apply(produceEntry(33, "p", 31, "new"))
		Expect(result(out).Offsets()).To(Equal([]uint64{60}))
		Expect(log.values()).To(HaveLen(61))
	})
})
