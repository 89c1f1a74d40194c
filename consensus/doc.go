// Package consensus is the glue between hashicorp/raft and actorlog's
// storage: the finite state machine that applies committed produce batches,
// the raft log and stable stores, the transport, and snapshots.
//
// # What it owns
//
// Everything raft needs besides the FSM, under a node's data directory:
//
//	<dir>/raft/log/        segmentstore segments, one record per raft entry (kind "segmentstore")
//	<dir>/raft/log.meta    the segment log's logical first index
//	<dir>/raft/stable      the stable store (current term, vote)
//	<dir>/raft/wal/        raft-wal segments and its bbolt metadata (kind "wal")
//	<dir>/raft/snapshots/  the snapshot store (in the layout of raft's file store)
//
// A node opens all of it, and raft over it, through one Peer: Open opens
// the log and stable stores (before the record log, which in data format 2
// reads values from the raft log), Start opens the FSM over the record log,
// the snapshot store and the transport and starts raft, and Shutdown and
// Close undo it. The rest of this package is what a Peer assembles.
//
// The log and stable store are of the configured kind, behind a
// LogCache bounded in entries and bytes. Both kinds pass one conformance spec (conformance_test.go),
// which also runs against raft.InmemStore to show the spec itself is right:
// append, get, first and last index, DeleteRange of a prefix and of a
// suffix, reopen after Close, and reopen after a crash. By default every
// StoreLogs is fsynced before it returns, as raft assumes (StoreConfig.Sync
// relaxes that to a write to the operating system); group commit comes from
// raft's BatchApplyCh, which turns many concurrent Applies into one
// StoreLogs.
//
// The Transport is raft's NetworkTransport over this package's stream
// layer, which speaks TLS (for both accepting and dialling) when a
// *tls.Config is given. A Config becomes a raft.Config with defaults
// measured on this project's machines. Logs from raft, its transport and raft-wal go through
// package logbridge to the logrus entry the caller passes in.
//
// # The FSM
//
// FSM applies committed entries (RaftCommand: a produce or a member) through
// a Log, which the node implements with messages to its log actor:
// ApplyBatch turns all the produce entries raft hands it at once into one
// append. It owns idempotent produce (the dedupe table, bounded by producers
// and per-producer window, evicted by raft index so every replica evicts
// the same) and the member table. Replay is idempotent: every record keeps
// its entry's raft index, entries at or below the last record's index are
// not appended again, and entries at or below the index of the state file
// (<dir>/raft/fsm.state, written temp+fsync+rename after a log sync on every
// snapshot) are skipped. A snapshot streams the FSM state and then the
// records; Restore resets the log to the snapshot's low offset and appends
// them. raft must run with NoSnapshotRestoreOnStart.
//
// # What it must never do
//
//   - Write to stdout or stderr: a nil logger discards.
//   - Acknowledge a log write before it is durable.
//   - Serve an entry it cannot prove intact: a damaged record, metadata file
//     or stable store file is reported (ErrCorrupt and the segmentstore's
//     own errors), never guessed around.
//   - Leave a goroutine behind: closing the transport ends every connection
//     it accepted or dialled; closing the stores ends their work.
//
// # Errors
//
// Sentinel errors are declared in errors.go and wrapped with %w; test them
// with errors.Is. Configuration errors are *ConfigError, naming the field.
// raft.ErrLogNotFound is returned as is, because raft compares it directly.
package consensus
