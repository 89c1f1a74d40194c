package consensus

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"actorlog/messages"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/encoding/protodelim"
)

func discardEntry() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// Snapshot syncs the log up to the applied index, writes the state file,
// and returns a snapshot that streams the FSM state and then the records
// [low, next) at this index. New appends may run while it is persisted:
// it reads nothing past next.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	low, _, err := f.cfg.Log.Bounds()
	if err != nil {
		return nil, fmt.Errorf("consensus: snapshot: log bounds: %w", err)
	}
	f.mu.Lock()
	st := f.stateLocked(low)
	f.mu.Unlock()
	if err := f.writeState(st); err != nil {
		return nil, err
	}
	return &fsmSnapshot{log: f.cfg.Log, state: st}, nil
}

type fsmSnapshot struct {
	log   Log
	state *messages.FSMState
}

// Persist writes the state, then the records in chunks, each as a
// length-delimited protobuf message.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.persist(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) persist(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := protodelim.MarshalTo(bw, s.state); err != nil {
		return fmt.Errorf("consensus: snapshot: write state: %w", err)
	}
	for off := s.state.GetLowOffset(); off < s.state.GetNextOffset(); {
		n := int(min(uint64(snapshotChunkRecords), s.state.GetNextOffset()-off))
		recs, err := s.log.Read(off, n)
		if err != nil {
			return fmt.Errorf("consensus: snapshot: read at %d: %w", off, err)
		}
		if len(recs) == 0 {
			return fmt.Errorf("consensus: snapshot: no records at %d", off)
		}
		if len(recs) > n {
			recs = recs[:n]
		}
		if _, err := protodelim.MarshalTo(bw, &messages.SnapshotChunk{Records: recs}); err != nil {
			return fmt.Errorf("consensus: snapshot: write records: %w", err)
		}
		off += uint64(len(recs))
	}
	return bw.Flush()
}

func (s *fsmSnapshot) Release() {}

// Restore replaces the log and the FSM state with a snapshot's: the log is
// reset to the snapshot's lowest offset and its records are appended with
// their original raft indexes and timestamps, then the state file is
// written.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	opts := protodelim.UnmarshalOptions{MaxSize: 1 << 30}
	st := &messages.FSMState{}
	if err := opts.UnmarshalFrom(r, st); err != nil {
		if err == io.EOF {
			return errNoState
		}
		return fmt.Errorf("%w: snapshot state: %v", ErrCorrupt, err)
	}
	if err := f.retry(func() error { return f.cfg.Log.Reset(st.GetLowOffset()) }); err != nil {
		return fmt.Errorf("consensus: restore: reset the log: %w", err)
	}
	next := st.GetLowOffset()
	for {
		c := &messages.SnapshotChunk{}
		if err := opts.UnmarshalFrom(r, c); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("%w: snapshot records: %v", ErrCorrupt, err)
		}
		// A snapshot's records carry their values: no raft entry of this
		// node holds them.
		for _, r := range c.GetRecords() {
			r.InEntry = 0
		}
		first, err := f.appendRetry(context.Background(), c.GetRecords())
		if err != nil {
			return fmt.Errorf("consensus: restore: append: %w", err)
		}
		if first != next {
			return fmt.Errorf("consensus: restore: the log appended at %d, expected %d", first, next)
		}
		next += uint64(len(c.GetRecords()))
	}
	if next != st.GetNextOffset() {
		return fmt.Errorf("%w: snapshot ends at offset %d, its state says %d", ErrCorrupt, next, st.GetNextOffset())
	}
	f.mu.Lock()
	err := f.loadState(st)
	f.stateIndex = 0 // written below
	f.logNext = st.GetNextOffset()
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.writeState(st); err != nil {
		return err
	}
	f.writeMembers()
	f.log.WithFields(logrus.Fields{"index": st.GetAppliedIndex(), "low": st.GetLowOffset(), "next": next}).Info("restored a snapshot")
	return nil
}
