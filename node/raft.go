package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"actorlog/actors"
	"actorlog/certs"
	"actorlog/consensus"
	"actorlog/internal/backoff"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// raftParts is what the node starts for consensus, in start order; stop
// undoes it in reverse.
type raftParts struct {
	peer    *consensus.Peer // stores, FSM, snapshots, transport and raft
	pid     *actor.PID      // the raft actor
	joinStp context.CancelFunc
	joinWG  sync.WaitGroup
}

// openRaftStores opens raft's log and stable stores. They open before the
// log actor: in data format 2 the log reads records' values from the raft
// log, and what a power loss left of the two logs must agree before either
// is used (actors.CutDanglingReferences).
func (n *Node) openRaftStores() error {
	cfg := n.cfg
	storeCfg := cfg.RaftStore
	storeCfg.Sync, storeCfg.SyncInterval = raftLogSync(cfg.Storage)
	storeCfg.Written = &n.disk.raft
	if storeCfg.MaxEntryBytes == 0 {
		storeCfg.MaxEntryBytes = storeEntryBytes()
	}
	n.maxEntry = int(min(storeCfg.MaxEntryBytes, max(consensus.DefaultMaxEntryBytes, maxEntryBytes(cfg)))) - entryHeadroom
	// Raft speaks only to nodes: with TLS, both sides require a node
	// certificate of the CA.
	tcfg := consensus.TransportConfig{UnsafeHeartbeatFastPath: cfg.UnsafeRaftHeartbeatFastPath}
	if cfg.TLS != nil {
		tcfg.TLS = certs.RequireNode(cfg.TLS)
		tcfg.PeerAllowed = n.raftPeerAllowed
	}
	peer, err := consensus.Open(consensus.PeerConfig{
		ID:              cfg.ID,
		DataDir:         cfg.DataDir,
		RecordLogDir:    filepath.Join(cfg.DataDir, logDirName),
		ValuesInRaftLog: cfg.DataFormat >= DataFormat2,
		FS:              cfg.Storage.FS,
		Logger:          n.log,
		Raft:            cfg.Raft,
		Store:           storeCfg,
		FSM: consensus.FSMConfig{
			// The log actor appends into one segment at a time: an entry
			// larger than its index (committed before requests were capped,
			// or by a node with other limits) is appended in pieces.
			MaxAppendRecords: int(actors.MaxRequestRecords(cfg.Storage)),
			Written:          &n.disk.state,
			Logger:           n.log,
			TracerProvider:   n.tp,
			OnDivergence:     n.repair.onDivergence,
			OnVerified:       n.repair.onVerified,
		},
		SnapshotsWritten: &n.disk.snapshots,
		BindAddr:         cfg.RaftAddr,
		AdvertiseAddr:    cfg.AdvertisedRaftAddr,
		Transport:        tcfg,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	n.rp.peer = peer
	return nil
}

// startRaft opens the FSM over the (already open) log actor, the
// snapshots and transport, and starts raft. With Bootstrap and no raft
// state it bootstraps a single-voter cluster.
func (n *Node) startRaft() error {
	cfg := n.cfg
	rlog := n.log.WithField("component", "raft")
	peer := n.rp.peer
	if err := peer.Start(actors.NewFSMLog(n.sys, n.logPID, cfg.RequestTimeout)); err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	n.fsm = peer.FSM()
	n.raft = peer.Raft()
	n.hadState = peer.HadState()
	n.raftAddr = peer.Addr()
	switch {
	case n.hadState:
		rlog.Info("raft state found; rejoining the cluster it records")
	case cfg.Bootstrap:
		rlog.Info("bootstrapping a new single-voter raft cluster")
		if err := peer.Bootstrap(); err != nil {
			return fmt.Errorf("%w: bootstrap raft: %w", ErrStart, err)
		}
	case len(cfg.Join) > 0:
		rlog.WithField("join", cfg.Join).Info("no raft state; asking the members to add this node")
	case cfg.BootstrapExpect > 0:
		rlog.WithField("bootstrap_expect", cfg.BootstrapExpect).Info("no raft state; waiting for the expected nodes in Consul before bootstrapping")
	case cfg.ConsulAddr != "":
		rlog.Info("no raft state; registered in Consul and waiting for the leader to add this node")
	default:
		rlog.Info("no raft state and neither --bootstrap nor --join: waiting to be added to a cluster")
	}
	return nil
}

// raftLogSync is the raft log's fsync policy: the one of the record log
// (--sync). Under "always" an entry is fsynced on a majority before it
// commits, so an acknowledged record survives a power loss of the whole
// cluster. Under "interval" and "none" the raft log, like the record log,
// is written to the operating system before anything is acknowledged (so
// it survives kill -9 of any node) and fsynced later; fsyncing only the
// raft log would bound every produce by the disk's fsync latency while the
// record log, the copy that is read, is not fsynced anyway.
func raftLogSync(st actors.StorageConfig) (consensus.LogSync, time.Duration) {
	switch st.Sync {
	case actors.SyncAlways:
		return consensus.LogSyncAlways, 0
	case actors.SyncInterval:
		return consensus.LogSyncInterval, st.SyncInterval
	default:
		return consensus.LogSyncNone, 0
	}
}

// entryHeadroom is what the raft log store adds around a command.
const entryHeadroom = 64 << 10

// maxEntryBytes fits the largest produce request this node accepts: its
// values plus the protobuf framing of every record. The raft actor
// refuses larger commands before they reach raft.
func maxEntryBytes(cfg Config) uint32 {
	return cfg.MaxBatchBytes + 8*actors.DefaultMaxBatchRecords + 2*entryHeadroom
}

// storeEntryBytes is the largest entry every node's logs store: the
// largest request any node may accept (MaxBatchBytesLimit). It does not
// depend on this node's limits, so that a follower stores whatever a
// leader with larger ones committed.
func storeEntryBytes() uint32 {
	return MaxBatchBytesLimit + 8*actors.DefaultMaxBatchRecords + 2*entryHeadroom
}

// limits are the produce limits every entry point checks (sessions, HTTP,
// the raft actor): one request must be storable as it is, so its record
// count is capped by one segment's index (actors.MaxRequestRecords).
func (n *Node) limits() actors.Limits {
	return actors.Limits{MaxRecordBytes: n.cfg.MaxRecordBytes, MaxBatchBytes: n.cfg.MaxBatchBytes,
		MaxBatchRecords: actors.MaxRequestRecords(n.cfg.Storage)}
}

// self is this node's member entry.
func (n *Node) self() *messages.Member {
	return &messages.Member{Id: n.cfg.ID, ActorAddress: n.actorAddr, RaftAddress: n.raftAddr, HttpAddress: n.httpAddr, GrpcAddress: n.grpcAddr}
}

// spawnRaftActor starts the raft actor once the remote's address is known.
func (n *Node) spawnRaftActor() error {
	props := actors.NewRaftProps(actors.RaftConfig{
		Raft: n.raft, FSM: n.fsm, Log: n.logPID, Self: n.self(),
		MaxEntryBytes: n.maxEntry, RequestTimeout: n.cfg.RequestTimeout, Logger: n.log,
		Limits: n.limits(),
		// New members join as non-voters; the leader promotes them once
		// caught up and stable (README, "Membership").
		MemberStatus: n.memberStatus(), VerifyMember: n.verifyMember(), StabilizationTime: n.cfg.StabilizationTime,
		Healthy: n.sup.Err, TracerProvider: n.tp, ChecksumInterval: n.cfg.ChecksumInterval,
	})
	pid, err := n.sys.Root.SpawnNamed(props.Configure(actor.WithGuardian(n.sup)), actors.RaftName)
	if err != nil {
		return fmt.Errorf("%w: spawn the raft actor: %w", ErrStart, err)
	}
	n.rp.pid = pid
	return nil
}

// awaitSoleLeader waits, within ctx, until a node that is the only voter
// of its configuration has elected itself, so that a single bootstrapped
// node serves writes as soon as Start returns.
func (n *Node) awaitSoleLeader(ctx context.Context) {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	srv := f.Configuration().Servers
	if len(srv) != 1 || string(srv[0].ID) != n.cfg.ID {
		return
	}
	timer := time.NewTimer(n.cfg.RequestTimeout)
	defer timer.Stop()
	obs := make(chan raft.Observation, 4)
	o := raft.NewObserver(obs, false, nil)
	n.raft.RegisterObserver(o)
	defer n.raft.DeregisterObserver(o)
	for n.raft.State() != raft.Leader {
		select {
		case <-obs:
		case <-ctx.Done():
			return
		case <-timer.C:
			n.log.Warn("the only voter did not become leader in time")
			return
		}
	}
}

// startJoin asks the Join members (and the leader, once known), with
// backoff, to add this node (as a non-voter, which the leader promotes once it has
// caught up), until it is a voter at its current raft
// address and the member table holds its current addresses, or the node
// stops. A node restarted on other ports thus tells the cluster where it
// is now.
func (n *Node) startJoin() {
	if len(n.cfg.Join) == 0 && !n.hadState {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.rp.joinStp = cancel
	n.rp.joinWG.Add(1)
	go func() {
		defer n.rp.joinWG.Done()
		// No jitter: joiners are few, and a fresh node should be added as
		// soon as the leader can.
		wait := backoff.New(backoff.Policy{Min: 200 * time.Millisecond, Max: 5 * time.Second})
		log := n.log.WithField("component", "join")
		for attempt := 0; ; attempt++ {
			if n.isVoter() && n.memberCurrent() {
				log.Debug("this node is a voter at its current addresses")
				return
			}
			targets := n.joinTargets()
			for _, addr := range targets {
				if err := n.joinPreflight(ctx, addr); err != nil {
					log.WithError(err).WithField("via", addr).Warn("cannot join through this member: TLS does not match")
					continue
				}
				res, err := n.sys.Root.RequestFuture(actor.NewPID(addr, actors.RaftName),
					&messages.JoinRequest{Member: n.self()}, n.cfg.RequestTimeout).Result()
				if _, ok := res.(*messages.JoinResponse); ok && err == nil {
					log.WithField("via", addr).Info("joined the cluster")
					return
				}
				if err == nil {
					err = fmt.Errorf("answered %T %v", res, res)
				}
				entry := log.WithError(err).WithField("via", addr)
				if attempt == 0 {
					entry.Info("join attempt failed; retrying")
				} else {
					entry.Debug("join attempt failed; retrying")
				}
				if ctx.Err() != nil {
					return
				}
			}
			if !backoff.Sleep(ctx, wait.Next()) {
				return
			}
		}
	}()
}

// joinTargets are the actor addresses to ask: the leader's first when it
// is known, then --join, then every other member the table knows (a node
// restarted on new ports finds its peers there).
func (n *Node) joinTargets() []string {
	var out []string
	seen := map[string]bool{n.actorAddr: true, "": true}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if _, id := n.raft.LeaderWithID(); id != "" && string(id) != n.cfg.ID {
		if m, ok := n.fsm.Member(string(id)); ok {
			add(m.GetActorAddress())
		}
	}
	for _, a := range n.cfg.Join {
		add(a)
	}
	for _, m := range n.fsm.Members() {
		if m.GetId() != n.cfg.ID {
			add(m.GetActorAddress())
		}
	}
	return out
}

// memberCurrent reports whether the member table holds this node's
// current addresses.
func (n *Node) memberCurrent() bool {
	m, ok := n.fsm.Member(n.cfg.ID)
	return ok && proto.Equal(m, n.self())
}

func (n *Node) isVoter() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		// A voter whose recorded address is not ours (restarted on another
		// port) must join again so the leader learns the new address.
		if string(s.ID) == n.cfg.ID && s.Suffrage == raft.Voter && string(s.Address) == n.raftAddr {
			return true
		}
	}
	return false
}

// stopRaft stops joining, hands leadership over when there is someone to
// hand it to, shuts raft down (every pending future is answered), stops
// the raft actor and closes the transport and stores. Each step is
// bounded by step.
func (n *Node) stopRaft(step time.Duration) []error {
	var errs []error
	rp := &n.rp
	if rp.joinStp != nil {
		rp.joinStp()
		rp.joinWG.Wait()
	}
	if rp.peer != nil {
		if err := rp.peer.Shutdown(step); err != nil {
			errs = append(errs, err)
		}
	}
	if rp.pid != nil {
		if err := n.sys.Root.StopFuture(rp.pid).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop the raft actor: %w", err))
		}
	}
	if rp.peer != nil {
		if err := rp.peer.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (n *Node) otherVoters() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) != n.cfg.ID && s.Suffrage == raft.Voter {
			return true
		}
	}
	return false
}
