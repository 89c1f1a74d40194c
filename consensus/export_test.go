package consensus

// The package's own specs (package consensus_test) drive the pieces that a
// Peer assembles one by one; these names let them.

var (
	NewSnapshotStore    = newSnapshotStore
	NewFSSnapshotStore  = newFSSnapshotStore
	OpenFileStableStore = openFileStableStore
	NewLogCache         = newLogCache
	OpenSegmentLogStore = openSegmentLogStore
	OpenStores          = openStores
	RaftConfig          = raftConfig
	NewTCPTransport     = newTCPTransport
	NewFSM              = newFSM
)

type FSSnapshotStore = fsSnapshotStore

const StateFileName = stateFileName
