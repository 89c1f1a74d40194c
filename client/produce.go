package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"actorlog/messages"
	"google.golang.org/protobuf/encoding/protowire"
)

// requestOverheadBytes covers the fields of a ProduceRequest other than its
// records (producer id, sequence), so a batch sized by the client never
// exceeds the node's limit however the node counts.
const requestOverheadBytes = 64

// lane is one producer identity of the client. A lane carries at most one
// request at a time, so the node always sees a producer's sequence numbers in
// order, one after the other; a retry reuses the sequence, and the node
// answers a duplicate with the original offsets. Several lanes give
// pipelining without ever reordering one producer's sequence.
type lane struct {
	producerID string
	sequence   uint64
}

func newLane() *lane { return &lane{producerID: randomID(), sequence: 1} }

// Limits are the request limits of the session the client is using.
type Limits struct {
	// MaxRecordBytes is the largest value the node accepts (0: unknown).
	MaxRecordBytes uint32
	// MaxBatchBytes is the largest ProduceRequest the node accepts; Produce
	// splits larger calls into several requests.
	MaxBatchBytes uint32
	// MaxBatchRecords is the most records one ProduceRequest may carry
	// (0: unknown); Produce splits larger calls.
	MaxBatchRecords uint32
}

// Limits returns the limits announced by the node that takes produce
// requests, opening a session with it when needed.
// With TransportGRPC the limits are not announced: it returns zero limits
// (unknown), and the node refuses what exceeds them.
func (c *Client) Limits(ctx context.Context) (Limits, error) {
	if c.g != nil {
		return Limits{}, nil
	}
	var l Limits
	err := c.do(ctx, "limits", routeLeader, 0, func(_ context.Context, s *session, _ time.Duration) error {
		l = Limits{MaxRecordBytes: s.maxRecordBytes, MaxBatchBytes: s.maxBatchBytes, MaxBatchRecords: s.maxBatchRecs}
		return nil
	})
	return l, err
}

// recordWireBytes is what one value adds to a ProduceRequest on the wire: the
// Record message around it and the field header of the repeated field.
func recordWireBytes(v []byte) int {
	rec := 0
	if len(v) > 0 {
		rec = protowire.SizeTag(2) + protowire.SizeBytes(len(v))
	}
	return protowire.SizeTag(1) + protowire.SizeBytes(rec)
}

// split cuts values into batches of at most maxBytes on the wire and
// maxRecords records. A value that alone exceeds maxBytes goes alone: the
// record limit, checked before, is what decides whether it is acceptable.
func split(values [][]byte, maxBytes, maxRecords int) [][][]byte {
	var out [][][]byte
	start, size := 0, requestOverheadBytes
	for i, v := range values {
		n := recordWireBytes(v)
		if i > start && (size+n > maxBytes || i-start >= maxRecords) {
			out = append(out, values[start:i])
			start, size = i, requestOverheadBytes
		}
		size += n
	}
	if start < len(values) {
		out = append(out, values[start:])
	}
	return out
}

// Produce appends values to the log and returns their offsets, in the order
// of values.
//
// A value larger than the node's record limit is rejected locally with an
// *InvalidRequestError naming it, and nothing is sent. Values that do not fit
// one request (see Limits) are split into several, sent concurrently. Every
// request carries this client's producer id and a sequence number, and a
// retry reuses both, so a retried request is never appended twice.
//
// Produce copies values before sending, so the caller may reuse them as soon
// as it returns, whatever it returns.
//
// One request is atomic: all its records are appended or none is. When a
// Produce needs several requests and fails, some of them may have been
// appended; callers that need all-or-nothing keep each call within
// Limits().MaxBatchBytes and Config.MaxBatchRecords.
func (c *Client) Produce(ctx context.Context, values ...[]byte) ([]uint64, error) {
	if len(values) == 0 {
		return nil, nil
	}
	ctx, o := c.tel.begin(ctx, opProduce)
	offsets, err := c.produce(ctx, values)
	if o.recording() {
		c.tel.end(o, err, produceAttrs(values, offsets)...)
	} else {
		c.tel.end(o, err)
	}
	return offsets, err
}

// produce is Produce without its span and timing.
func (c *Client) produce(ctx context.Context, values [][]byte) ([]uint64, error) {
	if c.g != nil {
		return c.grpcProduce(ctx, values)
	}
	ctx, cancel := c.opContext(ctx)
	defer cancel()

	limits, err := c.Limits(ctx)
	if err != nil {
		return nil, err
	}
	if max := limits.MaxRecordBytes; max > 0 {
		for i, v := range values {
			if uint64(len(v)) > uint64(max) {
				return nil, fmt.Errorf("produce: %w", &InvalidRequestError{
					Field:  fmt.Sprintf("values[%d]", i),
					Reason: fmt.Sprintf("value of %d bytes exceeds the record limit of %d bytes", len(v), max),
				})
			}
		}
	}
	maxBatch := c.cfg.MaxBatchBytes
	if l := int(limits.MaxBatchBytes); l > 0 && l < maxBatch {
		maxBatch = l
	}
	maxRecs := c.cfg.MaxBatchRecords
	if l := int(limits.MaxBatchRecords); l > 0 && l < maxRecs {
		maxRecs = l
	}
	batches := split(values, maxBatch, maxRecs)

	return produceBatches(ctx, values, batches, c.produceBatch)
}

// produceBatches sends batches (values split in order) with send, each
// writing its offsets into its part of the result. One batch is sent on
// the caller's goroutine, without a goroutine and a context of its own.
// Several are sent concurrently (send bounds them by the client's lanes),
// and the first failure stops sending the rest.
func produceBatches(ctx context.Context, values [][]byte, batches [][][]byte,
	send func(ctx context.Context, b [][]byte, dst []uint64) error) ([]uint64, error) {
	offsets := make([]uint64, len(values))
	if len(batches) == 1 {
		if err := send(ctx, values, offsets); err != nil {
			return nil, err
		}
		return offsets, nil
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		at       int
	)
	for _, b := range batches {
		dst := offsets[at : at+len(b)]
		at += len(b)
		wg.Go(func() {
			if err := send(ctx, b, dst); err != nil {
				once.Do(func() { firstErr = err; stop() })
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return offsets, nil
}

// produceBatch sends one ProduceRequest on a lane of its own, retrying with
// the same sequence, and writes the offsets into dst.
func (c *Client) produceBatch(ctx context.Context, values [][]byte, dst []uint64) error {
	var ln *lane
	select {
	case ln = <-c.lanes:
	case <-ctx.Done():
		return c.giveUp(ctx, "produce", nil)
	}
	ok := false
	defer func() {
		if ok {
			ln.sequence++
		} else {
			// The request may or may not have been applied. Start a new
			// producer identity, so the next request is neither mistaken
			// for a duplicate nor rejected for a gap in the sequence.
			ln = newLane()
		}
		c.lanes <- ln
	}()

	// Copy the values: protoactor marshals a request later, on its endpoint
	// writer's goroutine, and a request abandoned at the deadline may still
	// be marshalled after Produce returned and the caller reused its
	// buffers. One slab per request keeps the copy to one allocation.
	total := 0
	for _, v := range values {
		total += len(v)
	}
	slab := make([]byte, 0, total)
	records := make([]*messages.Record, len(values))
	for i, v := range values {
		at := len(slab)
		slab = append(slab, v...)
		records[i] = &messages.Record{Value: slab[at:len(slab):len(slab)]}
	}
	req := &messages.ProduceRequest{Records: records, ProducerId: ln.producerID, Sequence: ln.sequence}
	err := c.do(ctx, "produce", routeLeader, 0, func(ctx context.Context, s *session, timeout time.Duration) error {
		reply, err := c.requestOn(ctx, s, req, timeout)
		if err != nil {
			return err
		}
		resp, isResp := reply.(*messages.ProduceResponse)
		if !isResp {
			return fmt.Errorf("%w: ProduceRequest answered with %T", ErrProtocol, reply)
		}
		if len(resp.GetOffsets()) != len(values) {
			return fmt.Errorf("%w: %d offsets for %d records", ErrProtocol, len(resp.GetOffsets()), len(values))
		}
		copy(dst, resp.GetOffsets())
		return nil
	})
	ok = err == nil
	return err
}
