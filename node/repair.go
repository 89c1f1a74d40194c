package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/actors"
	"actorlog/consensus"
	"actorlog/internal/backoff"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// A replica whose checksum differs from the leader's at a checkpoint has
// diverged (docs/DESIGN.md, "Replicas check each other"). It repairs
// itself without an operator:
//
//  1. It refuses reads from the last offset it verified on, so that no
//     client reads a record that may be wrong.
//  2. It asks the other voters what they hold at the same checkpoint. When
//     fewer than a majority hold the leader's records and another voter
//     holds this replica's, the leader may be the one that is wrong: it does
//     not repair (copying the leader would spread the damage), keeps refusing
//     those reads, and tells the leader, which hands leadership over when
//     the voters outvote it.
//  3. It asks the leader to hold it for repair and to demote it to a
//     non-voter (RepairRequest). A replica that drops entries must not vote
//     or count towards a commit until it holds them again, or an entry it
//     had acknowledged could be lost.
//  4. It writes a repair marker and asks its owner (the agent) to restart
//     it. On start, the marker makes the node drop its raft log, snapshots,
//     FSM state and record log (keeping raft's term and vote) before it
//     opens them, so raft rebuilds it from the leader by snapshot and
//     entries. A crash at any moment finds the marker and carries on.
//  5. Once its checksum matches the leader's at a later checkpoint, it
//     reports RepairDone: the leader makes it a voter again and clears the
//     hold, and the node serves reads again.

// repairMarkerName is the marker file under <data-dir>/raft.
const repairMarkerName = "repair.json"

// repair phases recorded in the marker.
const (
	// phaseDrop: the leader has demoted this node; drop the logs at the
	// next start.
	phaseDrop = "drop"
	// phaseRebuild: the logs were dropped; raft is rebuilding them, and the
	// node reports RepairDone once a checkpoint verifies.
	phaseRebuild = "rebuild"
)

type repairMarker struct {
	Phase string `json:"phase"`
	// Checkpoint is the raft index of the checkpoint that did not match.
	Checkpoint uint64 `json:"checkpoint"`
	// FromOffset is the first offset that may differ from the leader's.
	FromOffset uint64    `json:"from_offset"`
	Detail     string    `json:"detail"`
	Since      time.Time `json:"since"`
}

func repairMarkerPath(dataDir string) string { return filepath.Join(dataDir, "raft", repairMarkerName) }

func readRepairMarker(dataDir string) (*repairMarker, error) {
	b, err := os.ReadFile(repairMarkerPath(dataDir))
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("%w: read the repair marker: %w", ErrStart, err)
	}
	m := &repairMarker{}
	if err := json.Unmarshal(b, m); err != nil || (m.Phase != phaseDrop && m.Phase != phaseRebuild) {
		return nil, fmt.Errorf("%w: repair marker %s is damaged (%v); delete it to start without a repair", ErrStart, repairMarkerPath(dataDir), err)
	}
	return m, nil
}

func writeRepairMarker(dataDir string, m *repairMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "raft"), 0o755); err != nil {
		return err
	}
	return consensus.WriteFileAtomic(repairMarkerPath(dataDir), b)
}

// dropLogs removes what a repair rebuilds from the leader: the raft log,
// the snapshots, the FSM state and the record log. Raft's term and vote
// (the stable store) and the member table stay: the node must not vote
// twice in a term, and it needs its peers' addresses to reach them.
func dropLogs(dataDir string, kind consensus.StoreKind) error {
	var errs []error
	for _, p := range []string{
		consensus.LogDir(dataDir),
		filepath.Join(dataDir, "raft", "snapshots"),
		consensus.StatePath(dataDir),
		filepath.Join(dataDir, logDirName),
	} {
		errs = append(errs, os.RemoveAll(p))
	}
	if kind == consensus.StoreWAL {
		// raft-wal keeps the term and vote in its own files: a demoted
		// non-voter is never asked for a vote, so dropping them is safe.
		errs = append(errs, os.RemoveAll(consensus.WALDir(dataDir)))
	}
	errs = append(errs, os.MkdirAll(filepath.Join(dataDir, logDirName), 0o755))
	return errors.Join(errs...)
}

// repairer is the node's part that reacts to divergence. The FSM calls it
// on raft's goroutine, so it only records and hands work to its own
// goroutine (owned by the node, ended by stopRepair).
type repairer struct {
	n   *Node
	log *logrus.Entry

	diverged atomic.Uint64 // divergences found (metric)
	damaged  atomic.Uint64 // damaged records found by reads or the scrubber (metric)
	repaired atomic.Uint64 // repairs finished (metric)

	mu        sync.Mutex
	running   bool
	marker    *repairMarker // non-nil while the node rebuilds
	finishing bool
	// suspectAt is the checkpoint at which this replica found that its
	// peers agree with it and not with the leader; a later checkpoint that
	// matches ends its fence.
	suspectAt uint64
	stop      chan struct{}
	wg        sync.WaitGroup

	restartOnce sync.Once
	restart     chan struct{}
}

func newRepairer(n *Node) *repairer {
	return &repairer{n: n, log: n.log.WithField("component", "repair"), stop: make(chan struct{}), restart: make(chan struct{})}
}

// RestartRequested is closed when the node needs its owner to stop it and
// start it again with RestartConfig: a diverged replica drops its logs on
// the next start (see repair.go).
func (n *Node) RestartRequested() <-chan struct{} { return n.repair.restart }

// RestartConfig is the configuration to start the node again with: the
// one it was started with, with the ports the kernel chose in place of
// port 0, so that peers and clients find it where it was.
func (n *Node) RestartConfig() Config {
	cfg := n.cfg
	if cfg.AdvertisedActorAddr == "" {
		cfg.ActorAddr = pinPort(cfg.ActorAddr, n.actorAddr)
	}
	cfg.HTTPAddr = pinPort(cfg.HTTPAddr, n.httpAddr)
	cfg.RaftAddr = pinPort(cfg.RaftAddr, n.raftAddr)
	if cfg.AdvertisedGRPCAddr == "" {
		cfg.GRPCAddr = pinPort(cfg.GRPCAddr, n.grpcAddr)
	}
	// A restarted node has raft state (or, after a dropped log, is added
	// back by the leader): it must not bootstrap again.
	cfg.Bootstrap = false
	return cfg
}

// pinPort replaces port 0 of addr by the port of bound.
func pinPort(addr, bound string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" || bound == "" {
		return addr
	}
	_, bport, err := net.SplitHostPort(bound)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, bport)
}

// beforeOpen runs before the log and raft open: a marker in phase drop
// drops the logs, and either phase leaves the node rebuilding.
func (r *repairer) beforeOpen() error {
	m, err := readRepairMarker(r.n.cfg.DataDir)
	if err != nil || m == nil {
		return err
	}
	if m.Phase == phaseDrop {
		r.log.WithFields(logrus.Fields{"checkpoint": m.Checkpoint, "from_offset": m.FromOffset}).
			Warn("dropping this replica's logs to rebuild them from the leader after a divergence")
		if err := dropLogs(r.n.cfg.DataDir, r.n.cfg.RaftStore.Kind); err != nil {
			return fmt.Errorf("%w: drop the diverged logs: %w", ErrStart, err)
		}
		m.Phase = phaseRebuild
		if err := writeRepairMarker(r.n.cfg.DataDir, m); err != nil {
			return fmt.Errorf("%w: write the repair marker: %w", ErrStart, err)
		}
	}
	r.mu.Lock()
	r.marker, r.running = m, true
	r.mu.Unlock()
	r.diverged.Store(1)
	return nil
}

// inProgress reports whether a repair is running or pending.
func (r *repairer) inProgress() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// afterLogReady fences every read while the node rebuilds: what it holds
// is not verified yet.
func (r *repairer) afterLogReady() error {
	r.mu.Lock()
	m := r.marker
	r.mu.Unlock()
	if m == nil {
		return nil
	}
	return r.fence(0, "this replica is rebuilding its log from the leader after a divergence")
}

func (r *repairer) fence(from uint64, reason string) error {
	_, err := r.n.sys.Root.RequestFuture(r.n.logPID, &messages.ReadFence{On: true, FromOffset: from, Reason: reason}, r.n.cfg.RequestTimeout).Result()
	return err
}

// onDivergence is the FSM's OnDivergence: it must not block.
func (r *repairer) onDivergence(d consensus.Divergence) {
	r.diverged.Add(1)
	r.start(func() { r.repair(d) })
}

// start runs a repair on the repairer's goroutine, unless one is running
// or the repairer is stopping. It does not block.
func (r *repairer) start(repair func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running || r.stopped() {
		return
	}
	r.running = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		repair()
	}()
}

// onCorrupt is the log's OnCorrupt: a read or the scrubber found a
// damaged record in this replica's record log. The CRC says which copy is
// wrong, so unlike a divergence no vote is needed: the replica fences
// reads from there and is rebuilt from the leader (steps 3-5 above). A
// leader hands leadership over first. A replica that is the only voter has
// no good copy to fetch: it says so, and serves every record but the
// damaged one.
func (r *repairer) onCorrupt(from uint64, reason string) {
	r.damaged.Add(1)
	r.start(func() { r.repairDamage(from, reason) })
}

func (r *repairer) repairDamage(from uint64, reason string) {
	n := r.n
	log := r.log.WithFields(logrus.Fields{"from_offset": from, "damage": reason})
	if !n.otherVoters() {
		// Nothing to copy from: the damaged record stays refused (every
		// read of it fails its CRC) and the others stay readable.
		log.Error("a damaged record and no other voter to copy it from: it is never served; restore the data directory from a backup")
		// The next read or scrub pass that meets it reports it again, so
		// the log and the metric keep saying so.
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
		return
	}
	if err := r.fence(from, fmt.Sprintf("this replica's record at offset %d or later is damaged and is being repaired; read from another node", from)); err != nil {
		log.WithError(err).Error("could not fence reads of the damaged records")
	}
	if n.raft.State() == raft.Leader {
		log.Warn("the leader's copy of a record is damaged: handing leadership over, then repairing from the new leader")
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			log.WithError(err).Warn("leadership transfer failed; the repair waits for another leader")
		}
	}
	r.holdAndRestart(log, &repairMarker{Phase: phaseDrop, Checkpoint: n.raft.AppliedIndex(), FromOffset: from,
		Detail: "damaged record: " + reason, Since: time.Now().UTC()})
}

// holdAndRestart runs steps 3 and 4 of the repair: the leader holds this
// node and demotes it, the marker m is written, and the node restarts to
// drop its logs. m.Checkpoint is the index the hold names.
func (r *repairer) holdAndRestart(log *logrus.Entry, m *repairMarker) {
	n := r.n
	if !r.retry(log, "ask the leader to hold this node for repair", func() error {
		if n.raft.State() == raft.Leader {
			return errors.New("this node is still the leader")
		}
		return r.askLeader(&messages.RepairRequest{Id: n.cfg.ID, Index: m.Checkpoint})
	}) {
		return
	}
	if err := writeRepairMarker(n.cfg.DataDir, m); err != nil {
		log.WithError(err).Error("could not write the repair marker; the node stays fenced")
		return
	}
	log.Warn("demoted to a non-voter; restarting to drop this replica's logs and rebuild them from the leader")
	r.restartOnce.Do(func() { close(r.restart) })
}

// onVerified is the FSM's OnVerified: a node rebuilding its log reports
// RepairDone once a checkpoint matches.
func (r *repairer) onVerified(cs consensus.Checksum) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.suspectAt != 0 && cs.Index > r.suspectAt && r.marker == nil {
		// The leader that disagreed is gone (or was right after all at a
		// later checkpoint): this replica's records match again.
		r.suspectAt, r.running = 0, false
		n := r.n
		n.sys.Root.Send(n.logPID, &messages.ReadFence{})
		r.log.WithField("checkpoint", cs.Index).Warn("this replica matches the leader again; serving reads")
		return
	}
	// Only a checkpoint past the one that failed proves the rebuilt log:
	// replay also verifies older checkpoints on the way.
	if r.marker == nil || r.finishing || r.stopped() || cs.Index <= r.marker.Checkpoint {
		return
	}
	m := r.marker
	r.finishing = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.finish(m, cs)
	}()
}

// repair runs steps 1-4 of the repair.
func (r *repairer) repair(d consensus.Divergence) {
	from := d.LastGood.Next
	log := r.log.WithFields(logrus.Fields{"checkpoint": d.Local.Index, "from_offset": from})
	if err := r.fence(from, fmt.Sprintf("this replica diverged from the leader at offset %d or later and is being repaired; read from another node", from)); err != nil {
		log.WithError(err).Error("could not fence reads of the diverged records")
	}
	if mine, leaders, voters := r.countVoters(d); mine > 1 && leaders <= voters/2 {
		// Fewer than a majority hold the leader's records, and another
		// voter holds this replica's: the leader may be the one that
		// diverged, and copying it would spread the damage. Tell it; when
		// the voters outvote it, it hands leadership over and repairs
		// itself, and this replica serves again once a checkpoint of the
		// new leader matches. The next mismatch decides again.
		log.WithFields(logrus.Fields{"voters_with_this_replica": mine, "voters_with_the_leader": leaders, "voters": voters}).
			Error("the leader's records differ from a majority's: not repairing from it, refusing reads of the records in question, and telling the leader")
		if err := r.askLeader(&messages.LeaderSuspect{Index: d.Local.Index}); err != nil {
			log.WithError(err).Warn("could not tell the leader that it may have diverged")
		}
		r.mu.Lock()
		r.suspectAt, r.running = d.Local.Index, false
		r.mu.Unlock()
		return
	}
	r.holdAndRestart(log, &repairMarker{Phase: phaseDrop, Checkpoint: d.Local.Index, FromOffset: from, Detail: d.String(), Since: time.Now().UTC()})
}

// finish runs step 5: RepairDone to the leader, then the marker goes and
// reads are served again.
func (r *repairer) finish(m *repairMarker, cs consensus.Checksum) {
	n := r.n
	log := r.log.WithFields(logrus.Fields{"checkpoint": cs.Index, "next_offset": cs.Next})
	if !r.retry(log, "report the rebuilt log to the leader", func() error {
		return r.askLeader(&messages.RepairDone{Member: n.self()})
	}) {
		return
	}
	if err := os.Remove(repairMarkerPath(n.cfg.DataDir)); err != nil && !os.IsNotExist(err) {
		log.WithError(err).Warn("could not remove the repair marker")
	}
	if _, err := n.sys.Root.RequestFuture(n.logPID, &messages.ReadFence{}, n.cfg.RequestTimeout).Result(); err != nil {
		log.WithError(err).Warn("could not lift the read fence")
	}
	r.repaired.Add(1)
	r.mu.Lock()
	r.marker, r.running, r.finishing = nil, false, false
	r.mu.Unlock()
	log.WithField("took", time.Since(m.Since).Round(time.Millisecond).String()).Warn("replica repaired: its log matches the leader's again")
}

// countVoters asks the other voters for their checksum at the checkpoint
// and counts those that hold this replica's (this one included) and those
// that hold the leader's (the leader included), out of all voters.
func (r *repairer) countVoters(d consensus.Divergence) (mine, leaders, voters int) {
	n := r.n
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 1, 1, 1
	}
	_, leader := n.raft.LeaderWithID()
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		switch string(s.ID) {
		case n.cfg.ID:
			mine++
			continue
		case string(leader):
			leaders++
			continue
		}
		m, ok := n.fsm.Member(string(s.ID))
		if !ok {
			continue
		}
		res, err := n.sys.Root.RequestFuture(actor.NewPID(m.GetActorAddress(), actors.RaftName),
			&messages.ChecksumQuery{Index: d.Local.Index}, n.cfg.RequestTimeout).Result()
		a, ok := res.(*messages.ChecksumAnswer)
		if err != nil || !ok || !a.GetKnown() {
			continue
		}
		switch {
		case a.GetNextOffset() == d.Local.Next && a.GetChecksum() == d.Local.Sum:
			mine++
		case a.GetNextOffset() == d.Leader.Next && a.GetChecksum() == d.Leader.Sum:
			leaders++
		}
	}
	return mine, leaders, voters
}

// askLeader sends a repair message to the current leader's raft actor.
func (r *repairer) askLeader(msg any) error {
	n := r.n
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return errors.New("no leader is known")
	}
	m, ok := n.fsm.Member(string(id))
	if !ok {
		return fmt.Errorf("the address of leader %s is not known", id)
	}
	res, err := n.sys.Root.RequestFuture(actor.NewPID(m.GetActorAddress(), actors.RaftName), msg, n.cfg.RequestTimeout).Result()
	if err != nil {
		return err
	}
	if _, ok := res.(*messages.RepairResponse); !ok {
		return fmt.Errorf("the leader answered %T %v", res, res)
	}
	return nil
}

// retry runs op with backoff until it succeeds (true) or the node stops
// (false).
func (r *repairer) retry(log *logrus.Entry, what string, op func() error) bool {
	return backoff.Retry(r.stop, repairBackoff, op, func(err error) {
		log.WithError(err).Warn("could not " + what + "; retrying")
	}) == nil
}

// repairBackoff spaces the retries of one step of a repair: the peers it
// needs may be restarting or electing, which takes seconds, not
// milliseconds.
var repairBackoff = backoff.Policy{Min: 200 * time.Millisecond, Max: 5 * time.Second}

// stopped reports whether stopRepair has begun; r.mu is held.
func (r *repairer) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// stopRepair ends the repair goroutines; a repair cut short carries on
// from its marker at the next start.
func (r *repairer) stopRepair() {
	r.mu.Lock()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.mu.Unlock()
	r.wg.Wait()
}
