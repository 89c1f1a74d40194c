package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"actorlog/actors"
	"actorlog/consensus"
	"actorlog/internal/backoff"
	"actorlog/messages"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Leaving the cluster for good (`actorlog leave`, POST /v1/leave):
//
//  1. A leader hands leadership over first: the leader never removes
//     itself, and a leader that stops without handing over costs the
//     cluster an election.
//  2. The leader is asked whether it would remove this node (a check that
//     changes nothing): it refuses to remove the only voter, and a voter
//     whose removal would leave fewer than a majority of the remaining
//     voters answering.
//  3. The node writes the leave marker into its data directory (phase
//     "leaving"), so that a restart does not rejoin the cluster it recorded
//     (Config.Rejoin).
//  4. It leaves Consul: the membership actor stops and deregisters it. This
//     comes before the removal, or the leader's reconcile would add a member
//     that still passes in Consul back as a non-voter.
//  5. The leader removes it from the raft configuration, and the marker
//     says so (phase "left").
//  6. The node stops (Done closes): it is no member of anything any more.
//
// A leave that fails after step 3 leaves the node running, still a voter
// and out of Consul; the leader's reconcile removes it once it has been
// missing from Consul for 10 s and a majority of the voters pass, and a new
// leave finishes the job.

// leftMarkerName is the leave marker under the data directory.
const leftMarkerName = "left.json"

// DefaultLeaveTimeout bounds a leave when the caller gives no deadline
// (POST /v1/leave without ?timeout=): a leadership transfer, a status
// request to every voter and a configuration change, each within
// RequestTimeout, with room for retries across a change of leader.
const DefaultLeaveTimeout = 30 * time.Second

// Phases of the leave marker.
const (
	// phaseLeaving: the node began to leave and may still be a voter (the
	// removal was not confirmed). Its logs must stay: a voter that drops
	// entries it acknowledged could elect a leader that lacks them.
	phaseLeaving = "leaving"
	// phaseLeft: the leader confirmed the removal; the logs are a stale
	// copy of a cluster the node is no member of.
	phaseLeft = "left"
)

// leftMarker records that the data directory left its cluster.
type leftMarker struct {
	ID     string    `json:"id"`
	Phase  string    `json:"phase"`
	Leader string    `json:"leader"`
	Since  time.Time `json:"since"`
}

func leftMarkerPath(dataDir string) string { return filepath.Join(dataDir, leftMarkerName) }

func readLeftMarker(dataDir string) (*leftMarker, error) {
	b, err := os.ReadFile(leftMarkerPath(dataDir))
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("%w: read the leave marker: %w", ErrStart, err)
	}
	m := &leftMarker{}
	if err := json.Unmarshal(b, m); err != nil || m.Phase != phaseLeft {
		// A damaged marker still says the directory began to leave; that
		// the removal was confirmed it no longer says.
		m.Phase = phaseLeaving
	}
	return m, nil
}

func writeLeftMarker(dataDir string, m *leftMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return consensus.WriteFileAtomic(leftMarkerPath(dataDir), b)
}

// checkLeft runs at start, before raft opens its state. A data directory
// that left its cluster, or began to, does not start (ErrLeft) unless
// Config.Rejoin is set. Then a directory that left drops its raft log,
// snapshots, FSM state and record log (a stale copy of a cluster it is no
// member of) and joins as a new member: a non-voter that the leader
// promotes once it has caught up. One whose removal was never confirmed
// may still be a voter and keeps everything: it starts as any restart
// does, and if it was removed after all it is added back as a non-voter
// and promoted once it has caught up.
func (n *Node) checkLeft() error {
	m, err := readLeftMarker(n.cfg.DataDir)
	if err != nil || m == nil {
		return err
	}
	if !n.cfg.Rejoin {
		what := "left its cluster"
		if m.Phase != phaseLeft {
			what = "began to leave its cluster"
		}
		return fmt.Errorf("%w: %s says node %s %s at %s (actorlog leave); start with --rejoin to join it again as a member, or use an empty --data-dir",
			ErrLeft, leftMarkerPath(n.cfg.DataDir), m.ID, what, m.Since.Format(time.RFC3339))
	}
	log := n.log.WithFields(logrus.Fields{"left_at": m.Since, "left_as": m.ID})
	if m.Phase == phaseLeft {
		log.Warn("this data directory left its cluster; --rejoin: dropping its raft log, snapshots and record log and joining as a new member")
		if err := dropLogs(n.cfg.DataDir, n.cfg.RaftStore.Kind); err != nil {
			return fmt.Errorf("%w: drop the logs of a data directory that left: %w", ErrStart, err)
		}
	} else {
		log.Warn("this data directory began to leave its cluster and may still be a voter; --rejoin: keeping its logs and rejoining")
	}
	if err := os.Remove(leftMarkerPath(n.cfg.DataDir)); err != nil {
		return fmt.Errorf("%w: remove the leave marker: %w", ErrStart, err)
	}
	return nil
}

// LeaveResult says what a successful Leave did.
type LeaveResult struct {
	// Removed is false when the node was in no raft configuration (it had
	// left already, or was never added).
	Removed bool `json:"removed"`
	// Leader is the raft leader that removed it.
	Leader string `json:"leader"`
	// Voters are the voters that remain.
	Voters []string `json:"voters"`
}

// LeaveRefusedError is a leave the leader refused; nothing changed.
// errors.Is matches ErrLastVoter, ErrLeaveQuorum or ErrIsLeader by Reason.
type LeaveRefusedError struct {
	Reason    messages.LeaveRefused_Reason
	Message   string
	Remaining int // voters that would remain
	Answering int // of them, those that answered the leader
}

func (e *LeaveRefusedError) Error() string { return "node: leave refused: " + e.Message }

// Unwrap maps the reason to its sentinel error.
func (e *LeaveRefusedError) Unwrap() error {
	switch e.Reason {
	case messages.LeaveRefused_LEAVE_REFUSED_LAST_VOTER:
		return ErrLastVoter
	case messages.LeaveRefused_LEAVE_REFUSED_QUORUM:
		return ErrLeaveQuorum
	case messages.LeaveRefused_LEAVE_REFUSED_IS_LEADER:
		return ErrIsLeader
	}
	return nil
}

// Leave takes the node out of its cluster for good and then stops it (see
// the steps above); ctx bounds it. It returns ErrNoLeader when no leader
// answers within ctx, a *LeaveRefusedError when the leader refuses, and
// ErrLeaving when another Leave is running. Once it has succeeded the node
// stops in the background (Done closes); a later Start of the same data
// directory fails with ErrLeft unless Config.Rejoin is set.
func (n *Node) Leave(ctx context.Context) (LeaveResult, error) {
	if !n.leaveMu.TryLock() {
		return LeaveResult{}, ErrLeaving
	}
	defer n.leaveMu.Unlock()
	select {
	case <-n.done:
		return LeaveResult{}, ErrStopped
	default:
	}
	log := n.log.WithField("component", "leave")
	// Step 1.
	if n.raft.State() == raft.Leader {
		if !n.otherVoters() {
			return LeaveResult{}, &LeaveRefusedError{Reason: messages.LeaveRefused_LEAVE_REFUSED_LAST_VOTER,
				Message: fmt.Sprintf("%s is the only voter: removing it would end the cluster", n.cfg.ID)}
		}
		log.Info("leaving: handing raft leadership over first")
		if err := n.handOver(ctx); err != nil {
			return LeaveResult{}, err
		}
	}
	// Step 2.
	if _, err := n.askLeave(ctx, true); err != nil {
		return LeaveResult{}, err
	}
	// Step 3.
	_, leader := n.raft.LeaderWithID()
	marker := &leftMarker{ID: n.cfg.ID, Phase: phaseLeaving, Leader: string(leader), Since: time.Now().UTC()}
	if err := writeLeftMarker(n.cfg.DataDir, marker); err != nil {
		return LeaveResult{}, fmt.Errorf("node: write the leave marker: %w", err)
	}
	// Step 4. The join loop stops too: it would ask to be added back.
	if n.rp.joinStp != nil {
		n.rp.joinStp()
		n.rp.joinWG.Wait()
	}
	if err := n.stopDiscovery(); err != nil {
		log.WithError(err).Warn("leaving: could not deregister from Consul")
	}
	// Step 5.
	res, err := n.askLeave(ctx, false)
	if err != nil {
		log.WithError(err).Warn("leaving: deregistered, but the leader did not remove this node; run leave again")
		return LeaveResult{}, err
	}
	marker.Phase, marker.Leader = phaseLeft, res.Leader
	if err := writeLeftMarker(n.cfg.DataDir, marker); err != nil {
		// The marker still says "leaving": a rejoin keeps the logs, which
		// is safe either way.
		log.WithError(err).Warn("leaving: could not record the confirmed removal")
	}
	log.WithFields(logrus.Fields{"leader": res.Leader, "voters": res.Voters, "removed": res.Removed}).Info("left the cluster; stopping")
	n.left.Store(true)
	// Step 6, once the caller has its answer: Stop waits for the HTTP
	// request that asked for the leave to end.
	go func() { _ = n.Stop(context.Background()) }()
	return res, nil
}

// Left reports whether the node left its cluster (Leave succeeded); it
// stops by itself then.
func (n *Node) Left() bool { return n.left.Load() }

// handOver transfers leadership and waits until another node leads.
func (n *Node) handOver(ctx context.Context) error {
	if err := awaitCtx(ctx, n.raft.LeadershipTransfer()); err != nil && !errors.Is(err, raft.ErrNotLeader) {
		return fmt.Errorf("%w: hand leadership over: %w", ErrNoLeader, err)
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if _, id := n.raft.LeaderWithID(); id != "" && string(id) != n.cfg.ID {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: no other node took leadership over: %w", ErrNoLeader, ctx.Err())
		case <-t.C:
		}
	}
}

// askLeave sends a LeaveRequest for this node to the leader until it
// answers for good or ctx ends: a change of leader (NotLeader, Unavailable,
// no answer) is retried with backoff.
func (n *Node) askLeave(ctx context.Context, checkOnly bool) (LeaveResult, error) {
	b := backoff.New(leaveBackoff)
	var last error
	for {
		res, err := n.askLeaveOnce(ctx, checkOnly)
		var refused *LeaveRefusedError
		switch {
		case err == nil:
			return res, nil
		case errors.Is(err, ErrIsLeader):
			// Elected again after the hand-over: hand it over again.
			if err := n.handOver(ctx); err != nil {
				return LeaveResult{}, err
			}
			continue
		case errors.As(err, &refused), errors.Is(err, ErrInvalidLeave):
			return LeaveResult{}, err
		}
		last = err
		if !backoff.Sleep(ctx, b.Next()) {
			return LeaveResult{}, fmt.Errorf("%w: %w (last: %w)", ErrNoLeader, ctx.Err(), last)
		}
	}
}

// leaveBackoff spaces the requests to leave while there is no leader to
// answer them, or a new one is being elected.
var leaveBackoff = backoff.Policy{Min: 100 * time.Millisecond, Max: time.Second}

func (n *Node) askLeaveOnce(ctx context.Context, checkOnly bool) (LeaveResult, error) {
	// The local raft actor forwards to the leader, as for a join.
	timeout := n.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return LeaveResult{}, ctx.Err()
	}
	f := n.sys.Root.RequestFuture(n.rp.pid, &messages.LeaveRequest{Id: n.cfg.ID, CheckOnly: checkOnly}, timeout)
	res, err := actors.FutureResult(ctx, f)
	if err != nil {
		return LeaveResult{}, err
	}
	switch m := res.(type) {
	case *messages.LeaveResponse:
		return LeaveResult{Removed: m.GetRemoved(), Leader: m.GetLeaderId(), Voters: m.GetVoters()}, nil
	case *messages.LeaveRefused:
		return LeaveResult{}, &LeaveRefusedError{Reason: m.GetReason(), Message: m.GetMessage(),
			Remaining: int(m.GetVotersRemaining()), Answering: int(m.GetVotersAnswering())}
	case *messages.InvalidRequest:
		return LeaveResult{}, fmt.Errorf("%w: %s: %s", ErrInvalidLeave, m.GetField(), m.GetReason())
	case *messages.NotLeader:
		return LeaveResult{}, fmt.Errorf("the leader changed to %s", m.GetLeaderId())
	case *messages.Unavailable:
		return LeaveResult{}, errors.New(m.GetReason())
	}
	return LeaveResult{}, fmt.Errorf("the raft actor answered %T", res)
}

// awaitCtx waits for a raft future within ctx.
func awaitCtx(ctx context.Context, f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
