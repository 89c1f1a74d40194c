package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/client"
	"github.com/spf13/cobra"
)

type benchOptions struct {
	clientFlags
	records  int
	size     int
	batch    int
	inFlight int
	consume  bool
}

func newBenchCommand(logLevel *string) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce and consume throughput and latency against running nodes",
		Long: `bench appends --records records of --size bytes, --batch per produce request
with --in-flight requests outstanding, and reports records/s, MB/s and the
latency of a request (p50, p99, max). With --consume (the default) it then
reads the records back from the first one it wrote and reports the read rate.

It writes real records into the log: run it against a node meant for it.`,
		Example: `  actorlog bench                                   # 100,000 x 1 KiB, 100 per request, 8 in flight
  actorlog bench --batch 1 --in-flight 1 --records 10000   # one record per request, one at a time
  actorlog bench --servers 10.0.0.1:7400 --size 128 --records 1000000`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	o.register(cmd, logLevel)
	f := cmd.Flags()
	f.IntVar(&o.records, "records", 100_000, "records to produce")
	f.IntVar(&o.size, "size", 1024, "bytes per record value")
	f.IntVar(&o.batch, "batch", 100, "records per produce request")
	f.IntVar(&o.inFlight, "in-flight", 8, "produce requests outstanding at once")
	f.BoolVar(&o.consume, "consume", true, "read the records back afterwards and report the read rate")
	return cmd
}

func (o *benchOptions) run(ctx context.Context, out io.Writer) error {
	switch {
	case o.records < 1:
		return &usageError{fmt.Errorf("--records must be at least 1, got %d", o.records)}
	case o.size < 0:
		return &usageError{fmt.Errorf("--size must not be negative, got %d", o.size)}
	case o.batch < 1:
		return &usageError{fmt.Errorf("--batch must be at least 1, got %d", o.batch)}
	case o.inFlight < 1:
		return &usageError{fmt.Errorf("--in-flight must be at least 1, got %d", o.inFlight)}
	}
	c, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	vals := make([][]byte, o.batch)
	for i := range vals {
		vals[i] = make([]byte, o.size)
		for j := range vals[i] {
			vals[i][j] = byte('a' + (i+j)%26)
		}
	}

	var (
		next      atomic.Int64 // records claimed by workers
		mu        sync.Mutex
		latencies []time.Duration
		first     = ^uint64(0)
		failed    error
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range o.inFlight {
		wg.Go(func() {
			for {
				end := next.Add(int64(o.batch))
				n := min(int64(o.batch), int64(o.records)-(end-int64(o.batch)))
				if n <= 0 || ctx.Err() != nil {
					return
				}
				opCtx, cancel := o.opContext(ctx)
				t := time.Now()
				offs, err := c.Produce(opCtx, vals[:n]...)
				d := time.Since(t)
				cancel()
				mu.Lock()
				if err != nil {
					if failed == nil {
						failed = err
					}
					mu.Unlock()
					return
				}
				latencies = append(latencies, d)
				first = min(first, slices.Min(offs))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed != nil {
		return fmt.Errorf("bench: %w", failed)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("bench: interrupted")
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	bytes := float64(o.records) * float64(o.size)
	fmt.Fprintf(out, "produce: %d records of %d B in %s: %.0f records/s, %.1f MB/s; request latency p50 %s p99 %s max %s (%d requests, %d per request, %d in flight)\n",
		o.records, o.size, elapsed.Round(time.Millisecond), float64(o.records)/elapsed.Seconds(), bytes/elapsed.Seconds()/1e6,
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), latencies[len(latencies)-1].Round(time.Microsecond),
		len(latencies), o.batch, o.inFlight)

	if !o.consume {
		return nil
	}
	// Other producers may have interleaved: read the whole range from the
	// first offset written, the same number of records.
	start = time.Now()
	read, off := 0, first
	for read < o.records {
		opCtx, cancel := o.opContext(ctx)
		res, err := c.Consume(opCtx, off, client.ConsumeOptions{MaxRecords: 1000, MaxBytes: 4 << 20})
		cancel()
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if len(res.Records) == 0 {
			break
		}
		read += len(res.Records)
		off = res.Records[len(res.Records)-1].Offset + 1
	}
	elapsed = time.Since(start)
	fmt.Fprintf(out, "consume: %d records in %s: %.0f records/s, %.1f MB/s\n",
		read, elapsed.Round(time.Millisecond), float64(read)/elapsed.Seconds(), float64(read)*float64(o.size)/elapsed.Seconds()/1e6)
	return nil
}
