package node

import "sync/atomic"

// diskWrites counts the bytes a node writes to disk, by what they hold:
// the record log, the raft log, raft snapshots and the FSM's state files
// (actorlog_disk_write_bytes_total). Divided by the records acknowledged,
// it is the node's write amplification, which `actorlog bench` reports.
type diskWrites struct {
	records, raft, snapshots, state atomic.Uint64
}
