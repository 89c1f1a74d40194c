package consensus_test

import (
	"bytes"
	"io"
	"path/filepath"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"

	"actorlog/consensus"
	"actorlog/messages"
)

func commandEntry(index uint64, cmd *messages.RaftCommand) *raft.Log {
	GinkgoHelper()
	data, err := proto.Marshal(cmd)
	Expect(err).NotTo(HaveOccurred())
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func checkpointEntry(index uint64) *raft.Log {
	return commandEntry(index, &messages.RaftCommand{Command: &messages.RaftCommand_Checkpoint{Checkpoint: &messages.Checkpoint{}}})
}

func verifyEntry(index uint64, cs *consensus.Checksum) *raft.Log {
	return commandEntry(index, &messages.RaftCommand{Command: &messages.RaftCommand_Verify{Verify: &messages.Verify{
		Index: cs.Index, NextOffset: cs.Next, Checksum: cs.Sum,
	}}})
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

var _ = Describe("The replicas' checksum (docs/DESIGN.md, \"Replicas check each other\")", func() {
	type replica struct {
		fsm      *consensus.FSM
		log      *fileLog
		diverged []consensus.Divergence
		verified []consensus.Checksum
	}
	open := func() *replica {
		GinkgoHelper()
		dir := GinkgoT().TempDir()
		r := &replica{log: openFileLog(filepath.Join(dir, "log"))}
		f, err := consensus.NewFSM(consensus.FSMConfig{
			Log: r.log, StatePath: filepath.Join(dir, "fsm.state"), Logger: testLogger("fsm"),
			OnDivergence: func(d consensus.Divergence) { r.diverged = append(r.diverged, d) },
			OnVerified:   func(cs consensus.Checksum) { r.verified = append(r.verified, cs) },
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		r.fsm = f
		return r
	}
	checkpoint := func(r *replica, index uint64) *consensus.Checksum {
		GinkgoHelper()
		cs, ok := r.fsm.Apply(checkpointEntry(index)).(*consensus.Checksum)
		Expect(ok).To(BeTrue())
		return cs
	}

	It("is the same on replicas that applied the same records, and a Verify of it matches", func() {
		a, b := open(), open()
		for _, r := range []*replica{a, b} {
			r.fsm.ApplyBatch([]*raft.Log{produceEntry(1, "p", 1, "x", "y"), memberEntry(2, "n1"), produceEntry(3, "", 0, "z")})
		}
		ca, cb := checkpoint(a, 4), checkpoint(b, 4)
		Expect(*ca).To(Equal(*cb))
		Expect(ca.Next).To(Equal(uint64(3)))
		b.fsm.Apply(verifyEntry(5, ca))
		Expect(b.diverged).To(BeEmpty())
		Expect(b.verified).To(Equal([]consensus.Checksum{*cb}))
		Expect(b.fsm.CheckStats().Matched).To(Equal(uint64(1)))
	})

	It("reports a replica whose record differs, with the last checkpoint that matched", func() {
		leader, follower := open(), open()
		for _, r := range []*replica{leader, follower} {
			r.fsm.Apply(produceEntry(1, "", 0, "a"))
		}
		good := checkpoint(leader, 2)
		checkpoint(follower, 2)
		follower.fsm.Apply(verifyEntry(3, good))

		leader.fsm.Apply(produceEntry(4, "", 0, "b"))
		follower.fsm.Apply(produceEntry(4, "", 0, "B")) // what the follower applied differs
		cs := checkpoint(leader, 5)
		local := checkpoint(follower, 5)
		follower.fsm.Apply(verifyEntry(6, cs))

		Expect(follower.diverged).To(HaveLen(1))
		d := follower.diverged[0]
		Expect(d.Leader).To(Equal(*cs))
		Expect(d.Local).To(Equal(*local))
		Expect(d.LastGood).To(Equal(*good))
		Expect(d.LastGood.Next).To(Equal(uint64(1)), "records below offset 1 are known good")
		Expect(follower.fsm.CheckStats().Mismatched).To(Equal(uint64(1)))
	})

	It("catches a record altered by the fault hook, once", func() {
		leader, follower := open(), open()
		Expect(follower.fsm.InjectDivergence(1)).To(Succeed())
		Expect(follower.fsm.InjectDivergence(0)).To(Succeed())
		for _, r := range []*replica{leader, follower} {
			r.fsm.Apply(produceEntry(1, "", 0, "a", "b"))
		}
		Expect(follower.log.values()).To(Equal([]string{"0:\x60@1", "1:b@1"}), "the hook alters what is stored too")
		cs := checkpoint(leader, 2)
		checkpoint(follower, 2)
		follower.fsm.Apply(verifyEntry(3, cs))
		Expect(follower.diverged).To(HaveLen(1))

		By("refusing an offset already applied")
		Expect(follower.fsm.InjectDivergence(0)).To(MatchError(consensus.ErrInvalidArgument))
	})

	It("goes on with the same chain after a snapshot is restored elsewhere", func() {
		a := open()
		a.fsm.ApplyBatch([]*raft.Log{produceEntry(1, "", 0, "a", "b"), produceEntry(2, "", 0, "c")})
		snap, err := a.fsm.Snapshot()
		Expect(err).NotTo(HaveOccurred())
		sink := &memSink{}
		Expect(snap.Persist(sink)).To(Succeed())

		b := open()
		Expect(b.fsm.Restore(io.NopCloser(&sink.Buffer))).To(Succeed())
		for _, r := range []*replica{a, b} {
			r.fsm.Apply(produceEntry(3, "", 0, "d"))
		}
		Expect(*checkpoint(b, 4)).To(Equal(*checkpoint(a, 4)))
	})

	It("keeps a member under repair held across a restart of the state", func() {
		a := open()
		a.fsm.Apply(commandEntry(1, &messages.RaftCommand{Command: &messages.RaftCommand_RepairHold{RepairHold: &messages.RepairHold{Id: "n2", Held: true}}}))
		Expect(a.fsm.UnderRepair("n2")).To(BeTrue())
		snap, err := a.fsm.Snapshot()
		Expect(err).NotTo(HaveOccurred())
		sink := &memSink{}
		Expect(snap.Persist(sink)).To(Succeed())
		b := open()
		Expect(b.fsm.Restore(io.NopCloser(&sink.Buffer))).To(Succeed())
		Expect(b.fsm.UnderRepair("n2")).To(BeTrue())
		b.fsm.Apply(commandEntry(2, &messages.RaftCommand{Command: &messages.RaftCommand_RepairHold{RepairHold: &messages.RepairHold{Id: "n2"}}}))
		Expect(b.fsm.UnderRepair("n2")).To(BeFalse())
	})
})
