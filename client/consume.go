package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"actorlog/messages"
)

// Record is one record of the log.
type Record struct {
	Offset uint64
	Value  []byte
	// Timestamp is when the leader accepted the record.
	Timestamp time.Time
}

func fromWire(r *messages.Record) Record {
	var ts time.Time
	if n := r.GetTimestampUnixNano(); n != 0 {
		ts = time.Unix(0, n)
	}
	return Record{Offset: r.GetOffset(), Value: r.GetValue(), Timestamp: ts}
}

// ConsumeOptions shape one Consume call. Zero values take the node's
// defaults.
type ConsumeOptions struct {
	// MaxRecords and MaxBytes bound the reply. At least one record is
	// returned when one exists, even if it is larger than MaxBytes.
	MaxRecords uint32
	MaxBytes   uint32
	// Wait turns a read at the end of the log into a long poll: the node
	// holds it until records arrive or Wait passes, and then answers with
	// no records. Zero answers at once with *OffsetOutOfRangeError.
	Wait time.Duration
	// Consistent asks the leader to confirm its leadership before reading,
	// so the read sees every acknowledged write (a linearizable read). The
	// request goes to the leader.
	Consistent bool
	// PreferLeader sends the read to the leader instead of spreading reads
	// over the other nodes, without Consistent's leadership check: the
	// leader holds every committed record, while a follower may lag a
	// little behind.
	PreferLeader bool
}

// ConsumeResult is what one Consume read.
type ConsumeResult struct {
	Records []Record
	// LowOffset is the lowest offset still retained and NextOffset the
	// offset the next record will get.
	LowOffset  uint64
	NextOffset uint64
}

// Consume reads committed records starting at offset. Reading at or past the
// end without Wait, or below the retained range, fails with
// *OffsetOutOfRangeError carrying the log's bounds.
//
// In a cluster, reads go round-robin over the nodes that are not the leader,
// whose logs may lag a little behind the leader's: a record just produced
// may not be there yet, and the bounds are that node's. Set
// ConsumeOptions.Consistent (or PreferLeader) to read from the leader. A read
// past the end of a follower's log is asked again of the leader, so an
// offset that exists is never reported out of range because one follower
// lags.
func (c *Client) Consume(ctx context.Context, offset uint64, opts ConsumeOptions) (*ConsumeResult, error) {
	ctx, o := c.tel.begin(ctx, opConsume)
	res, err := c.consume(ctx, offset, opts)
	if o.recording() {
		c.tel.end(o, err, consumeAttrs(offset, res)...)
	} else {
		c.tel.end(o, err)
	}
	return res, err
}

// consume is Consume without its span and timing.
func (c *Client) consume(ctx context.Context, offset uint64, opts ConsumeOptions) (*ConsumeResult, error) {
	if c.g != nil {
		return c.grpcConsume(ctx, offset, opts)
	}
	ctx, cancel := c.opContext(ctx)
	defer cancel()

	wait := opts.Wait
	// A long poll must end before the caller's deadline, or its empty
	// answer would arrive too late to be an answer.
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - c.cfg.AttemptTimeout/10; wait > left {
			wait = max(left, 0)
		}
	}
	waitMs := min(wait.Milliseconds(), math.MaxUint32)
	req := &messages.ConsumeRequest{
		Offset:     offset,
		MaxRecords: opts.MaxRecords,
		MaxBytes:   opts.MaxBytes,
		WaitMs:     uint32(waitMs),
		Consistent: opts.Consistent,
	}
	var out *ConsumeResult
	rt := routeRead
	if opts.Consistent || opts.PreferLeader {
		rt = routeLeader
	}
	attempt := func(ctx context.Context, s *session, timeout time.Duration) error {
		reply, err := c.requestOn(ctx, s, req, timeout)
		if err != nil {
			return err
		}
		resp, ok := reply.(*messages.ConsumeResponse)
		if !ok {
			return fmt.Errorf("%w: ConsumeRequest answered with %T", ErrProtocol, reply)
		}
		out = &ConsumeResult{
			Records:    make([]Record, len(resp.GetRecords())),
			LowOffset:  resp.GetLowOffset(),
			NextOffset: resp.GetNextOffset(),
		}
		for i, r := range resp.GetRecords() {
			out.Records[i] = fromWire(r)
		}
		return nil
	}
	err := c.do(ctx, "consume", rt, wait, attempt)
	var oor *OffsetOutOfRangeError
	if rt == routeRead && errors.As(err, &oor) && offset > oor.Next {
		// Past the end of a node that may lag behind: only the leader
		// can tell a stale follower from an offset that does not exist.
		err = c.do(ctx, "consume", routeLeader, wait, attempt)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
