package client_test

import (
	"context"
	"flag"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"actorlog/client"
	"actorlog/node"
	"actorlog/segmentstore"
	"actorlog/tracing"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"
)

// The benchmarks run a real node in this process on a temporary directory
// (fsync policy from -bench.sync, the default "interval" otherwise) and a
// client talking to it over loopback; both share the machine's cores. Each reports records/s and, through SetBytes, MB/s of
// record values.

const benchRecordBytes = 1 << 10

// benchSync is the node's fsync policy in the benchmarks:
//
//	go test -run '^$' -bench . ./client/ -args -bench.sync=always
var benchSync = flag.String("bench.sync", "interval", "fsync policy of the benchmark node: none, interval or always")

// benchTrace traces every request in the client and the node, exporting
// the spans (as JSON, discarded) in the background, to measure what
// tracing costs:
//
//	go test -run '^$' -bench Produce ./client/ -args -bench.trace
var benchTrace = flag.Bool("bench.trace", false, "trace every request in the benchmark client and node")

func benchSetup(b *testing.B) *client.Client {
	b.Helper()
	// Connection churn at shutdown is logged as errors by protoactor; the
	// numbers are what matters here.
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	cfg := node.DefaultConfig()
	cfg.ID = "bench"
	cfg.DataDir = b.TempDir()
	cfg.ActorAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.Bootstrap = true
	cfg.Logger = quiet
	sync, err := segmentstore.ParseSyncPolicy(*benchSync)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Storage.Sync = sync
	var tp trace.TracerProvider
	if *benchTrace {
		p, shutdown, err := tracing.Setup(tracing.Config{Exporter: tracing.ExporterStdout, Stdout: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = shutdown(context.Background()) })
		tp, cfg.TracerProvider = p, p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
	c, err := client.New(ctx, client.Config{Servers: []string{n.ActorAddr()}, Logger: quiet, TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func benchValues(n int) [][]byte {
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = make([]byte, benchRecordBytes)
		for j := range vals[i] {
			vals[i][j] = byte(i + j)
		}
	}
	return vals
}

func reportRecords(b *testing.B, records int64) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// produceConcurrently runs b.N records through Produce calls of batch records
// each, with workers calls in flight.
func produceConcurrently(b *testing.B, batch, workers int) {
	c := benchSetup(b)
	vals := benchValues(batch)
	b.SetBytes(benchRecordBytes) // per record: b.N counts records
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				n := min(left.Add(-int64(batch))+int64(batch), int64(batch))
				if n <= 0 {
					return
				}
				if _, err := c.Produce(context.Background(), vals[:n]...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportRecords(b, int64(b.N))
}

// BenchmarkProduceBatched: 100 records of 1 KiB per request, 8 requests in
// flight (the client's default MaxInFlight).
func BenchmarkProduceBatched(b *testing.B) { produceConcurrently(b, 100, 8) }

// BenchmarkProduceSingleSequential: one 1 KiB record per request, one request
// at a time: the latency-bound floor.
func BenchmarkProduceSingleSequential(b *testing.B) { produceConcurrently(b, 1, 1) }

// BenchmarkProduceSingleConcurrent: one 1 KiB record per request, 8 requests
// in flight.
func BenchmarkProduceSingleConcurrent(b *testing.B) { produceConcurrently(b, 1, 8) }

// BenchmarkConsume reads b.N 1 KiB records sequentially, up to 1000 per
// request, from a log filled beforehand.
func BenchmarkConsume(b *testing.B) {
	c := benchSetup(b)
	vals := benchValues(1000)
	for n := 0; n < b.N; n += len(vals) {
		if _, err := c.Produce(context.Background(), vals[:min(len(vals), b.N-n)]...); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchRecordBytes)
	b.ResetTimer()
	next := uint64(0)
	for next < uint64(b.N) {
		res, err := c.Consume(context.Background(), next, client.ConsumeOptions{MaxRecords: 1000, MaxBytes: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		next = res.Records[len(res.Records)-1].Offset + 1
	}
	b.StopTimer()
	reportRecords(b, int64(b.N))
}

// BenchmarkSubscribe streams b.N 1 KiB records through a subscription with
// the default buffer, from a log filled beforehand.
func BenchmarkSubscribe(b *testing.B) {
	c := benchSetup(b)
	vals := benchValues(1000)
	for n := 0; n < b.N; n += len(vals) {
		if _, err := c.Produce(context.Background(), vals[:min(len(vals), b.N-n)]...); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchRecordBytes)
	b.ResetTimer()
	sub, err := c.Subscribe(context.Background(), 0, client.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	for i := 0; i < b.N; i++ {
		if _, err := sub.Next(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRecords(b, int64(b.N))
}
