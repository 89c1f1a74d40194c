package client_test

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"actorlog/client"
	"actorlog/node"
	"actorlog/segmentstore"
	"github.com/sirupsen/logrus"
)

// BenchmarkTransportProduceOne compares the two doors of one node (in this
// process, --sync none, so the door and not the disk is measured): one
// 1 KiB record per Produce, one call at a time, through the actor remote
// and through the gRPC Log service. Both clients are connected before the
// timer starts. It reports records/s and the median call latency; the
// sub-benchmarks share the node, so their ratio is what to read, and a CPU
// profile of one shows where that door spends:
//
//	go test -run '^$' -bench 'TransportProduceOne/grpc' -benchtime 3000x -cpuprofile grpc.out ./client/
func BenchmarkTransportProduceOne(b *testing.B) {
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	cfg := node.DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.Bootstrap, cfg.Logger = "bench", b.TempDir(), true, quiet
	cfg.ActorAddr, cfg.HTTPAddr, cfg.RaftAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Storage.Sync = segmentstore.SyncNone
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})
	ready := time.NewTicker(10 * time.Millisecond)
	for n.Ready() != nil {
		select {
		case <-ready.C:
		case <-ctx.Done():
			b.Fatal("the node did not become ready")
		}
	}
	ready.Stop()
	connect := func(b *testing.B, cfg client.Config) *client.Client {
		cfg.Logger = quiet
		c, err := client.New(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	value := benchValues(1)[0]
	run := func(b *testing.B, c *client.Client) {
		// Warm the path (sessions, connections) outside the timer.
		for range 20 {
			if _, err := c.Produce(context.Background(), value); err != nil {
				b.Fatal(err)
			}
		}
		lat := make([]time.Duration, 0, b.N)
		b.SetBytes(benchRecordBytes)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if _, err := c.Produce(context.Background(), value); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		reportRecords(b, int64(b.N))
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "p90-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("actor", func(b *testing.B) {
		run(b, connect(b, client.Config{Servers: []string{n.ActorAddr()}}))
	})
	b.Run("grpc", func(b *testing.B) {
		run(b, connect(b, client.Config{Servers: []string{n.GRPCAddr()}, Transport: client.TransportGRPC}))
	})
}
