package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"actorlog/client"
	"github.com/spf13/cobra"
)

type consumeOptions struct {
	clientFlags
	from     uint64
	count    uint64
	follow   bool
	json     bool
	maxBytes uint32
	buffer   int
	// consistent reads from the leader (linearizable reads) instead of spreading
	// reads over the other nodes.
	consistent bool
}

func newConsumeCommand(logLevel *string) *cobra.Command {
	o := &consumeOptions{}
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Print records of the log, one per line",
		Long: `consume reads records starting at offset --from and prints each value on its
own line, in offset order.

Without --follow it stops at the end of the log (or after --count records).
Starting exactly at the end prints nothing; starting past the end, or below the
oldest retained record, is an error.

With --follow it subscribes and keeps printing records as they are appended,
until --count records were printed or it is interrupted (Ctrl-C ends it with
status 0). The node pushes no more than the subscription's buffer ahead of what
was printed, so a slow reader holds the node back instead of piling up data.

--json prints one object per line, {"offset":N,"value":"<base64>"}, with the
value base64-encoded exactly as in the HTTP API, so any bytes survive.

In a cluster, reads go to the nodes other than the leader, which may lag a
little behind; --consistent reads from the leader after it confirms its
leadership, so every record acknowledged before the read is seen.`,
		Example: `  actorlog consume                       # the whole log
  actorlog consume --from 1000 --count 10
  actorlog consume --from 0 --follow     # tail -f
  actorlog consume --json | jq -r '.value | @base64d'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	o.register(cmd, logLevel)
	o.trace.register(cmd.Flags())
	f := cmd.Flags()
	f.Uint64Var(&o.from, "from", 0, "offset of the first record to print")
	f.Uint64Var(&o.count, "count", 0, "stop after this many records (0: no limit)")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing records as they are appended")
	f.BoolVar(&o.json, "json", false, `print {"offset":N,"value":"<base64>"} lines`)
	f.Uint32Var(&o.maxBytes, "max-bytes", 1<<20, "bytes per read request (at least one record is always returned)")
	f.IntVar(&o.buffer, "buffer", client.DefaultSubscribeBuffer, "with --follow: records the node may send ahead of what is printed")
	f.BoolVar(&o.consistent, "consistent", false, "without --follow: read from the leader, seeing every acknowledged record")
	return cmd
}

type jsonRecord struct {
	Offset uint64 `json:"offset"`
	Value  []byte `json:"value"` // encoding/json writes []byte as base64
}

func (o *consumeOptions) run(ctx context.Context, out io.Writer) error {
	if o.buffer < 1 {
		return &usageError{fmt.Errorf("--buffer must be at least 1, got %d", o.buffer)}
	}
	c, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer o.closeClient(c)

	w := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(w)
	printed := uint64(0)
	print := func(r client.Record) error {
		printed++
		if o.json {
			return enc.Encode(jsonRecord{Offset: r.Offset, Value: r.Value})
		}
		if _, err := w.Write(r.Value); err != nil {
			return err
		}
		return w.WriteByte('\n')
	}
	done := func() bool { return o.count > 0 && printed >= o.count }

	if o.follow {
		err = o.follow_(ctx, c, w, print, done)
	} else {
		err = o.read(ctx, c, w, print, done)
	}
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing records: %w", ferr)
	}
	return err
}

// read prints from --from to the end of the log, or --count records.
func (o *consumeOptions) read(ctx context.Context, c *client.Client, w *bufio.Writer, print func(client.Record) error, done func() bool) error {
	next := o.from
	for !done() {
		max := uint32(1000)
		if o.count > 0 {
			max = uint32(min(uint64(max), o.count))
		}
		opCtx, cancel := o.opContext(ctx)
		res, err := c.Consume(opCtx, next, client.ConsumeOptions{MaxRecords: max, MaxBytes: o.maxBytes, Consistent: o.consistent})
		cancel()
		var oor *client.OffsetOutOfRangeError
		switch {
		case errors.As(err, &oor) && next == oor.Next && next >= oor.Low:
			return nil // reached the end of the log
		case err != nil && ctx.Err() != nil:
			return nil // interrupted
		case err != nil:
			return err // names the operation and the offset already
		}
		for _, r := range res.Records {
			if err := print(r); err != nil {
				return fmt.Errorf("writing records: %w", err)
			}
			next = r.Offset + 1
			if done() {
				break
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
		if len(res.Records) == 0 || next >= res.NextOffset {
			return nil
		}
	}
	return nil
}

// follow_ prints records as the subscription delivers them.
func (o *consumeOptions) follow_(ctx context.Context, c *client.Client, w *bufio.Writer, print func(client.Record) error, done func() bool) error {
	opCtx, cancel := o.opContext(ctx)
	sub, err := c.Subscribe(opCtx, o.from, client.SubscribeOptions{Buffer: o.buffer, MaxBytes: o.maxBytes})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("subscribe at offset %d: %w", o.from, err)
	}
	defer sub.Close()
	for !done() {
		r, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: the normal way to stop following
			}
			return fmt.Errorf("subscription: %w", err)
		}
		if err := print(r); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
		// Flush when caught up, so a follower sees records promptly
		// without a write per record during a backlog.
		if sub.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return fmt.Errorf("writing records: %w", err)
			}
		}
	}
	return nil
}
