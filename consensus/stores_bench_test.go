package consensus_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"actorlog/consensus"
)

// The benchmarks measure the log stores as raft uses them: every StoreLogs
// is fsynced before it returns. Run with
//
//	go test -run '^$' -bench . -benchtime 2s ./consensus/
//
// Kinds are the innermost sub-benchmark so that the two run back to back
// for each shape: the disk's fsync latency varies several-fold over
// minutes (and with whatever else the machine runs), so compare kinds only
// within one run, and repeat the run rather than use -count, which runs
// one sub-benchmark's repeats back to back.

var benchKinds = []consensus.StoreKind{consensus.StoreWAL, consensus.StoreSegmentstore}

func openBenchStore(b *testing.B, kind consensus.StoreKind, cache int) (raft.LogStore, raft.StableStore) {
	b.Helper()
	logs, stable, closer, err := consensus.OpenStores(b.TempDir(), consensus.StoreConfig{Kind: kind, Cache: cache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = closer.Close() })
	return logs, stable
}

func benchBatch(next uint64, n, size int, data []byte) []*raft.Log {
	batch := make([]*raft.Log, n)
	now := time.Now()
	for i := range batch {
		batch[i] = &raft.Log{Index: next + uint64(i), Term: 1, Type: raft.LogCommand, Data: data[:size], AppendedAt: now}
	}
	return batch
}

// BenchmarkStoreLogs appends batches to the raw store (no LogCache).
func BenchmarkStoreLogs(b *testing.B) {
	shapes := []struct{ entries, size int }{
		{1, 1 << 10},
		{64, 1 << 10},
		{256, 1 << 10},
		{1, 100 << 10}, // a produce batch of 100 × 1 KiB records in one entry
	}
	data := make([]byte, 100<<10)
	for i := range data {
		data[i] = byte(i)
	}
	for _, s := range shapes {
		for _, kind := range benchKinds {
			b.Run(fmt.Sprintf("batch=%dx%dKiB/kind=%s", s.entries, s.size>>10, kind), func(b *testing.B) {
				logs, _ := openBenchStore(b, kind, -1)
				next := uint64(1)
				b.SetBytes(int64(s.entries * s.size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := logs.StoreLogs(benchBatch(next, s.entries, s.size, data)); err != nil {
						b.Fatal(err)
					}
					next += uint64(s.entries)
				}
				b.ReportMetric(float64(b.N*s.entries)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// BenchmarkGetLog reads random entries of a 20,000-entry log from the raw
// store, as raft does for a follower that fell out of the LogCache.
func BenchmarkGetLog(b *testing.B) {
	const n = 20_000
	data := make([]byte, 1<<10)
	for _, kind := range benchKinds {
		b.Run(fmt.Sprintf("1KiB/kind=%s", kind), func(b *testing.B) {
			logs, _ := openBenchStore(b, kind, -1)
			for next := uint64(1); next <= n; next += 256 {
				if err := logs.StoreLogs(benchBatch(next, 256, len(data), data)); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var out raft.Log
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := logs.GetLog(1+rng.Uint64N(n), &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type discardFSM struct{}

func (discardFSM) Apply(*raft.Log) interface{}         { return nil }
func (discardFSM) Snapshot() (raft.FSMSnapshot, error) { return noopSnapshot{}, nil }
func (discardFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

// BenchmarkRaftApply drives real raft servers on each store kind (behind
// the default LogCache) with 256 concurrent Apply calls of 1 KiB, which is
// how the produce path group-commits: R1 is one server, R3 three servers
// over TCP on loopback, all sharing this machine's disk and two cores.
func BenchmarkRaftApply(b *testing.B) {
	const concurrency = 256
	data := make([]byte, 1<<10)
	for _, replicas := range []int{1, 3} {
		for _, kind := range benchKinds {
			b.Run(fmt.Sprintf("R%d/kind=%s", replicas, kind), func(b *testing.B) {
				leader := startBenchCluster(b, kind, replicas)
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, concurrency)
				b.SetBytes(int64(len(data)))
				b.ResetTimer()
				for g := 0; g < concurrency; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := leader.Apply(data, 10*time.Second).Error(); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

func startBenchCluster(b *testing.B, kind consensus.StoreKind, replicas int) *raft.Raft {
	b.Helper()
	// Production timeouts: the benchmark saturates both cores, and the
	// loopback preset's shorter lease lost leadership mid-run.
	cfg := consensus.DefaultConfig()
	var (
		nodes   []*raft.Raft
		servers []raft.Server
	)
	for i := 0; i < replicas; i++ {
		id := fmt.Sprintf("n%d", i)
		dir := b.TempDir()
		logs, stable, closer, err := consensus.OpenStores(dir, consensus.StoreConfig{Kind: kind})
		if err != nil {
			b.Fatal(err)
		}
		snaps, err := consensus.NewSnapshotStore(dir, cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		trans, err := consensus.NewTCPTransport("127.0.0.1:0", nil, consensus.TransportConfig{})
		if err != nil {
			b.Fatal(err)
		}
		r, err := raft.NewRaft(consensus.RaftConfig(id, cfg), discardFSM{}, logs, stable, snaps, trans)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = r.Shutdown().Error()
			_ = closer.Close()
		})
		nodes = append(nodes, r)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: trans.LocalAddr()})
	}
	if err := nodes[0].BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.State() == raft.Leader {
				// Let every follower catch up before timing starts.
				if err := n.Barrier(10 * time.Second).Error(); err != nil {
					b.Fatal(err)
				}
				return n
			}
		}
		<-time.After(10 * time.Millisecond)
	}
	b.Fatal("no leader within 30s")
	return nil
}
