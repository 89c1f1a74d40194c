package actors

import (
	"context"
	"fmt"
	"time"

	"actorlog/consensus"
	"actorlog/messages"
	"actorlog/tracing"
	"github.com/asynkron/protoactor-go/actor"
)

// FSMLog is the raft FSM's view of the log actor: consensus.Log
// implemented with requests to the log actor, each bounded by a timeout.
// The FSM owns clients' idempotent produce. Its own appends carry the
// producer id FSMProducerID and their first offset as the sequence, so the
// log actor's deduplication recognises a retried append (one that timed
// out but was written) and does not write it twice.
type FSMLog struct {
	root    *actor.RootContext
	log     *actor.PID
	timeout time.Duration
}

var _ consensus.ContextLog = (*FSMLog)(nil)

// NewFSMLog returns a consensus.Log that talks to the log actor at log.
func NewFSMLog(sys *actor.ActorSystem, log *actor.PID, timeout time.Duration) *FSMLog {
	return &FSMLog{root: sys.Root, log: log, timeout: timeout}
}

func (l *FSMLog) ask(msg any) (any, error) {
	return l.answer(msg, l.root.RequestFuture(l.log, msg, l.timeout))
}

// answer waits for the log's answer to msg and turns error replies into
// errors.
func (l *FSMLog) answer(msg any, f *actor.Future) (any, error) {
	res, err := f.Result()
	if err != nil {
		return nil, fmt.Errorf("%w: the log did not answer %T: %v", ErrUnavailable, msg, err)
	}
	switch r := res.(type) {
	case *messages.Unavailable:
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, r.GetReason())
	case *messages.InvalidRequest:
		return nil, fmt.Errorf("%w: the log refused %T: %s: %s", ErrUnavailable, msg, r.GetField(), r.GetReason())
	case *messages.OffsetOutOfRange:
		return nil, fmt.Errorf("%w: offset %d outside [%d, %d)", ErrUnavailable, r.GetOffset(), r.GetLowOffset(), r.GetNextOffset())
	}
	return res, nil
}

// FSMProducerID is the producer id of the FSM's appends to the log actor.
// Clients never reach the log actor (their produces go through raft), so
// it cannot collide with theirs.
const FSMProducerID = "actorlog-fsm"

// Append implements consensus.Log.
func (l *FSMLog) Append(recs []*messages.Record) (uint64, error) {
	return l.AppendContext(context.Background(), recs)
}

// AppendContext implements consensus.ContextLog: the trace context of ctx
// goes to the log actor in the message header, and from there to the
// segment that appends the records.
func (l *FSMLog) AppendContext(ctx context.Context, recs []*messages.Record) (uint64, error) {
	// An append that timed out may still reach the log and be written; its
	// retry must not be written again. The batch's first offset, which the
	// FSM decided, identifies it: the log answers a repeat with the
	// offsets of the first, as it does for a client's retried sequence.
	msg := &messages.ProduceRequest{Records: recs}
	if len(recs) > 0 {
		msg.ProducerId, msg.Sequence = FSMProducerID, recs[0].GetOffset()+1
	}
	var (
		res any
		err error
	)
	if h := tracing.Headers(ctx); h != nil {
		f := actor.NewFuture(l.root.ActorSystem(), l.timeout)
		l.root.Send(l.log, &actor.MessageEnvelope{Header: h, Message: msg, Sender: f.PID()})
		res, err = l.answer(msg, f)
	} else {
		res, err = l.ask(msg)
	}
	if err != nil {
		return 0, err
	}
	r, ok := res.(*messages.ProduceResponse)
	if !ok || len(r.GetOffsets()) != len(recs) {
		return 0, fmt.Errorf("%w: the log answered an append with %T", ErrUnavailable, res)
	}
	return r.GetOffsets()[0], nil
}

// Bounds implements consensus.Log; it waits until the log is open.
func (l *FSMLog) Bounds() (uint64, uint64, error) {
	res, err := l.ask(&messages.LogStatusRequest{WaitReady: true})
	if err != nil {
		return 0, 0, err
	}
	st, ok := res.(*messages.LogStatus)
	if !ok {
		return 0, 0, fmt.Errorf("%w: the log answered a status request with %T", ErrUnavailable, res)
	}
	return st.GetLowOffset(), st.GetNextOffset(), nil
}

// Read implements consensus.Log.
func (l *FSMLog) Read(offset uint64, max int) ([]*messages.Record, error) {
	res, err := l.ask(&messages.FSMRead{Request: &messages.ConsumeRequest{Offset: offset, MaxRecords: uint32(max), MaxBytes: DefaultMaxReadBytes}})
	if err != nil {
		return nil, err
	}
	r, ok := res.(*messages.ConsumeResponse)
	if !ok {
		return nil, fmt.Errorf("%w: the log answered a read with %T", ErrUnavailable, res)
	}
	return r.GetRecords(), nil
}

// Sync implements consensus.Log.
func (l *FSMLog) Sync() error {
	res, err := l.ask(&messages.LogSync{})
	if err != nil {
		return err
	}
	if _, ok := res.(*messages.LogSynced); !ok {
		return fmt.Errorf("%w: the log answered a sync with %T", ErrUnavailable, res)
	}
	return nil
}

// Reset implements consensus.Log.
func (l *FSMLog) Reset(base uint64) error {
	res, err := l.ask(&messages.LogReset{BaseOffset: base})
	if err != nil {
		return err
	}
	if _, ok := res.(*messages.LogResetDone); !ok {
		return fmt.Errorf("%w: the log answered a reset with %T", ErrUnavailable, res)
	}
	return nil
}
