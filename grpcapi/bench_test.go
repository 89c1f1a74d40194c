package grpcapi_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"actorlog/messages"
	"actorlog/node"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkConsumeStreamSlowReader measures what a reader that stops
// reading costs: a node (in this process) holds a log of logMiB, a
// ConsumeStream from offset 0 takes its first response and then reads
// nothing, and the heap in use is compared with the heap before the
// stream opened. The node may hold at most its stream credit (records)
// plus gRPC's flow-control windows, however large the log; the reader's
// own receive buffers count too, since it runs in the same process.
//
//	go test -run '^$' -bench SlowReader -benchtime 1x ./grpcapi
func BenchmarkConsumeStreamSlowReader(b *testing.B) {
	for _, logMiB := range []int{16, 128} {
		b.Run(fmt.Sprintf("log=%dMiB", logMiB), func(b *testing.B) { benchSlowReader(b, logMiB) })
	}
}

func benchSlowReader(b *testing.B, logMiB int) {
	const (
		recordBytes = 4 << 10
		perRequest  = 200
	)
	logger := logrus.New()
	logger.SetLevel(logrus.ErrorLevel)
	cfg := node.DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.Bootstrap, cfg.Logger = "bench", b.TempDir(), true, logger
	cfg.ActorAddr, cfg.HTTPAddr, cfg.RaftAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = n.Stop(context.Background()) }()
	// Poll readiness on a ticker, bounded by ctx.
	ready := time.NewTicker(10 * time.Millisecond)
	for n.Ready() != nil {
		select {
		case <-ready.C:
		case <-ctx.Done():
			b.Fatal("the node did not become ready")
		}
	}
	ready.Stop()
	conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	log := messages.NewLogClient(conn)
	value := make([]byte, recordBytes)
	total := logMiB << 20 / recordBytes
	for sent := 0; sent < total; sent += perRequest {
		recs := make([]*messages.Record, perRequest)
		for i := range recs {
			recs[i] = &messages.Record{Value: value}
		}
		if _, err := log.Produce(ctx, &messages.ProduceRequest{Records: recs}); err != nil {
			b.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := heap()
		sctx, scancel := context.WithCancel(ctx)
		stream, err := log.ConsumeStream(sctx, &messages.ConsumeStreamRequest{Offset: 0})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			b.Fatal(err)
		}
		// Let the node push until flow control and credit stop it.
		// The measurement itself: sample the heap every 100 ms for 2 s.
		var held uint64
		sample := time.NewTicker(100 * time.Millisecond)
		for range 20 {
			<-sample.C
			held = max(held, heap()-min(heap(), before))
		}
		sample.Stop()
		scancel()
		b.ReportMetric(float64(held)/(1<<20), "held-MiB")
		b.ReportMetric(float64(logMiB), "log-MiB")
		fmt.Fprintf(b.Output(), "log %d MiB of %d B records; heap held by a stream that stopped reading: %.1f MiB\n", logMiB, recordBytes, float64(held)/(1<<20))
	}
}
