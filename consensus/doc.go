// Package consensus is the glue between hashicorp/raft and actorlog's
// storage: the finite state machine that applies committed produce batches,
// the raft log and stable stores, the transport, and snapshots.
package consensus
