package actors

import (
	"errors"
	"time"

	"actorlog/consensus"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// DefaultChecksumInterval is how often the leader asks the replicas to
// compare checksums. Each check is two small raft entries; ten seconds
// bounds how long a diverged replica serves reads before it notices, at
// a cost that does not show in produce throughput.
const DefaultChecksumInterval = 10 * time.Second

// startChecks runs the leader's checks: every ChecksumInterval, while this
// node leads, a Checkpoint entry, then a Verify entry with the leader's
// checksum at it (docs/DESIGN.md, "Replicas check each other"). The
// goroutine belongs to the actor and ends with it.
func (a *raftActor) startChecks() {
	if a.cfg.ChecksumInterval < 0 {
		return
	}
	r, every, timeout, stop, log := a.cfg.Raft, a.cfg.ChecksumInterval, a.cfg.RequestTimeout, a.stop, a.log
	a.async(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if r.State() != raft.Leader {
				continue
			}
			if err := runCheck(r, timeout, stop); err != nil && !errors.Is(err, errStopped) &&
				!errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrRaftShutdown) {
				log.WithError(err).Warn("replica checksum check failed; trying again at the next interval")
			}
		}
	})
}

// runCheck commits a Checkpoint, reads the leader's checksum from its
// result, and commits the Verify that carries it.
func runCheck(r *raft.Raft, timeout time.Duration, stop <-chan struct{}) error {
	f, err := applyCommand(r, &messages.RaftCommand{Command: &messages.RaftCommand_Checkpoint{Checkpoint: &messages.Checkpoint{}}}, timeout, stop)
	if err != nil {
		return err
	}
	cs, ok := f.Response().(*consensus.Checksum)
	if !ok {
		return errors.New("the checkpoint entry did not return a checksum")
	}
	_, err = applyCommand(r, &messages.RaftCommand{Command: &messages.RaftCommand_Verify{Verify: &messages.Verify{
		Index: cs.Index, NextOffset: cs.Next, Checksum: cs.Sum,
	}}}, timeout, stop)
	return err
}

func applyCommand(r *raft.Raft, cmd *messages.RaftCommand, timeout time.Duration, stop <-chan struct{}) (raft.ApplyFuture, error) {
	cmd.TimestampUnixNano = time.Now().UnixNano()
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	f := r.Apply(data, timeout)
	return f, await(f, stop)
}

// checksumQuery answers a peer that found a mismatch and asks what this
// replica has at the same checkpoint, before it repairs itself.
func (a *raftActor) checksumQuery(ctx actor.Context, m *messages.ChecksumQuery) {
	cs, ok := a.cfg.FSM.ChecksumAt(m.GetIndex())
	ctx.Respond(&messages.ChecksumAnswer{Index: m.GetIndex(), Known: ok, NextOffset: cs.Next, Checksum: cs.Sum})
}

// repairRequest, on the leader, holds a diverged member and demotes it to
// a non-voter: a replica that drops its log must not count towards a
// commit or vote until it has rebuilt it, or an entry it had acknowledged
// could be lost. The hold keeps membership and joins from making it a
// voter again before RepairDone.
func (a *raftActor) repairRequest(ctx actor.Context, m *messages.RepairRequest) {
	id := m.GetId()
	switch {
	case id == "":
		ctx.Respond(&messages.InvalidRequest{Field: "id", Reason: "required"})
		return
	case a.cfg.Raft.State() != raft.Leader:
		_, reply := a.leader(true)
		ctx.Respond(reply)
		return
	case id == a.cfg.Self.GetId():
		ctx.Respond(&messages.InvalidRequest{Field: "id", Reason: "the leader does not repair itself from itself"})
		return
	}
	sender := ctx.Sender()
	r, root, timeout, log, stop := a.cfg.Raft, a.root, a.cfg.RequestTimeout, a.log, a.stop
	a.async(func() {
		_, err := applyCommand(r, &messages.RaftCommand{Command: &messages.RaftCommand_RepairHold{RepairHold: &messages.RepairHold{Id: id, Held: true}}}, timeout, stop)
		if err == nil && isVoter(r, id) {
			err = await(r.DemoteVoter(raft.ServerID(id), 0, timeout), stop)
		}
		if err != nil {
			replyTo(root, sender, unavailable("hold %s for repair: %v", id, err))
			return
		}
		log.WithFields(logrus.Fields{"member": id, "checkpoint": m.GetIndex()}).Warn("member diverged: demoted to a non-voter while it rebuilds its log")
		replyTo(root, sender, &messages.RepairResponse{})
	})
}

// repairDone, on the leader, makes a rebuilt member a voter again and
// clears its hold.
func (a *raftActor) repairDone(ctx actor.Context, m *messages.RepairDone) {
	mem := m.GetMember()
	switch {
	case mem.GetId() == "" || mem.GetRaftAddress() == "":
		ctx.Respond(&messages.InvalidRequest{Field: "member", Reason: "id and raft_address are required"})
		return
	case a.cfg.Raft.State() != raft.Leader:
		_, reply := a.leader(true)
		ctx.Respond(reply)
		return
	}
	sender := ctx.Sender()
	r, root, timeout, log, stop := a.cfg.Raft, a.root, a.cfg.RequestTimeout, a.log, a.stop
	a.async(func() {
		err := await(r.AddVoter(raft.ServerID(mem.GetId()), raft.ServerAddress(mem.GetRaftAddress()), 0, timeout), stop)
		if err == nil {
			_, err = applyCommand(r, &messages.RaftCommand{Command: &messages.RaftCommand_RepairHold{RepairHold: &messages.RepairHold{Id: mem.GetId()}}}, timeout, stop)
		}
		if err != nil {
			replyTo(root, sender, unavailable("end the repair of %s: %v", mem.GetId(), err))
			return
		}
		log.WithField("member", mem.GetId()).Info("member rebuilt and verified its log: a voter again")
		replyTo(root, sender, &messages.RepairResponse{})
	})
}

// leaderSuspect, on the leader, checks its checksum at a checkpoint
// against every voter's: when fewer than a majority of the voters hold the
// leader's, the leader's log is the odd one, and it hands leadership to a
// voter that holds what the most voters hold. As a follower it then finds
// the mismatch at the next checkpoint and repairs itself like any replica.
func (a *raftActor) leaderSuspect(ctx actor.Context, m *messages.LeaderSuspect) {
	if a.cfg.Raft.State() != raft.Leader {
		_, reply := a.leader(true)
		ctx.Respond(reply)
		return
	}
	own, ok := a.cfg.FSM.ChecksumAt(m.GetIndex())
	if !ok {
		ctx.Respond(unavailable("no checksum of checkpoint %d here", m.GetIndex()))
		return
	}
	sender := ctx.Sender()
	r, fsm, root, selfID, timeout, log, stop := a.cfg.Raft, a.cfg.FSM, a.root, a.cfg.Self.GetId(), a.cfg.RequestTimeout, a.log, a.stop
	a.async(func() {
		f := r.GetConfiguration()
		if err := f.Error(); err != nil {
			replyTo(root, sender, unavailable("raft configuration: %v", err))
			return
		}
		type held struct{ next, sum uint64 }
		votes := map[held][]raft.Server{}
		voters := 0
		for _, s := range f.Configuration().Servers {
			if s.Suffrage != raft.Voter {
				continue
			}
			voters++
			if string(s.ID) == selfID {
				votes[held{own.Next, own.Sum}] = append(votes[held{own.Next, own.Sum}], s)
				continue
			}
			mem, ok := fsm.Member(string(s.ID))
			if !ok {
				continue
			}
			res, err := root.RequestFuture(actor.NewPID(mem.GetActorAddress(), RaftName), &messages.ChecksumQuery{Index: m.GetIndex()}, timeout).Result()
			if ans, ok := res.(*messages.ChecksumAnswer); err == nil && ok && ans.GetKnown() {
				votes[held{ans.GetNextOffset(), ans.GetChecksum()}] = append(votes[held{ans.GetNextOffset(), ans.GetChecksum()}], s)
			}
		}
		mine := len(votes[held{own.Next, own.Sum}])
		var best []raft.Server
		for h, who := range votes {
			if h != (held{own.Next, own.Sum}) && len(who) > len(best) {
				best = who
			}
		}
		if mine > voters/2 || len(best) <= mine {
			replyTo(root, sender, &messages.RepairResponse{})
			return
		}
		log.WithFields(logrus.Fields{"checkpoint": m.GetIndex(), "holding_ours": mine, "holding_theirs": len(best), "voters": voters}).
			Error("LEADER DIVERGED: fewer than a majority of the voters hold this leader's records; handing leadership over to repair this node")
		err := await(r.LeadershipTransferToServer(best[0].ID, best[0].Address), stop)
		if err != nil {
			replyTo(root, sender, unavailable("leadership transfer: %v", err))
			return
		}
		replyTo(root, sender, &messages.RepairResponse{})
	})
}

func isVoter(r *raft.Raft, id string) bool {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return s.Suffrage == raft.Voter
		}
	}
	return false
}
