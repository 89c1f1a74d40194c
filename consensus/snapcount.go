package consensus

import (
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// countWrites wraps a snapshot store so that n counts every byte written
// into its snapshots, the ones this node takes and the ones it installs
// from a leader alike.
func countWrites(store raft.SnapshotStore, n *atomic.Uint64) raft.SnapshotStore {
	return &countingSnapshots{SnapshotStore: store, n: n}
}

type countingSnapshots struct {
	raft.SnapshotStore
	n *atomic.Uint64
}

func (c *countingSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := c.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &countingSink{SnapshotSink: sink, n: c.n}, nil
}

type countingSink struct {
	raft.SnapshotSink
	n *atomic.Uint64
}

func (s *countingSink) Write(p []byte) (int, error) {
	k, err := s.SnapshotSink.Write(p)
	s.n.Add(uint64(k))
	return k, err
}
