package consensus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// PeerConfig configures a Peer: everything raft runs on in one node.
type PeerConfig struct {
	// ID is the node's raft server ID.
	ID string
	// DataDir is the node's data directory; raft's files live under
	// <DataDir>/raft (see the package documentation).
	DataDir string
	// RecordLogDir is the record log's directory. With ValuesInRaftLog its
	// deletions are synced before the raft log drops the entries that the
	// deleted records referred to.
	RecordLogDir string
	// ValuesInRaftLog is data format 2: the record log refers to the raft
	// log's entries for the records' values, so the raft log keeps every
	// entry a retained record refers to (StoreConfig.KeepRecords, and the
	// reclaimer that moves that floor), snapshots hold no records
	// (ExpandSnapshots adds them when one is sent), and the FSM syncs the
	// raft log before its state file. Needs the segmentstore log store.
	ValuesInRaftLog bool
	// FS is the file system of the stores, snapshots and state file; nil
	// is the operating system's.
	FS segmentstore.FS
	// Logger receives the FSM's logs as is, and raft's, its stores' and its
	// transport's with component=raft. nil discards.
	Logger *logrus.Entry

	// Raft tunes raft and the snapshot store.
	Raft Config
	// Store configures the raft log and stable stores. Open sets its
	// Logger, FS and KeepRecords.
	Store StoreConfig
	// FSM configures the FSM. Start sets its Log, StatePath, NodeID,
	// ValuesInRaftLog, SyncValues and FS.
	FSM FSMConfig
	// SnapshotsWritten counts the bytes written into snapshots (nil: not
	// counted).
	SnapshotsWritten *atomic.Uint64

	// BindAddr is where the raft transport listens; AdvertiseAddr, when
	// set, is the address other peers dial instead of the bound one. It
	// stays a name: raft dials it as written, so a DNS name is resolved on
	// every dial and follows the peer when its IP changes.
	BindAddr      string
	AdvertiseAddr string
	// Transport configures the transport. Start sets its Logger.
	Transport TransportConfig
}

// Peer is one node's raft: its log and stable stores, FSM, snapshot
// store, transport and raft itself, owned together. Open opens the stores;
// Start starts the rest once the record log the FSM applies to is open
// (in data format 2 the record log reads values from the raft log, and
// what a power loss left of the two must agree before either is used).
// Shutdown stops raft; Close releases everything. Both are idempotent.
type Peer struct {
	cfg PeerConfig
	log *logrus.Entry // component=raft

	logs   raft.LogStore
	stable raft.StableStore
	closer io.Closer // the log and stable stores
	// values is the segment log store while it is open, in data format 2.
	values atomic.Pointer[SegmentLogStore]

	fsm      *FSM
	reclaim  *reclaimer
	trans    *Transport
	r        *raft.Raft
	hadState bool

	shutdownOnce sync.Once
	shutdownErr  error
	closeOnce    sync.Once
	closeErr     error
}

// Open opens raft's log and stable stores.
func Open(cfg PeerConfig) (*Peer, error) {
	if cfg.Logger == nil {
		cfg.Logger = discardEntry()
	}
	p := &Peer{cfg: cfg, log: cfg.Logger.WithField("component", "raft")}
	storeCfg := cfg.Store
	storeCfg.Logger = p.log
	storeCfg.FS = cfg.FS
	storeCfg.KeepRecords = cfg.ValuesInRaftLog
	logs, stable, closer, err := openStores(cfg.DataDir, storeCfg)
	if err != nil {
		return nil, fmt.Errorf("open the raft stores: %w", err)
	}
	p.logs, p.stable, p.closer = logs, stable, closer
	if cfg.ValuesInRaftLog {
		store := segmentStoreOf(logs)
		if store == nil {
			_ = closer.Close()
			return nil, fmt.Errorf("records' values in the raft log need the %s raft log store", StoreSegmentstore)
		}
		p.values.Store(store)
	}
	return p, nil
}

// EndIndex is the raft log's end, one past its last entry on disk, when it
// holds the records' values (ValuesInRaftLog); ok is false otherwise.
func (p *Peer) EndIndex() (end uint64, ok bool) {
	s := p.values.Load()
	if s == nil {
		return 0, false
	}
	return s.EndIndex(), true
}

// EntryRecords returns the records of the raft entry at index, read from
// the raft log (data format 2: the record log's references point there).
// Before Open's stores hold the values and after Close it fails with
// ErrClosed, never as damage.
func (p *Peer) EntryRecords(index uint64) ([]*messages.Record, error) {
	s := p.values.Load()
	if s == nil {
		return nil, fmt.Errorf("%w: the raft log is not open", ErrClosed)
	}
	return s.EntryRecords(index)
}

// Start opens the FSM over log (the record log, already open), the
// snapshot store and the transport, and starts raft.
func (p *Peer) Start(log Log) error {
	cfg := p.cfg
	fcfg := cfg.FSM
	fcfg.Log = log
	fcfg.StatePath = StatePath(cfg.DataDir)
	fcfg.NodeID = cfg.ID
	fcfg.ValuesInRaftLog = cfg.ValuesInRaftLog
	fcfg.SyncValues = func() error {
		if s := p.values.Load(); s != nil {
			return s.Sync()
		}
		return ErrClosed
	}
	fcfg.FS = cfg.FS
	fsm, err := newFSM(fcfg)
	if err != nil {
		return fmt.Errorf("open the FSM: %w", err)
	}
	p.fsm = fsm

	if store := p.values.Load(); store != nil {
		fsys := cfg.FS
		if fsys == nil {
			fsys = segmentstore.OSFS{}
		}
		syncDir := func() error { return fsys.SyncDir(cfg.RecordLogDir) }
		p.reclaim = startReclaimer(log, store, syncDir, func(err error) {
			p.log.WithError(err).Warn("could not reclaim raft log segments that no record refers to")
		})
	}
	raftCfg := cfg.Raft
	raftCfg.Logger = p.log
	fileSnaps, err := newSnapshotStore(cfg.DataDir, raftCfg, cfg.FS)
	if err != nil {
		return fmt.Errorf("open the snapshot store: %w", err)
	}
	snaps := countWrites(fileSnaps, cfg.SnapshotsWritten)
	if err := p.catchUpSnapshot(snaps); err != nil {
		return err
	}
	if cfg.ValuesInRaftLog {
		// This node's snapshots hold no records; one sent to another node
		// gets them from the log then.
		snaps = ExpandSnapshots(snaps, log, filepath.Join(cfg.DataDir, "raft", "expand"), cfg.SnapshotsWritten)
	}
	hasState, err := raft.HasExistingState(p.logs, p.stable, snaps)
	if err != nil {
		return fmt.Errorf("inspect raft state: %w", err)
	}
	p.hadState = hasState
	var advertise net.Addr
	if cfg.AdvertiseAddr != "" {
		advertise = advertiseAddr(cfg.AdvertiseAddr)
	}
	tcfg := cfg.Transport
	tcfg.Logger = p.log
	trans, err := newTCPTransport(cfg.BindAddr, advertise, tcfg)
	if err != nil {
		return fmt.Errorf("raft transport on %s: %w", cfg.BindAddr, err)
	}
	p.trans = trans
	r, err := raft.NewRaft(raftConfig(cfg.ID, raftCfg), fsm, p.logs, p.stable, snaps, trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	p.r = r
	return nil
}

// catchUpSnapshot restores the latest snapshot when the FSM's own files
// are older: a crash in the middle of a snapshot restore leaves raft
// believing the snapshot applied (raft persists it before restoring) while
// the log holds only part of it. raft runs with NoSnapshotRestoreOnStart,
// so the FSM must catch up itself.
func (p *Peer) catchUpSnapshot(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	if len(list) == 0 || list[0].Index <= p.fsm.StateIndex() {
		return nil
	}
	p.cfg.Logger.WithFields(logrus.Fields{"snapshot": list[0].Index, "fsm": p.fsm.StateIndex()}).Warn("the log is older than the latest snapshot; restoring it")
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", list[0].ID, err)
	}
	if err := p.fsm.Restore(rc); err != nil {
		return fmt.Errorf("restore snapshot %s: %w", list[0].ID, err)
	}
	return nil
}

// Raft is the running raft; nil before Start.
func (p *Peer) Raft() *raft.Raft { return p.r }

// FSM is the FSM; nil before Start.
func (p *Peer) FSM() *FSM { return p.fsm }

// Addr is the transport's address: the advertised one, or the bound one.
func (p *Peer) Addr() string { return string(p.trans.LocalAddr()) }

// HadState reports whether raft found state (a log, a vote or a snapshot)
// when it started: the node was in a cluster before.
func (p *Peer) HadState() bool { return p.hadState }

// Bootstrap makes this peer a cluster of one voter, itself.
func (p *Peer) Bootstrap() error {
	return p.r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: raft.ServerID(p.cfg.ID), Address: p.trans.LocalAddr()},
	}}).Error()
}

// Disconnect closes the transport: every connection it accepted or
// dialled ends and no peer reaches this one any more, while raft runs on.
// Close does it too.
func (p *Peer) Disconnect() error {
	if p.trans == nil {
		return nil
	}
	return p.trans.Close()
}

// Shutdown hands leadership over when there is another voter to hand it
// to, and shuts raft down, which answers every pending future. When raft
// does not stop within timeout (the FSM retrying an append that the log
// does not take), the FSM gives up the entry, which replay appends after
// a restart. The FSM is closed afterwards.
func (p *Peer) Shutdown(timeout time.Duration) error {
	p.shutdownOnce.Do(func() { p.shutdownErr = p.shutdown(timeout) })
	return p.shutdownErr
}

func (p *Peer) shutdown(timeout time.Duration) error {
	var err error
	if p.r != nil {
		if p.r.State() == raft.Leader && p.otherVoters() {
			if err := p.r.LeadershipTransfer().Error(); err != nil {
				p.cfg.Logger.WithError(err).Info("leadership transfer failed; shutting down anyway")
			}
		}
		done := make(chan error, 1)
		go func() { done <- p.r.Shutdown().Error() }()
		timer := time.NewTimer(timeout)
		select {
		case err = <-done:
		case <-timer.C:
			p.fsm.Close()
			err = <-done
		}
		timer.Stop()
		if err != nil {
			err = fmt.Errorf("shut raft down: %w", err)
		}
	}
	if p.fsm != nil {
		p.fsm.Close()
	}
	return err
}

func (p *Peer) otherVoters() bool {
	f := p.r.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) != p.cfg.ID && s.Suffrage == raft.Voter {
			return true
		}
	}
	return false
}

// Close shuts raft down if Shutdown has not (waiting for it as long as it
// takes, and returning its error), then closes the transport and the
// stores; EntryRecords fails with ErrClosed from then on.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		var errs []error
		p.shutdownOnce.Do(func() {
			p.shutdownErr = p.shutdown(time.Duration(1<<63 - 1))
			errs = append(errs, p.shutdownErr)
		})
		if p.trans != nil {
			if err := p.trans.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close the raft transport: %w", err))
			}
		}
		p.reclaim.Stop()
		p.values.Store(nil)
		if p.closer != nil {
			if err := p.closer.Close(); err != nil && !errors.Is(err, ErrClosed) {
				errs = append(errs, fmt.Errorf("close the raft stores: %w", err))
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// advertiseAddr is PeerConfig.AdvertiseAddr as a net.Addr.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }
