package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/client"
	"github.com/spf13/cobra"
)

// Defaults of the bench commands.
const (
	benchDefaultRecords = 100_000
	benchDefaultSize    = 1024
	// benchDefaultBatch and benchDefaultInFlight are the produce shape
	// that reaches the node's throughput: a round trip costs a few hundred
	// microseconds, so records are batched and requests pipelined.
	benchDefaultBatch    = 100
	benchDefaultInFlight = 8
	// benchConsumeBatch is the records asked for by one consume request.
	benchConsumeBatch = 1000
	// benchConsumeMaxBytes caps the bytes of one consume reply, well below
	// the gRPC message limits on both sides.
	benchConsumeMaxBytes = 4 << 20
	// benchConsumeWait lets a read of a record that a follower has not
	// received yet wait for it instead of failing at once.
	benchConsumeWait = time.Second
)

// benchOptions are the flags of bench and its subcommands. Each command
// registers the ones it uses.
type benchOptions struct {
	clientFlags
	records  int
	size     int
	batch    int
	inFlight int
	from     uint64
	prefill  bool
	consume  bool // bench without a subcommand: read the records back
	json     bool
	progress bool
	profiles benchProfiles
}

const benchLong = `bench measures throughput and request latency against running nodes.

  actorlog bench produce   appends --records records of --size bytes, --batch
                           records per request, --inflight requests at once
  actorlog bench consume   reads --records records from offset --from,
                           --batch per request, --inflight readers at once
  actorlog bench           produce, then consume of the records it wrote

Each reports records/s, MB/s (10^6 bytes of record values per second) and
the latency of one request: p50, p90, p99, p99.9 and max, from a histogram
exact to under 1%. A request's latency is measured by the caller, retries
included. With --json the result is one JSON object on stdout instead of
text, for scripts (scripts/bench-compare.sh reads it).

Progress (once a second) goes to stderr when stderr is a terminal, or always
with --progress.

bench writes real records into the log: run it against nodes meant for it.`

func newBenchCommand(logLevel *string) *cobra.Command {
	o := &benchOptions{consume: true}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce and consume throughput and latency against running nodes",
		Long: benchLong + `

Without a subcommand, bench runs produce and then (unless --consume=false)
reads back the records it wrote, from the first of them, ` + fmt.Sprint(benchConsumeBatch) + ` records per
request and one request at a time: --batch and --inflight shape the produce.`,
		Example: `  actorlog bench                                          # 100,000 x 1 KiB, 100 per request, 8 in flight, then read back
  actorlog bench produce --batch 1 --inflight 1 --records 10000   # one record per request, one at a time
  actorlog bench produce --servers 10.0.0.1:7400 --size 128 --records 1000000 --json
  actorlog bench consume --prefill --records 200000       # write 200,000 records untimed, then time reading them
  actorlog bench consume --from 0 --records 100000 --inflight 4`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.runBoth(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.register(cmd, logLevel)
	o.trace.register(cmd.Flags())
	o.registerCommon(cmd, benchDefaultBatch, benchDefaultInFlight,
		"records per produce request",
		"produce requests outstanding at once")
	cmd.Flags().BoolVar(&o.consume, "consume", true, "read the records back afterwards and report the read rate")
	cmd.AddCommand(newBenchProduceCommand(logLevel), newBenchConsumeCommand(logLevel))
	return cmd
}

func newBenchProduceCommand(logLevel *string) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Measure appending records: records/s, MB/s and request latency",
		Long: benchLong + `

produce appends --records records of --size bytes. Workers, --inflight of
them, each send one request of --batch records at a time, so --batch 1
--inflight 1 measures a lone record's round trip and durability (with
"--sync always" on the node, its fsync), and --batch 100 --inflight 8 the
pipelined throughput. Latency is per request, not per record.`,
		Example: `  actorlog bench produce
  actorlog bench produce --size 128 --batch 1 --inflight 1 --records 5000
  actorlog bench produce --records 1000000 --json --progress 2>progress.log`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := o.validate(); err != nil {
				return err
			}
			c, err := o.connectBench(ctx)
			if err != nil {
				return err
			}
			defer o.closeClient(c)
			res, err := o.runProduce(ctx, c, cmd.ErrOrStderr(), "produce")
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), res)
		},
	}
	o.register(cmd, logLevel)
	o.trace.register(cmd.Flags())
	o.registerCommon(cmd, benchDefaultBatch, benchDefaultInFlight,
		"records per produce request",
		"produce requests outstanding at once")
	return cmd
}

func newBenchConsumeCommand(logLevel *string) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Measure reading records by offset: records/s, MB/s and request latency",
		Long: benchLong + `

consume reads the --records records that start at offset --from. The range
is cut into --inflight contiguous parts read at the same time, each with
requests of up to --batch records (and at most 4 MiB). Records must exist:
reading past the end of the log fails. With --prefill it first appends
--records records of --size bytes (100 per request, 8 in flight, not timed)
and reads those, which measures reading records the node has just written
and still holds in the page cache.

In a cluster the reads go to the followers, as the client spreads them.`,
		Example: `  actorlog bench consume --prefill --records 200000 --size 1024
  actorlog bench consume --from 0 --records 1000000 --inflight 4 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := o.validate(); err != nil {
				return err
			}
			c, err := o.connectBench(ctx)
			if err != nil {
				return err
			}
			defer o.closeClient(c)
			from := o.from
			if o.prefill {
				pre := *o
				pre.batch, pre.inFlight = benchDefaultBatch, benchDefaultInFlight
				res, err := pre.runProduce(ctx, c, cmd.ErrOrStderr(), "prefill")
				if err != nil {
					return err
				}
				from = res.FirstOffset
			}
			res, err := o.runConsume(ctx, c, cmd.ErrOrStderr(), from)
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), res)
		},
	}
	o.register(cmd, logLevel)
	o.trace.register(cmd.Flags())
	o.registerCommon(cmd, benchConsumeBatch, 1,
		"records asked for by one consume request",
		"readers at once, each reading its own part of the range")
	f := cmd.Flags()
	f.Uint64Var(&o.from, "from", 0, "offset of the first record to read (ignored with --prefill)")
	f.BoolVar(&o.prefill, "prefill", false, "append --records records of --size bytes first (not timed) and read those")
	return cmd
}

// registerCommon adds the flags every bench command has.
func (o *benchOptions) registerCommon(cmd *cobra.Command, batch, inFlight int, batchUsage, inFlightUsage string) {
	f := cmd.Flags()
	f.IntVar(&o.records, "records", benchDefaultRecords, "records to write or read")
	f.IntVar(&o.size, "size", benchDefaultSize, "bytes per record value")
	f.IntVar(&o.batch, "batch", batch, batchUsage)
	f.IntVar(&o.inFlight, "inflight", inFlight, inFlightUsage)
	f.IntVar(&o.inFlight, "in-flight", inFlight, "the same as --inflight")
	_ = f.MarkHidden("in-flight")
	f.BoolVar(&o.json, "json", false, "print the result as one JSON object on stdout instead of text")
	f.BoolVar(&o.progress, "progress", false, "print progress to stderr once a second even when stderr is not a terminal")
	o.profiles.register(cmd)
	// Every bench command profiles its whole run when asked to.
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) (err error) {
		stop, err := o.profiles.start()
		if err != nil {
			return &usageError{err}
		}
		defer func() { err = errors.Join(err, stop()) }()
		return run(cmd, args)
	}
}

func (o *benchOptions) validate() error {
	switch {
	case o.records < 1:
		return &usageError{fmt.Errorf("--records must be at least 1, got %d", o.records)}
	case o.size < 0:
		return &usageError{fmt.Errorf("--size must not be negative, got %d", o.size)}
	case o.batch < 1:
		return &usageError{fmt.Errorf("--batch must be at least 1, got %d", o.batch)}
	case o.inFlight < 1:
		return &usageError{fmt.Errorf("--inflight must be at least 1, got %d", o.inFlight)}
	}
	return nil
}

// connectBench connects like the other client commands, with enough
// produce lanes in the client for --inflight concurrent requests.
func (o *benchOptions) connectBench(ctx context.Context) (*client.Client, error) {
	if o.timeout <= 0 {
		return nil, &usageError{fmt.Errorf("--timeout must be positive, got %s", o.timeout)}
	}
	log, err := newLogger(*o.logLevel, "error")
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsConfig(o.tls)
	if err != nil {
		return nil, err
	}
	cfg := client.DefaultConfig()
	cfg.TLS = tlsCfg
	cfg.Servers = o.serverList()
	cfg.Consul = o.consulAddr
	if err := o.applyTransport(&cfg); err != nil {
		return nil, err
	}
	cfg.Timeout = o.timeout
	cfg.AttemptTimeout = min(cfg.AttemptTimeout, o.timeout)
	cfg.MaxInFlight = max(cfg.MaxInFlight, o.inFlight, benchDefaultInFlight)
	cfg.Logger = log
	if err := o.setupTracing(&cfg); err != nil {
		return nil, err
	}
	if cfg.Consul == "" {
		if err := cfg.Validate(); err != nil {
			return nil, &usageError{fmt.Errorf("--servers: %w", err)}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, err := client.New(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %v: %w", cfg.Servers, err)
	}
	return c, nil
}

// runBoth is bench without a subcommand: produce, then read back.
func (o *benchOptions) runBoth(ctx context.Context, out, errOut io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	c, err := o.connectBench(ctx)
	if err != nil {
		return err
	}
	defer o.closeClient(c)
	prod, err := o.runProduce(ctx, c, errOut, "produce")
	if err != nil {
		return err
	}
	if !o.consume {
		return o.print(out, prod)
	}
	if !o.json {
		if err := o.print(out, prod); err != nil {
			return err
		}
	}
	// Other producers may have interleaved: read the whole range from the
	// first offset written, the same number of records.
	rd := *o
	rd.batch, rd.inFlight = benchConsumeBatch, 1
	cons, err := rd.runConsume(ctx, c, errOut, prod.FirstOffset)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(out, struct {
			Produce *benchResult `json:"produce"`
			Consume *benchResult `json:"consume"`
		}{prod, cons})
	}
	return o.print(out, cons)
}

// runProduce appends o.records records and measures it. label names the
// phase in progress lines.
func (o *benchOptions) runProduce(ctx context.Context, c *client.Client, errOut io.Writer, label string) (*benchResult, error) {
	vals := make([][]byte, o.batch)
	for i := range vals {
		vals[i] = make([]byte, o.size)
		for j := range vals[i] {
			vals[i][j] = byte('a' + (i+j)%26)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		next   atomic.Int64 // records claimed by workers
		done   atomic.Int64 // records acknowledged
		mu     sync.Mutex   // guards hist, first, failed
		hist   latencyHistogram
		first  = ^uint64(0)
		failed error
		wg     sync.WaitGroup
	)
	// Write amplification is measured on the run proper, not on a prefill.
	var diskBefore diskSample
	var diskNote string
	tlsCfg, _ := tlsConfig(o.tls) // loaded once already by connectBench
	if label == "produce" {
		var err error
		if diskBefore, err = sampleDisk(ctx, c, tlsCfg); err != nil {
			diskNote = err.Error()
		}
	}
	stopProgress := o.startProgress(ctx, errOut, label, int64(o.records), &done)
	start := time.Now()
	for range o.inFlight {
		wg.Go(func() {
			for {
				end := next.Add(int64(o.batch))
				n := min(int64(o.batch), int64(o.records)-(end-int64(o.batch)))
				if n <= 0 || ctx.Err() != nil {
					return
				}
				opCtx, opCancel := o.opContext(ctx)
				t := time.Now()
				offs, err := c.Produce(opCtx, vals[:n]...)
				d := time.Since(t)
				opCancel()
				mu.Lock()
				if err != nil {
					if failed == nil && ctx.Err() == nil {
						failed = err
						cancel()
					}
					mu.Unlock()
					return
				}
				hist.record(d)
				first = min(first, slices.Min(offs))
				mu.Unlock()
				done.Add(n)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	if failed != nil {
		return nil, fmt.Errorf("bench %s: %w", label, failed)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("bench %s: interrupted after %d of %d records", label, done.Load(), o.records)
	}
	res := o.result("produce", elapsed, int64(o.records), int64(o.records)*int64(o.size), &hist)
	res.FirstOffset = first
	res.RecordBytes = o.size
	if label == "produce" {
		if diskNote == "" {
			after, err := settledDisk(ctx, c, tlsCfg)
			if err != nil {
				diskNote = err.Error()
			} else {
				res.DiskWrites = diskWrites(diskBefore, after, int64(o.records))
			}
		}
		res.diskNote = diskNote
	}
	return res, nil
}

// runConsume reads o.records records from offset from and measures it.
func (o *benchOptions) runConsume(ctx context.Context, c *client.Client, errOut io.Writer, from uint64) (*benchResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		done   atomic.Int64 // records read
		bytes  atomic.Int64 // value bytes read
		mu     sync.Mutex   // guards hist, failed
		hist   latencyHistogram
		failed error
		wg     sync.WaitGroup
	)
	readers := min(o.inFlight, o.records)
	stopProgress := o.startProgress(ctx, errOut, "consume", int64(o.records), &done)
	start := time.Now()
	for _, part := range splitRange(from, uint64(o.records), readers) {
		wg.Go(func() {
			off, end := part[0], part[1]
			for off < end && ctx.Err() == nil {
				want := min(uint64(o.batch), end-off)
				opCtx, opCancel := o.opContext(ctx)
				t := time.Now()
				res, err := c.Consume(opCtx, off, client.ConsumeOptions{
					MaxRecords: uint32(min(want, 1<<31)),
					MaxBytes:   benchConsumeMaxBytes,
					Wait:       benchConsumeWait,
				})
				d := time.Since(t)
				opCancel()
				if err == nil && len(res.Records) == 0 {
					err = fmt.Errorf("no record at offset %d within %s: the log ends at offset %d (produce first, or use --prefill)",
						off, benchConsumeWait, res.NextOffset)
				}
				mu.Lock()
				if err != nil {
					if failed == nil && ctx.Err() == nil {
						failed = err
						cancel()
					}
					mu.Unlock()
					return
				}
				hist.record(d)
				mu.Unlock()
				n := uint64(0)
				var b int64
				for _, r := range res.Records {
					if r.Offset >= end {
						break
					}
					n++
					b += int64(len(r.Value))
				}
				if n == 0 {
					mu.Lock()
					if failed == nil && ctx.Err() == nil {
						failed = fmt.Errorf("offset %d: next record is %d, past the range read (records deleted?)", off, res.Records[0].Offset)
						cancel()
					}
					mu.Unlock()
					return
				}
				done.Add(int64(n))
				bytes.Add(b)
				off = res.Records[n-1].Offset + 1
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	if failed != nil {
		return nil, fmt.Errorf("bench consume: %w", failed)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("bench consume: interrupted after %d of %d records", done.Load(), o.records)
	}
	res := o.result("consume", elapsed, done.Load(), bytes.Load(), &hist)
	res.FirstOffset = from
	return res, nil
}

// splitRange cuts [from, from+n) into parts contiguous ranges, as even as
// possible, each given as {start, end}.
func splitRange(from, n uint64, parts int) [][2]uint64 {
	parts = max(1, min(parts, int(min(n, 1<<20))))
	out := make([][2]uint64, 0, parts)
	at := from
	for i := range parts {
		size := n / uint64(parts)
		if uint64(i) < n%uint64(parts) {
			size++
		}
		out = append(out, [2]uint64{at, at + size})
		at += size
	}
	return out
}
