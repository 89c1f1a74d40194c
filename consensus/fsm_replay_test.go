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
)

// memLog is a consensus.Log in memory whose front can be dropped, as
// retention does, and whose tail can be cut, as a crash does.
type memLog struct {
	mu   sync.Mutex
	low  uint64
	recs []*messages.Record // offsets from 0; below low they are gone
	// refuse, when set, is asked before every append; an error it
	// returns fails the append and changes nothing.
	refuse  func(recs []*messages.Record) error
	appends int
}

func (l *memLog) Append(recs []*messages.Record) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appends++
	if l.refuse != nil {
		if err := l.refuse(recs); err != nil {
			return 0, err
		}
	}
	first := uint64(len(l.recs))
	for _, r := range recs {
		c := proto.Clone(r).(*messages.Record)
		c.Offset = uint64(len(l.recs))
		l.recs = append(l.recs, c)
	}
	return first, nil
}

func (l *memLog) Bounds() (uint64, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.low, uint64(len(l.recs)), nil
}

func (l *memLog) Read(off uint64, max int) ([]*messages.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off < l.low || off >= uint64(len(l.recs)) {
		return nil, fmt.Errorf("offset %d out of [%d, %d)", off, l.low, len(l.recs))
	}
	end := min(uint64(len(l.recs)), off+uint64(max))
	return l.recs[off:end], nil
}

func (l *memLog) Sync() error { return nil }

func (l *memLog) Reset(base uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = make([]*messages.Record, base)
	l.low = base
	return nil
}

func (l *memLog) values() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs[l.low:] {
		out = append(out, fmt.Sprintf("%d:%s@%d", r.GetOffset(), r.GetValue(), r.GetRaftIndex()))
	}
	return out
}

var _ = Describe("FSM replay after retention or a cut tail (docs/DESIGN.md, invariant 4)", func() {
	var (
		dir string
		log *memLog
	)
	open := func() *consensus.FSM {
		GinkgoHelper()
		f, err := consensus.NewFSM(consensus.FSMConfig{Log: log, StatePath: filepath.Join(dir, "fsm.state"), Logger: testLogger("fsm")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		return f
	}
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		log = &memLog{}
	})
	entries := func() []*raft.Log {
		return []*raft.Log{produceEntry(1, "p", 1, "a", "b"), produceEntry(2, "", 0, "c"), produceEntry(3, "p", 2, "d", "e")}
	}

	It("appends nothing again when retention has deleted every record", func() {
		f := open()
		first := f.ApplyBatch(entries())
		// Retention deletes every record; the log's next offset stays 5.
		log.mu.Lock()
		log.low = 5
		log.mu.Unlock()
		f.Close()

		g := open() // no snapshot was taken: raft replays from its first entry
		again := g.ApplyBatch(append(entries(), produceEntry(4, "", 0, "f")))
		for i := range first {
			Expect(result(again[i]).Offsets()).To(Equal(result(first[i]).Offsets()))
		}
		Expect(result(again[3]).Offsets()).To(Equal([]uint64{5}))
		Expect(log.values()).To(Equal([]string{"5:f@4"}), "only the new record is appended")
		_, next, _ := log.Bounds()
		Expect(next).To(Equal(uint64(6)))
	})

	It("appends only the missing records of an entry that a crash cut in two", func() {
		f := open()
		f.ApplyBatch(entries())
		f.Close()
		// A crash kept offsets 0-3: entry 3's second record is gone.
		log.mu.Lock()
		log.recs = log.recs[:4]
		log.mu.Unlock()

		g := open()
		out := g.ApplyBatch(entries())
		Expect(result(out[2]).Offsets()).To(Equal([]uint64{3, 4}))
		Expect(log.values()).To(Equal([]string{"0:a@1", "1:b@1", "2:c@2", "3:d@3", "4:e@3"}))
	})
})
