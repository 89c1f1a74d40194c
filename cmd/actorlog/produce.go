package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"actorlog/client"
	"github.com/spf13/cobra"
)

type produceOptions struct {
	clientFlags
	batch    int
	inFlight int
	quiet    bool
}

func newProduceCommand(logLevel *string) *cobra.Command {
	o := &produceOptions{}
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Append one record per line of standard input and print their offsets",
		Long: `produce reads standard input line by line and appends each line (without its
newline) as one record. It prints the offset of every record, one per line and
in input order, as soon as the node has acknowledged it; an empty line is an
empty record.

Lines are sent --batch at a time, with up to --in-flight requests outstanding.
Each request is retried within --timeout, with the same producer id and
sequence number, so the node does not append a retried request twice. On a
failure produce stops reading and exits with status 1: every offset printed
was acknowledged, and no line after the first unacknowledged one is printed
(those lines may or may not be stored). A summary goes to standard error.`,
		Example: `  seq 1 100000 | actorlog produce --batch 500 > offsets.txt
  echo hello | actorlog produce --servers 10.0.0.1:7400,10.0.0.2:7400
  actorlog produce --batch 1 < events.log   # one request per record`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.register(cmd, logLevel)
	o.trace.register(cmd.Flags())
	cmd.Flags().IntVar(&o.batch, "batch", 100, "records per produce request")
	cmd.Flags().IntVar(&o.inFlight, "in-flight", 4, "produce requests outstanding at once")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "print no summary on standard error")
	return cmd
}

// produceJob is one batch of lines on its way to the node; its result is read
// in submission order, so offsets are printed in input order.
type produceJob struct {
	values  [][]byte
	offsets []uint64
	err     error
	done    chan struct{}
}

func (o *produceOptions) run(ctx context.Context, in io.Reader, out, errOut io.Writer) error {
	if o.batch < 1 {
		return &usageError{fmt.Errorf("--batch must be at least 1, got %d", o.batch)}
	}
	if o.inFlight < 1 {
		return &usageError{fmt.Errorf("--in-flight must be at least 1, got %d", o.inFlight)}
	}
	c, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer o.closeClient(c)

	start := time.Now()
	// stop ends reading when a request failed or a signal came; what is in
	// flight still completes and is printed, in order, up to the failure.
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	queue := make(chan *produceJob, o.inFlight)
	// slots bounds the requests outstanding; a slot is given back once the
	// job's offsets are printed.
	slots := make(chan struct{}, o.inFlight)
	var readErr error
	go func() {
		defer close(queue)
		r := bufio.NewReaderSize(in, 1<<20)
		batch := make([][]byte, 0, o.batch)
		submit := func() bool {
			job := &produceJob{values: batch, done: make(chan struct{})}
			batch = make([][]byte, 0, o.batch)
			select {
			case slots <- struct{}{}:
			case <-readCtx.Done():
				return false
			}
			queue <- job
			go func() {
				defer close(job.done)
				// The operation deadline is not tied to readCtx: a batch
				// already sent is waited for even after a stop, so its
				// offsets are not lost from the output.
				opCtx, cancel := o.opContext(context.WithoutCancel(ctx))
				defer cancel()
				job.offsets, job.err = c.Produce(opCtx, job.values...)
			}()
			return true
		}
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				if line[len(line)-1] == '\n' {
					line = line[:len(line)-1]
				}
				batch = append(batch, line)
			}
			if len(batch) == o.batch || (err != nil && len(batch) > 0) {
				if !submit() {
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = fmt.Errorf("produce: reading standard input: %w", err)
				}
				return
			}
			if readCtx.Err() != nil {
				return
			}
		}
	}()

	w := bufio.NewWriterSize(out, 64<<10)
	// After the first failure the offsets of later batches are not printed
	// (the output would no longer line up with the input), so those records
	// count as unconfirmed. The failed batch itself is refused when the node
	// answered that it wrote nothing, and unconfirmed otherwise.
	var acked, refused, unconfirmed int
	var failed error
	for job := range queue {
		<-job.done
		<-slots
		if failed == nil && job.err != nil {
			failed = job.err
			stop()
			if refusal(job.err) {
				refused += len(job.values)
				continue
			}
		}
		if failed != nil {
			unconfirmed += len(job.values)
			continue
		}
		for _, off := range job.offsets {
			fmt.Fprintln(w, off)
		}
		acked += len(job.offsets)
		// Flush per batch: whoever reads the offsets (a script, a test
		// that kills the node) sees every acknowledgement promptly.
		if err := w.Flush(); err != nil {
			failed = fmt.Errorf("produce: writing offsets: %w", err)
			stop()
		}
	}
	if err := w.Flush(); err != nil && failed == nil {
		failed = fmt.Errorf("produce: writing offsets: %w", err)
	}
	if failed == nil {
		failed = readErr
	}
	if failed == nil && ctx.Err() != nil {
		failed = errors.New("produce: interrupted")
	}

	if !o.quiet {
		el := time.Since(start)
		fmt.Fprintf(errOut, "produced %d records in %s (%.0f records/s)", acked, el.Round(time.Millisecond), float64(acked)/el.Seconds())
		if refused > 0 {
			fmt.Fprintf(errOut, "; %s refused (nothing written)", plural(refused, "record"))
		}
		if unconfirmed > 0 {
			fmt.Fprintf(errOut, "; %s not confirmed (they may or may not be written)", plural(unconfirmed, "record"))
		}
		fmt.Fprintln(errOut)
	}
	if failed != nil {
		return failed
	}
	return nil
}

// refusal reports whether err is a node's definite answer that it wrote
// nothing, as opposed to a failure whose outcome is unknown (a timeout, a
// lost connection).
func refusal(err error) bool {
	var invalid *client.InvalidRequestError
	return errors.Is(err, client.ErrUnauthorized) || errors.As(err, &invalid)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
