package client_test

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"actorlog/client"
	"actorlog/messages"
	"actorlog/node"
	"actorlog/segmentstore"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkTransportProduceOne compares the two doors of one node (in this
// process, --sync none, so the door and not the disk is measured): one
// 1 KiB record per Produce, one call at a time, through the actor remote
// and through the gRPC Log service with the Go client, and through the
// generated gRPC stub alone, unary and on one long-lived ProduceStream.
// Every client is connected before the timer starts. It reports records/s
// and the call latency's p50, p90 and p99; the sub-benchmarks share the
// node, so their ratios are what to read, and a CPU profile of one shows
// where that door spends:
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
	run := func(b *testing.B, produce func() error) {
		// Warm the path (sessions, connections) outside the timer.
		for range 20 {
			if err := produce(); err != nil {
				b.Fatal(err)
			}
		}
		lat := make([]time.Duration, 0, b.N)
		b.SetBytes(benchRecordBytes)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if err := produce(); err != nil {
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
	viaClient := func(c *client.Client) func() error {
		return func() error {
			_, err := c.Produce(context.Background(), value)
			return err
		}
	}
	b.Run("actor", func(b *testing.B) {
		run(b, viaClient(connect(b, client.Config{Servers: []string{n.ActorAddr()}})))
	})
	b.Run("grpc", func(b *testing.B) {
		run(b, viaClient(connect(b, client.Config{Servers: []string{n.GRPCAddr()}, Transport: client.TransportGRPC})))
	})
	// The generated stub alone, without the client's retries, lanes and
	// producer ids: what the gRPC door costs any program.
	raw := func(b *testing.B) messages.LogClient {
		conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		return messages.NewLogClient(conn)
	}
	req := &messages.ProduceRequest{Records: []*messages.Record{{Value: value}}}
	b.Run("grpc-stub-unary", func(b *testing.B) {
		log := raw(b)
		run(b, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := log.Produce(ctx, req)
			return err
		})
	})
	// One request at a time on one long-lived ProduceStream: no HTTP/2
	// stream per call.
	b.Run("grpc-stub-stream", func(b *testing.B) {
		stream, err := raw(b).ProduceStream(ctx)
		if err != nil {
			b.Fatal(err)
		}
		run(b, func() error {
			if err := stream.Send(req); err != nil {
				return err
			}
			_, err := stream.Recv()
			return err
		})
		_ = stream.CloseSend()
	})
}
