package consensus

import (
	"fmt"
	"path/filepath"
	"time"

	"actorlog/internal/logbridge"
	"actorlog/segmentstore"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Defaults for Config. They are sized for this project's machines: a LAN or
// loopback between nodes, a disk whose fsync takes 0.2–1.3 ms, and two cores
// that are shared with the actor system (and with -race in tests).
const (
	// DefaultHeartbeatTimeout is half of raft's 1 s: loopback and LAN round
	// trips are well under a millisecond, so a follower can notice a dead
	// leader sooner without risking spurious elections. Heartbeats go
	// through raft's main loop (see Transport), so a follower answers one
	// only after the disk write in front of it: a disk whose raft writes
	// take longer than this costs elections (docs/BENCHMARKS.md, "Leader
	// pauses"), and such a node needs a longer timeout
	// (--raft-heartbeat-timeout).
	DefaultHeartbeatTimeout = 500 * time.Millisecond
	// DefaultElectionTimeout equals the heartbeat timeout, as in raft.
	DefaultElectionTimeout = 500 * time.Millisecond
	// DefaultLeaderLeaseTimeout equals the heartbeat timeout, not half of
	// it as in raft. A leader that hears from no quorum for this long steps
	// down and fails its in-flight Applies; on two shared cores under load
	// (fsyncs, -race, other processes) stalls of over 100 ms were measured
	// to do exactly that ("leadership lost while committing log"). A
	// shorter lease would only make a partitioned leader step down sooner,
	// and it cannot commit anything meanwhile anyway.
	DefaultLeaderLeaseTimeout = 500 * time.Millisecond
	// DefaultCommitTimeout bounds how late a follower learns the commit
	// index when no new entries arrive to carry it. Raft's 50 ms would make
	// follower reads visibly stale; 20 ms costs one small RPC per follower.
	DefaultCommitTimeout = 20 * time.Millisecond
	// DefaultMaxAppendEntries lets one leader log write (one fsync) take a
	// whole group-commit batch: with BatchApplyCh the apply channel is
	// buffered to this size and the leader drains it into a single
	// StoreLogs. Raft's default is 64 and its ceiling 1024; measurements
	// here showed little difference, and 256 keeps one AppendEntries RPC of
	// 1 KiB entries at about 256 KiB.
	DefaultMaxAppendEntries = 256
	// DefaultTrailingLogs is raft's default: a follower that falls fewer
	// than this many entries behind catches up from the log, not from a
	// snapshot.
	DefaultTrailingLogs = 10240
	// DefaultSnapshotThreshold is raft's default number of new entries
	// that triggers a snapshot.
	DefaultSnapshotThreshold = 8192
	// DefaultSnapshotInterval is how often raft checks the threshold. Half
	// of raft's 120 s, so the log on disk stays bounded under steady load.
	DefaultSnapshotInterval = 60 * time.Second
	// DefaultSnapshotRetain is how many snapshots the file snapshot store
	// keeps; two lets a follower still fetch the previous one while a new
	// one is written.
	DefaultSnapshotRetain = 2
)

// Config holds the raft settings this project tunes. Zero fields take the
// Default* constants above. Everything else in raft.Config keeps raft's
// default, except the fixed choices documented on raftConfig.
type Config struct {
	// HeartbeatTimeout is how long a follower waits without contact from a
	// leader before it starts an election. Default DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes. Must be at
	// least HeartbeatTimeout. Default DefaultElectionTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without hearing
	// from a quorum. At most HeartbeatTimeout. Default
	// DefaultLeaderLeaseTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the idle time after which the leader sends an
	// AppendEntries just to carry the commit index. Default
	// DefaultCommitTimeout.
	CommitTimeout time.Duration
	// MaxAppendEntries caps the entries per AppendEntries RPC and per
	// leader log write (1..1024). Default DefaultMaxAppendEntries.
	MaxAppendEntries int
	// TrailingLogs is how many entries are kept in the log after a
	// snapshot. Default DefaultTrailingLogs.
	TrailingLogs uint64
	// SnapshotThreshold is how many new entries trigger a snapshot.
	// Default DefaultSnapshotThreshold.
	SnapshotThreshold uint64
	// SnapshotInterval is how often the threshold is checked (raft adds
	// jitter). Default DefaultSnapshotInterval.
	SnapshotInterval time.Duration
	// SnapshotRetain is how many snapshots the snapshot store keeps.
	// Default DefaultSnapshotRetain.
	SnapshotRetain int
	// Logger receives raft's logs as structured logrus entries. Nil
	// discards them.
	Logger *logrus.Entry
}

// DefaultConfig returns a Config with every field at its default.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// LoopbackConfig returns timeouts for clusters whose nodes all run on one
// machine over loopback, such as tests and `make run`: a first election
// finishes in about half a second. The margins still allow for -race and
// two busy cores: a 100 ms leader lease made leaders step down under a
// load average of 6 there.
func LoopbackConfig() Config {
	c := DefaultConfig()
	c.HeartbeatTimeout = 250 * time.Millisecond
	c.ElectionTimeout = 250 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	return c
}

func (c Config) withDefaults() Config {
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = DefaultLeaderLeaseTimeout
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.MaxAppendEntries == 0 {
		c.MaxAppendEntries = DefaultMaxAppendEntries
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.SnapshotRetain == 0 {
		c.SnapshotRetain = DefaultSnapshotRetain
	}
	return c
}

// Validate reports the first field that raft would refuse, after defaults
// are applied, as a *ConfigError.
func (c Config) Validate() error {
	c = c.withDefaults()
	const floor = 5 * time.Millisecond // raft's own lower bound
	switch {
	case c.HeartbeatTimeout < floor:
		return &ConfigError{Field: "HeartbeatTimeout", Reason: fmt.Sprintf("%s is below %s", c.HeartbeatTimeout, floor)}
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return &ConfigError{Field: "ElectionTimeout", Reason: fmt.Sprintf("%s is below HeartbeatTimeout %s", c.ElectionTimeout, c.HeartbeatTimeout)}
	case c.LeaderLeaseTimeout < floor:
		return &ConfigError{Field: "LeaderLeaseTimeout", Reason: fmt.Sprintf("%s is below %s", c.LeaderLeaseTimeout, floor)}
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return &ConfigError{Field: "LeaderLeaseTimeout", Reason: fmt.Sprintf("%s exceeds HeartbeatTimeout %s", c.LeaderLeaseTimeout, c.HeartbeatTimeout)}
	case c.CommitTimeout < time.Millisecond:
		return &ConfigError{Field: "CommitTimeout", Reason: fmt.Sprintf("%s is below 1ms", c.CommitTimeout)}
	case c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024:
		return &ConfigError{Field: "MaxAppendEntries", Reason: fmt.Sprintf("%d is outside 1..1024", c.MaxAppendEntries)}
	case c.SnapshotInterval < floor:
		return &ConfigError{Field: "SnapshotInterval", Reason: fmt.Sprintf("%s is below %s", c.SnapshotInterval, floor)}
	case c.SnapshotRetain < 1:
		return &ConfigError{Field: "SnapshotRetain", Reason: fmt.Sprintf("%d is below 1", c.SnapshotRetain)}
	}
	return nil
}

// raftConfig builds the raft.Config for the server with the given id.
// Zero fields of cfg take their defaults; call cfg.Validate (or
// raft.ValidateConfig on the result) to reject bad values.
//
// Fixed choices, and why:
//   - BatchApplyCh: concurrent Apply calls are drained into one log write,
//     which is the leader's group commit (one fsync for many entries).
//   - NoSnapshotRestoreOnStart: the FSM keeps its own durable files and the
//     last applied index (docs/DESIGN.md, invariant 4), so restoring the latest
//     snapshot on every start would only redo work.
//   - ShutdownOnRemove stays true: a server removed from the configuration
//     stops instead of campaigning against the cluster.
func raftConfig(id string, cfg Config) *raft.Config {
	cfg = cfg.withDefaults()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.TrailingLogs = cfg.TrailingLogs
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.NoSnapshotRestoreOnStart = true
	rc.ShutdownOnRemove = true
	rc.Logger = logbridge.NewHCLogger(cfg.Logger, "raft")
	rc.LogLevel = rc.Logger.GetLevel().String()
	return rc
}

// snapshotDir is where newSnapshotStore keeps snapshots under a node's
// data directory.
func snapshotDir(dataDir string) string {
	return filepath.Join(dataDir, "raft", "snapshots")
}

// newSnapshotStore opens the snapshot store in <dataDir>/raft/snapshots
// (fsSnapshotStore, on fsys; nil is the operating system's files),
// keeping cfg.SnapshotRetain snapshots and logging through cfg.Logger.
func newSnapshotStore(dataDir string, cfg Config, fsys segmentstore.FS) (*fsSnapshotStore, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newFSSnapshotStore(snapshotDir(dataDir), cfg.SnapshotRetain, fsys, cfg.Logger)
}
