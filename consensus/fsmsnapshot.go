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
	if f.cfg.ValuesInRaftLog {
		// The records are on disk already, in this node's logs, and stay
		// there while they are retained: the snapshot says so instead of
		// writing every retained record again (ExpandSnapshots reads them
		// in when the snapshot goes to another node).
		st.RecordsInLog = true
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
	if s.state.GetRecordsInLog() {
		return bw.Flush()
	}
	if err := writeRecords(bw, s.log, s.state.GetLowOffset(), s.state.GetNextOffset()); err != nil {
		return err
	}
	return bw.Flush()
}

// writeRecords writes the records [low, next) of log in chunks, each a
// length-delimited SnapshotChunk.
func writeRecords(bw *bufio.Writer, log Log, low, next uint64) error {
	for off := low; off < next; {
		n := int(min(uint64(snapshotChunkRecords), next-off))
		recs, err := log.Read(off, n)
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
	return nil
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
		return fmt.Errorf("%w: snapshot state: %w", ErrCorrupt, err)
	}
	if st.GetRecordsInLog() {
		return f.restoreInPlace(st)
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
			return fmt.Errorf("%w: snapshot records: %w", ErrCorrupt, err)
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
	if err := f.adopt(st, st.GetNextOffset()); err != nil {
		return err
	}
	f.log.WithFields(logrus.Fields{"index": st.GetAppliedIndex(), "low": st.GetLowOffset(), "next": next}).Info("restored a snapshot")
	return nil
}

// adopt makes a restored snapshot's state the FSM's, with the log holding
// every record below logNext, and writes the state and member files.
func (f *FSM) adopt(st *messages.FSMState, logNext uint64) error {
	f.mu.Lock()
	err := f.loadState(st)
	f.stateIndex = 0 // written below
	f.logNext = logNext
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.writeState(st); err != nil {
		return err
	}
	f.writeMembers()
	return nil
}

// restoreInPlace restores a snapshot whose records are in this node's log
// (RecordsInLog): one this node took, whose state it lost. Anything else
// is refused: the records it stands for are not here.
func (f *FSM) restoreInPlace(st *messages.FSMState) error {
	_, next, err := f.cfg.Log.Bounds()
	if err != nil {
		return fmt.Errorf("consensus: restore: log bounds: %w", err)
	}
	if next < st.GetNextOffset() {
		return fmt.Errorf("%w: the snapshot at index %d refers to records up to offset %d in the log, which ends at %d",
			ErrCorrupt, st.GetAppliedIndex(), st.GetNextOffset(), next)
	}
	st.RecordsInLog = false // the state file's own meaning
	if err := f.adopt(st, next); err != nil {
		return err
	}
	f.log.WithFields(logrus.Fields{"index": st.GetAppliedIndex(), "next": st.GetNextOffset()}).Info("restored a snapshot of this node's own log")
	return nil
}
