package actors

import (
	"context"
	"fmt"
	"sync"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// leave removes a member from the raft configuration for good, on the
// leader; elsewhere it forwards the request to the leader once, as joins
// are. The leader refuses (LeaveRefused) to remove the only voter, to
// remove itself (the member hands leadership over first), and to remove a
// voter when fewer than a majority of the voters that would remain answer
// its status: hashicorp/raft counts a configuration change with the new
// configuration's voters, so the removal could never commit and the
// cluster would be left without quorum. With CheckOnly it answers the
// same and changes nothing.
func (a *raftActor) leave(ctx actor.Context, m *messages.LeaveRequest) {
	id := m.GetId()
	if id == "" {
		ctx.Respond(&messages.InvalidRequest{Field: "id", Reason: "required"})
		return
	}
	sender := ctx.Sender()
	if a.cfg.Raft.State() != raft.Leader {
		l, reply := a.leader(m.GetForwarded())
		if reply != nil {
			ctx.Respond(reply)
			return
		}
		ctx.RequestWithCustomSender(actor.NewPID(l.GetActorAddress(), RaftName),
			&messages.LeaveRequest{Id: id, Forwarded: true, CheckOnly: m.GetCheckOnly()}, sender)
		return
	}
	selfID := a.cfg.Self.GetId()
	if id == selfID {
		ctx.Respond(&messages.LeaveRefused{Reason: messages.LeaveRefused_LEAVE_REFUSED_IS_LEADER,
			Message: fmt.Sprintf("%s is the raft leader: it hands leadership over before it leaves", id)})
		return
	}
	r, fsm, root, timeout, log, stop, status := a.cfg.Raft, a.cfg.FSM, a.root, a.cfg.RequestTimeout, a.log, a.stop, a.cfg.MemberStatus
	a.async(func() {
		f := r.GetConfiguration()
		if err := await(f, stop); err != nil {
			replyTo(root, sender, unavailable("raft configuration: %v; retry", err))
			return
		}
		var remaining []string
		member, voter := false, false
		for _, s := range f.Configuration().Servers {
			if string(s.ID) == id {
				member, voter = true, s.Suffrage == raft.Voter
				continue
			}
			if s.Suffrage == raft.Voter {
				remaining = append(remaining, string(s.ID))
			}
		}
		done := &messages.LeaveResponse{Voters: remaining, LeaderId: selfID}
		if !member {
			replyTo(root, sender, done)
			return
		}
		if voter {
			if len(remaining) == 0 {
				replyTo(root, sender, &messages.LeaveRefused{Reason: messages.LeaveRefused_LEAVE_REFUSED_LAST_VOTER,
					Message: fmt.Sprintf("%s is the only voter: removing it would end the cluster", id)})
				return
			}
			answering, unknown := countAnswering(remaining, selfID, fsm.Member, status, timeout, stop)
			if answering <= len(remaining)/2 && len(unknown) > 0 {
				// Right after a bootstrap the member table may lack a
				// voter's addresses for a reconcile round.
				replyTo(root, sender, unavailable("the addresses of voters %v are not known yet; retry", unknown))
				return
			}
			if answering <= len(remaining)/2 {
				replyTo(root, sender, &messages.LeaveRefused{Reason: messages.LeaveRefused_LEAVE_REFUSED_QUORUM,
					Message: fmt.Sprintf("only %d of the %d voters that would remain answer; without %s the cluster would have no quorum",
						answering, len(remaining), id),
					VotersRemaining: uint32(len(remaining)), VotersAnswering: uint32(answering)})
				return
			}
		}
		if m.GetCheckOnly() {
			replyTo(root, sender, done)
			return
		}
		// The configuration's index makes the removal fail if the
		// configuration changed after the check above.
		if err := await(r.RemoveServer(raft.ServerID(id), f.Index(), timeout), stop); err != nil {
			replyTo(root, sender, unavailable("remove member %s: %v; retry", id, err))
			return
		}
		log.WithFields(logrus.Fields{"member": id, "voters": remaining}).Info("member left the cluster: removed from the raft configuration")
		// Its addresses go too, so nobody dials or trusts them any more.
		// The removal already stands; a failure here only leaves a stale
		// entry, logged.
		forget := &messages.RaftCommand{Command: &messages.RaftCommand_Member{Member: &messages.Member{Id: id, Removed: true}}}
		if _, err := applyCommand(r, forget, timeout, stop); err != nil {
			log.WithError(err).WithField("member", id).Warn("could not remove the member's addresses from the member table")
		}
		done.Removed = true
		replyTo(root, sender, done)
	})
}

// countAnswering counts the voters of ids that answer their status within
// timeout, the leader (selfID) included without asking, and lists those
// whose addresses the member table lacks. Without a way to ask (status
// nil) every voter counts as answering.
func countAnswering(ids []string, selfID string, member func(string) (*messages.Member, bool),
	status func(context.Context, *messages.Member) (MemberStatus, error), timeout time.Duration, stop <-chan struct{},
) (int, []string) {
	if status == nil {
		return len(ids), nil
	}
	var unknown []string
	ctx, cancel := stopContext(stop)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	defer cancelT()
	var (
		mu sync.Mutex
		n  int
		wg sync.WaitGroup
	)
	for _, id := range ids {
		if id == selfID {
			n++
			continue
		}
		m, ok := member(id)
		if !ok {
			unknown = append(unknown, id)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := status(ctx, m); err == nil {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return n, unknown
}
