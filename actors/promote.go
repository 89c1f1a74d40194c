package actors

import (
	"context"
	"time"

	"actorlog/messages"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Defaults of the promotion of non-voters (RaftConfig).
const (
	// DefaultStabilizationTime is how long a non-voter must stay healthy
	// and caught up before the leader makes it a voter, as Consul's
	// autopilot waits its ServerStabilizationTime (10 s): a member that
	// registers and dies, or cannot be reached at all, never becomes a
	// voter and so never costs quorum.
	DefaultStabilizationTime = 10 * time.Second
	// DefaultMaxTrailingEntries is how far a non-voter's applied index may
	// trail the leader's commit index and still count as caught up
	// (autopilot's MaxTrailingLogs is 250).
	DefaultMaxTrailingEntries = 250
	// DefaultPromoteInterval is how often the leader checks its non-voters.
	DefaultPromoteInterval = time.Second
)

// MemberStatus is what the leader learns of a non-voter when it asks it
// (RaftConfig.MemberStatus): the index up to which it applied the log.
type MemberStatus struct {
	AppliedIndex uint64
}

// goPromote runs the leader's promotion loop on a goroutine of the actor:
// every PromoteInterval, each non-voter of the raft configuration (a new
// member, or one demoted while it rebuilds) whose member entry is known is
// asked for its status; one that answered, and trailed the commit index by
// at most MaxTrailingEntries, at every check for StabilizationTime is made
// a voter. Promotion is general: it does not matter how the non-voter got
// there.
func (a *raftActor) goPromote() {
	cfg := a.cfg
	if cfg.MemberStatus == nil {
		return
	}
	r, fsm, stop, log := cfg.Raft, cfg.FSM, a.stop, a.log
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(cfg.PromoteInterval)
		defer t.Stop()
		since := map[raft.ServerID]time.Time{}
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if r.State() != raft.Leader {
				clear(since)
				continue
			}
			f := r.GetConfiguration()
			if f.Error() != nil {
				continue
			}
			present := map[raft.ServerID]bool{}
			for _, s := range f.Configuration().Servers {
				if s.Suffrage != raft.Nonvoter {
					continue
				}
				present[s.ID] = true
				m, ok := fsm.Member(string(s.ID))
				// A member rebuilding its log after a divergence becomes a
				// voter only through RepairDone (repair.go).
				if !ok || m.GetRaftAddress() != string(s.Address) || fsm.UnderRepair(string(s.ID)) {
					delete(since, s.ID)
					continue
				}
				if !a.caughtUp(m, r.CommitIndex(), stop) {
					delete(since, s.ID)
					continue
				}
				first, ok := since[s.ID]
				if !ok {
					since[s.ID] = time.Now()
					continue
				}
				if time.Since(first) < cfg.StabilizationTime {
					continue
				}
				if err := await(r.AddVoter(s.ID, s.Address, f.Index(), cfg.RequestTimeout), stop); err != nil {
					log.WithField("member", s.ID).WithError(err).Info("could not promote a non-voter; will retry")
					continue
				}
				delete(since, s.ID)
				log.WithFields(logrus.Fields{"member": s.ID, "stable_for": time.Since(first).Round(time.Second)}).
					Info("promoted a caught-up, healthy non-voter to voter")
			}
			for id := range since {
				if !present[id] {
					delete(since, id)
				}
			}
		}
	}()
}

// caughtUp asks the member for its status, within the request timeout.
func (a *raftActor) caughtUp(m *messages.Member, commit uint64, stop <-chan struct{}) bool {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.RequestTimeout)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	st, err := a.cfg.MemberStatus(ctx, m)
	if err != nil {
		a.log.WithField("member", m.GetId()).WithError(err).Debug("a non-voter did not report its status")
		return false
	}
	return st.AppliedIndex+a.cfg.MaxTrailingEntries >= commit
}
