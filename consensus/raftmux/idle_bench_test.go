package raftmux_test

import (
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	. "github.com/onsi/gomega"

	"actorlog/consensus/raftmux"
)

// BenchmarkIdleGroups measures what idle raft groups cost: three nodes in
// this process, each with -groups replicas (one raft group each, every
// group on all three nodes) over one Mux per node, do nothing for
// -idle seconds once every group has a leader. It reports the CPU time
// of the process per node as a share of one core.
//
//	go test -run '^$' -bench IdleGroups -benchtime 1x ./consensus/raftmux/ -args -groups 100 -commit-timeout 1s
func BenchmarkIdleGroups(b *testing.B) {
	for i := 0; i < b.N; i++ {
		idleGroups(b, *benchGroups, *benchIdle, *benchHeartbeat, *benchCommit)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func idleGroups(b *testing.B, groups int, idle, heartbeat, commit time.Duration) {
	const nodes = 3
	var muxes []*raftmux.Mux
	for i := 0; i < nodes; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		m, err := raftmux.New(raftmux.Config{Listener: ln})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		muxes = append(muxes, m)
	}
	var all []*raft.Raft
	for g := 0; g < groups; g++ {
		var conf raft.Configuration
		for i, m := range muxes {
			conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: raft.ServerAddress(m.Addr().String())})
		}
		for i, m := range muxes {
			layer, err := m.Group(fmt.Sprint("idle/", g))
			if err != nil {
				b.Fatal(err)
			}
			trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: layer, MaxPool: 2, Timeout: 10 * time.Second})
			defer trans.Close()
			cfg := raft.DefaultConfig()
			cfg.LocalID = raft.ServerID(fmt.Sprint("n", i))
			cfg.HeartbeatTimeout, cfg.ElectionTimeout = heartbeat, heartbeat
			cfg.LeaderLeaseTimeout = heartbeat / 2
			cfg.CommitTimeout = commit
			cfg.LogOutput = io.Discard
			store := raft.NewInmemStore()
			snaps := raft.NewInmemSnapshotStore()
			if err := raft.BootstrapCluster(cfg, store, store, snaps, trans, conf); err != nil {
				b.Fatal(err)
			}
			r, err := raft.NewRaft(cfg, &countFSM{}, store, store, snaps, trans)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = r.Shutdown().Error() }()
			all = append(all, r)
		}
	}
	NewWithT(b).Eventually(func() (leaders int) {
		for _, r := range all {
			if r.State() == raft.Leader {
				leaders++
			}
		}
		return leaders
	}, 2*time.Minute, 100*time.Millisecond).Should(Equal(groups), "every group elects a leader")
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	// The measurement is this interval itself, with the groups left alone.
	<-time.After(idle)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	b.StopTimer()
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds()/nodes, "%core/node")
	b.ReportMetric(float64(groups), "groups")
}
