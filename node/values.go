package node

import "actorlog/actors"

// recordLogStorage is the record log's storage configuration: the node's,
// except that under --sync always in data format 2 the record log is
// fsynced every SyncInterval instead of on every append.
//
// An acknowledged record must survive a power loss under "always". In
// format 2 the raft log holds its value, fsynced on a majority before the
// entry commits, and the record log holds only its offset and a reference
// to that entry. A reference the power loss takes is written again when
// raft replays the entry at start: the FSM's state file never claims more
// of the record log than was fsynced (it syncs the log first), and replay
// appends every offset from the record log's end (docs/DESIGN.md,
// invariant 4). What makes the relaxed fsync safe is that a power loss can
// only cut the record log, never punch a hole in it: the segments' recovery
// point marks where the store was last fsynced, and damage after it is
// cut as a torn tail, so the log keeps a prefix for replay to extend. So
// one produce waits for one fsync, the raft log's, as in a broker with a
// single log.
//
// Format 1 keeps fsyncing both: there the record log holds the values, and
// raft compacts its log after a snapshot without asking the record log.
func recordLogStorage(st actors.StorageConfig, format int) actors.StorageConfig {
	if format >= DataFormat2 && st.Sync == actors.SyncAlways {
		st.Sync = actors.SyncInterval
		if st.SyncInterval <= 0 {
			st.SyncInterval = actors.DefaultSyncInterval
		}
	}
	return st
}
