package raftmux_test

import (
	"flag"
	"time"
)

var (
	benchGroups    = flag.Int("groups", 100, "BenchmarkIdleGroups: raft groups, each with a replica on all three nodes")
	benchIdle      = flag.Duration("idle", 10*time.Second, "BenchmarkIdleGroups: how long the groups idle while measured")
	benchHeartbeat = flag.Duration("heartbeat", time.Second, "BenchmarkIdleGroups: raft's HeartbeatTimeout (and ElectionTimeout) of each group")
	benchCommit    = flag.Duration("commit-timeout", 50*time.Millisecond, "BenchmarkIdleGroups: raft's CommitTimeout of each group (an idle leader sends an AppendEntries this often)")
)
