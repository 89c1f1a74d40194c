package consensus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/internal/backoff"
	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Log is what the FSM needs of the node's record log. The node implements
// it with messages to its log actor; every call is bounded by a timeout and
// may fail with a transient error, which the FSM retries.
type Log interface {
	// Append appends recs as one batch and returns the offset of the first.
	// Each record carries its value, timestamp and raft index.
	Append(recs []*messages.Record) (first uint64, err error)
	// Bounds returns the lowest retained offset and the next offset.
	Bounds() (low, next uint64, err error)
	// Read returns up to max records from offset, never past the end.
	Read(offset uint64, max int) ([]*messages.Record, error)
	// Sync makes everything appended so far durable.
	Sync() error
	// Reset deletes every record and starts the log empty at base.
	Reset(base uint64) error
}

// Defaults of FSMConfig.
const (
	// DefaultDedupeProducers and DefaultDedupeWindow bound the memory of
	// idempotent produce: how many producers, and per producer how many of
	// its latest sequences, the FSM remembers.
	DefaultDedupeProducers = 100000
	DefaultDedupeWindow    = 32
	// maxAppendRecords and maxAppendBytes split one batch of committed
	// entries into log appends the log actor accepts.
	maxAppendRecords = 10000
	maxAppendBytes   = 16 << 20
	// snapshotChunkRecords is how many records one snapshot chunk carries.
	snapshotChunkRecords = 1000
)

// stateFileName is the FSM's state file under the raft directory.
const stateFileName = "fsm.state"

// StatePath is where the FSM keeps its state file under a node's data
// directory.
func StatePath(dataDir string) string { return filepath.Join(dataDir, "raft", stateFileName) }

// FSMConfig configures the FSM (PeerConfig.FSM).
type FSMConfig struct {
	// Log is the node's record log. Required.
	Log Log
	// StatePath is the state file. Required (see StatePath).
	StatePath string
	// ValuesInRaftLog makes the records the FSM appends refer to their raft
	// entry for their values (Record.in_entry) instead of carrying them:
	// data format 2, where a record's bytes are written once, in the raft
	// log (docs/DESIGN.md, "Data directory formats"). The node's log then
	// reads values from the raft log store, which keeps the entries as
	// long as records refer to them (StoreConfig.KeepRecords).
	ValuesInRaftLog bool
	// SyncValues, with ValuesInRaftLog, makes the raft log durable; the
	// FSM calls it before its state file (which a restart trusts) says
	// that records refer to entries up to its index.
	SyncValues func() error
	// MaxAppendRecords is the most records the log takes in one append
	// (the node's log: one segment's index). Default maxAppendRecords.
	MaxAppendRecords int
	// Written, when set, counts the bytes of the state and member files
	// the FSM writes.
	Written *atomic.Uint64
	// FS is the file system the state and member files are written
	// through (nil: the operating system's). Tests simulate a power loss
	// here (segmentstore/faultfs).
	FS segmentstore.FS
	// DedupeProducers and DedupeWindow: see their defaults.
	DedupeProducers int
	DedupeWindow    int
	// Logger receives the FSM's logs. Nil discards them.
	Logger *logrus.Entry
	// TracerProvider, when set, traces the application of traced produce
	// entries (span fsm.apply, whose context goes on to the log when it
	// implements ContextLog). Nil traces nothing.
	TracerProvider trace.TracerProvider
	// NodeID names the node in the FSM's spans.
	NodeID string
	// OnDivergence, when set, is called (on raft's FSM goroutine, so it
	// must not block) when this replica's checksum differs from the
	// leader's at a checkpoint.
	OnDivergence func(Divergence)
	// OnVerified, when set, is called (on raft's FSM goroutine, so it must
	// not block) when this replica's checksum equals the leader's.
	OnVerified func(Checksum)
}

// checkpointResult is the response of an applied Checkpoint entry: the
// replica's checksum there. The leader puts its own into a Verify entry.
type checkpointResult = Checksum

// ProduceResult is the response of an applied produce entry, returned
// through raft's ApplyFuture.Response. Err is set when the records could
// not be appended (the node is stopping); the entry is committed anyway and
// replay appends it after a restart.
type ProduceResult struct {
	First uint64
	Count int
	// Duplicate is true when the entry repeated an applied (producer,
	// sequence) and appended nothing.
	Duplicate bool
	Err       error
}

// Offsets returns the offsets of the produced records, in order.
func (r *ProduceResult) Offsets() []uint64 {
	out := make([]uint64, r.Count)
	for i := range out {
		out[i] = r.First + uint64(i)
	}
	return out
}

// FSM is actorlog's raft state machine. It appends committed produce
// entries to the record log (many committed entries in one append), drops
// duplicate (producer, sequence) pairs, and keeps the member table.
//
// Replay is idempotent (docs/DESIGN.md, invariant 4): every record stores the raft
// index of its entry, so on start the FSM reads the index of the last
// record and does not append an entry at or below it again; it only
// rebuilds the offsets and the dedupe table from it. Its state file,
// written (temp file, fsync, rename) whenever a snapshot is taken, holds the
// dedupe table, the member table, the next offset and the index they
// reflect; entries at or below that index are skipped altogether. raft must
// run with NoSnapshotRestoreOnStart.
//
// Apply, ApplyBatch, Snapshot and Restore run on raft's FSM goroutine;
// Members and Applied may be called from anywhere.
type FSM struct {
	cfg  FSMConfig
	log  *logrus.Entry
	tr   fsmTracer
	stop chan struct{}
	once sync.Once

	mu sync.Mutex
	// applied is the last raft index applied.
	applied uint64
	// next is the offset the next appended record gets.
	next uint64
	// logNext is the log's next offset at open (or after a restore):
	// records below it are already in the log, and replay does not append
	// them again. Offsets, not raft indexes, decide it, because retention
	// may have deleted every record (and with them the last raft index
	// they carried), and a crash may have cut the log inside an entry.
	logNext uint64
	// stateIndex is the index the state file reflects.
	stateIndex uint64
	producers  *ProducerTable
	members    map[string]*messages.Member
	// repairing holds the members under repair, with the index that held
	// them.
	repairing map[string]uint64
	ck        checker
	// gaveUp is set once an append was given up: see appendAll.
	gaveUp error
}

var (
	_ raft.BatchingFSM = (*FSM)(nil)
)

// newFSM opens the FSM's state: the state file, if any, and the raft index
// of the log's last record.
func newFSM(cfg FSMConfig) (*FSM, error) {
	if cfg.Log == nil || cfg.StatePath == "" {
		return nil, &ConfigError{Field: "Log/StatePath", Reason: "required"}
	}
	if cfg.DedupeProducers <= 0 {
		cfg.DedupeProducers = DefaultDedupeProducers
	}
	if cfg.DedupeWindow <= 0 {
		cfg.DedupeWindow = DefaultDedupeWindow
	}
	if cfg.MaxAppendRecords <= 0 {
		cfg.MaxAppendRecords = maxAppendRecords
	}
	if cfg.Logger == nil {
		cfg.Logger = discardEntry()
	}
	f := &FSM{cfg: cfg, log: cfg.Logger.WithField("component", "fsm"), tr: newFSMTracer(cfg), stop: make(chan struct{}),
		producers: NewProducerTable(cfg.DedupeProducers, cfg.DedupeWindow), members: map[string]*messages.Member{},
		repairing: map[string]uint64{}}
	f.ck.init()
	if err := removeStaleTemp(cfg.StatePath); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(cfg.StatePath); err == nil {
		st := &messages.FSMState{}
		if err := proto.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("%w: FSM state file %s: %w", ErrCorrupt, cfg.StatePath, err)
		}
		if err := f.loadState(st); err != nil {
			return nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("consensus: read FSM state: %w", err)
	}
	if err := f.readMembers(); err != nil {
		return nil, err
	}
	low, next, err := cfg.Log.Bounds()
	if err != nil {
		return nil, fmt.Errorf("consensus: FSM: log bounds: %w", err)
	}
	// Without a state file no snapshot was taken, so raft replays from
	// its first entry, whose first record has offset 0, even when
	// retention has since deleted it (low > 0).
	_ = low
	f.logNext = next
	f.log.WithFields(logrus.Fields{"state_index": f.stateIndex, "next": f.next, "log_next": next}).Info("FSM opened")
	return f, nil
}

// StateIndex is the raft index the state file reflects.
func (f *FSM) StateIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stateIndex
}

// Close stops retrying appends; an Apply in progress returns errors.
func (f *FSM) Close() { f.once.Do(func() { close(f.stop) }) }

// Applied returns the last applied raft index.
func (f *FSM) Applied() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// Members returns the member table, sorted by id.
func (f *FSM) Members() []*messages.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*messages.Member, 0, len(f.members))
	for _, m := range f.members {
		out = append(out, proto.Clone(m).(*messages.Member))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetId() < out[j].GetId() })
	return out
}

// Member returns the member with the given id.
func (f *FSM) Member(id string) (*messages.Member, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.members[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(m).(*messages.Member), true
}

// Apply applies one entry.
func (f *FSM) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }

// pendingAppend is a produce entry whose records go into this batch's
// append.
type pendingAppend struct {
	res  *ProduceResult
	recs []*messages.Record
}

// ApplyBatch applies committed entries in order; the records of all of
// them go to the log in as few appends as the limits allow (group commit).
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	var appends []pendingAppend
	var traced []tracedEntry // only when tracing is on
	var diverged []Divergence
	var verified []Checksum
	membersChanged := false
	f.mu.Lock()
	for i, l := range logs {
		if l.Type != raft.LogCommand || l.Index <= f.stateIndex {
			if l.Index > f.applied {
				f.applied = l.Index
			}
			continue
		}
		cmd, err := decodeCommand(l.Data)
		if err != nil {
			f.log.WithError(err).WithField("index", l.Index).Error("undecodable raft entry skipped")
			out[i] = fmt.Errorf("%w: raft entry %d: %w", ErrCorrupt, l.Index, err)
			f.applied = l.Index
			continue
		}
		switch c := cmd.GetCommand().(type) {
		case *messages.RaftCommand_Member:
			if c.Member.GetRemoved() {
				if _, ok := f.members[c.Member.GetId()]; ok {
					delete(f.members, c.Member.GetId())
					membersChanged = true
				}
				break
			}
			if old, ok := f.members[c.Member.GetId()]; !ok || !proto.Equal(old, c.Member) {
				membersChanged = true
			}
			f.members[c.Member.GetId()] = c.Member
		case *messages.RaftCommand_Checkpoint:
			cs := f.ck.checkpointLocked(l.Index, f.next)
			out[i] = &cs
		case *messages.RaftCommand_Verify:
			d, local, known := f.ck.verifyLocked(c.Verify)
			switch {
			case d != nil:
				diverged = append(diverged, *d)
			case known:
				verified = append(verified, local)
			}
		case *messages.RaftCommand_RepairHold:
			if c.RepairHold.GetHeld() {
				f.repairing[c.RepairHold.GetId()] = l.Index
			} else {
				delete(f.repairing, c.RepairHold.GetId())
			}
		case *messages.RaftCommand_Produce:
			res, recs := f.produceLocked(l.Index, cmd.GetTimestampUnixNano(), c.Produce)
			out[i] = res
			if len(recs) > 0 {
				appends = append(appends, pendingAppend{res, recs})
				if f.tr.on && len(cmd.GetTrace()) > 0 {
					traced = append(traced, tracedEntry{cmd.GetTrace(), l.Index, l.Term})
				}
			}
		}
		f.applied = l.Index
	}
	f.mu.Unlock()
	ctx, span := f.tr.start(traced, appends)
	f.appendAll(ctx, appends)
	endApplySpan(span, appends)
	if membersChanged {
		f.writeMembers()
	}
	for _, d := range diverged {
		f.log.WithField("divergence", d.String()).Error("REPLICA DIVERGED: this replica's records differ from the leader's")
		if f.cfg.OnDivergence != nil {
			f.cfg.OnDivergence(d)
		}
	}
	for _, cs := range verified {
		if f.cfg.OnVerified != nil {
			f.cfg.OnVerified(cs)
		}
	}
	return out
}

// membersPath is the member table's own file beside the state file. It is
// rewritten whenever the table changes, so a node restarted on new ports
// knows where its peers are before raft has replayed anything.
func (f *FSM) membersPath() string { return f.cfg.StatePath + ".members" }

// writeMembers persists the member table; a failure is logged, as the
// table is also in every snapshot.
func (f *FSM) writeMembers() {
	b, err := proto.Marshal(&messages.FSMState{Members: f.Members()})
	if err == nil {
		err = f.writeFile(f.membersPath(), b)
	}
	if err != nil {
		f.log.WithError(err).Warn("could not write the member table")
	}
}

func (f *FSM) readMembers() error {
	if err := removeStaleTemp(f.membersPath()); err != nil {
		return err
	}
	b, err := os.ReadFile(f.membersPath())
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("consensus: read the member table: %w", err)
	}
	st := &messages.FSMState{}
	if err := proto.Unmarshal(b, st); err != nil {
		return fmt.Errorf("%w: member table %s: %w", ErrCorrupt, f.membersPath(), err)
	}
	for _, m := range st.GetMembers() {
		f.members[m.GetId()] = m
	}
	return nil
}

// produceLocked assigns offsets to a produce entry, or answers it from the
// dedupe table. It returns the records to append (none when the entry is
// a duplicate or is already in the log).
func (f *FSM) produceLocked(index uint64, ts int64, req *messages.ProduceRequest) (*ProduceResult, []*messages.Record) {
	pid, seq := req.GetProducerId(), req.GetSequence()
	if pid != "" {
		if b, ok := f.producers.Lookup(pid, seq, index); ok {
			return &ProduceResult{First: b.GetFirstOffset(), Count: int(b.GetCount()), Duplicate: true}, nil
		}
	}
	n := len(req.GetRecords())
	res := &ProduceResult{First: f.next, Count: n}
	for i, r := range req.GetRecords() {
		// A record refers to its entry for its value, unless it is not
		// the entry's value any more (altered by the fault hook): that
		// one is stored with its own bytes.
		r.InEntry = 0
		if !f.ck.addLocked(r, res.First+uint64(i), ts) && f.cfg.ValuesInRaftLog {
			r.InEntry = uint32(i + 1)
		}
	}
	f.next += uint64(n)
	if pid != "" {
		// Eviction depends only on raft indexes, so every replica keeps
		// the same table.
		f.producers.Remember(pid, index, &messages.ProducedBatch{Sequence: seq, FirstOffset: res.First, Count: uint32(n)})
	}
	skip := 0
	if res.First < f.logNext {
		skip = int(min(f.logNext-res.First, uint64(n)))
	}
	if skip == n {
		return res, nil
	}
	// The decoded records become the log's records: the command is this
	// entry's alone (decodeCommand made it), so stamping them in place
	// spares a second record per value.
	// Offset carries the offset the FSM decided on: the log ignores it
	// for the record, and the node's log uses the batch's first to tell a
	// retried append from a new one (actors.FSMLog).
	recs := req.GetRecords()[skip:]
	for i, r := range recs {
		r.Offset, r.TimestampUnixNano, r.RaftIndex = res.First+uint64(skip+i), ts, index
	}
	return res, recs
}

// appendAll appends the records of the batch, retrying transient failures
// until they succeed or the FSM is closed: a committed entry cannot be
// skipped. Records go in appends of at most MaxAppendRecords records and
// maxAppendBytes bytes, splitting an entry when it is larger: the log
// refuses an append that one segment cannot hold, and retrying a refusal
// like that would wedge every replica on the same entry.
//
// Once an append has been given up (the FSM closed while it failed),
// every later append fails too: appending them would put their records
// at the offsets the given-up records own. The FSM then refuses to write
// its state, so a restart replays from the last state that matches the
// log, and appends what was given up.
func (f *FSM) appendAll(ctx context.Context, appends []pendingAppend) {
	limit := f.cfg.MaxAppendRecords
	var batch []*messages.Record
	var owners []*ProduceResult // the results whose records are in batch
	bytes := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		f.appendChunk(ctx, batch, owners)
		batch, owners, bytes = batch[:0:0], owners[:0:0], 0
	}
	for _, a := range appends {
		for _, r := range a.recs {
			if len(batch) > 0 && (len(batch) >= limit || bytes+len(r.GetValue()) > maxAppendBytes) {
				flush()
			}
			if len(owners) == 0 || owners[len(owners)-1] != a.res {
				owners = append(owners, a.res)
			}
			batch = append(batch, r)
			bytes += len(r.GetValue())
		}
	}
	flush()
}

// appendChunk appends one batch of records, whose offsets the FSM has
// decided, and marks the results that own them failed if it cannot.
func (f *FSM) appendChunk(ctx context.Context, batch []*messages.Record, owners []*ProduceResult) {
	f.mu.Lock()
	gaveUp := f.gaveUp
	f.mu.Unlock()
	if gaveUp != nil {
		for _, r := range owners {
			r.Err = gaveUp
		}
		return
	}
	first, err := f.appendRetry(ctx, batch)
	if err != nil {
		f.mu.Lock()
		f.gaveUp = fmt.Errorf("%w: records from offset %d were not appended: %w", ErrGaveUp, batch[0].GetOffset(), err)
		f.mu.Unlock()
		for _, r := range owners {
			r.Err = err
		}
		return
	}
	if want := batch[0].GetOffset(); first != want {
		// Offsets are decided here; the log disagreeing means a bug or
		// a damaged log. Report the offsets the records really got.
		f.log.WithFields(logrus.Fields{"expected": want, "got": first}).Error("the log assigned unexpected offsets")
		for _, r := range owners {
			r.First = r.First - want + first
		}
		f.mu.Lock()
		f.next = f.next - want + first
		f.mu.Unlock()
	}
}

// fsmBackoff spaces the FSM's retries of a failed write to its log or its
// state files. The apply of every later entry waits behind such a retry, so
// the first waits are short and none is longer than a second.
var fsmBackoff = backoff.Policy{Min: 5 * time.Millisecond, Max: time.Second}

func (f *FSM) appendRetry(ctx context.Context, recs []*messages.Record) (uint64, error) {
	var first uint64
	err := backoff.Retry(f.stop, fsmBackoff, func() error {
		var err error
		first, err = f.appendOnce(ctx, recs)
		return err
	}, func(err error) {
		f.log.WithError(err).Warn("appending committed records failed; retrying")
	})
	if err != nil {
		return 0, fmt.Errorf("consensus: FSM closed: %w", err)
	}
	return first, nil
}

func (f *FSM) stateLocked(low uint64) *messages.FSMState {
	st := &messages.FSMState{AppliedIndex: f.applied, NextOffset: f.next, LowOffset: low}
	st.Producers = f.producers.State()
	for _, m := range f.members {
		st.Members = append(st.Members, m)
	}
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].GetId() < st.Members[j].GetId() })
	st.ChecksumState = f.ck.stateLocked()
	for id := range f.repairing {
		st.Repairing = append(st.Repairing, id)
	}
	sort.Strings(st.Repairing)
	return st
}

func (f *FSM) loadState(st *messages.FSMState) error {
	if err := f.ck.loadLocked(st.GetChecksumState()); err != nil {
		return err
	}
	f.repairing = make(map[string]uint64, len(st.GetRepairing()))
	for _, id := range st.GetRepairing() {
		f.repairing[id] = st.GetAppliedIndex()
	}
	f.applied, f.stateIndex, f.next = st.GetAppliedIndex(), st.GetAppliedIndex(), st.GetNextOffset()
	f.producers.Load(st.GetProducers())
	f.members = make(map[string]*messages.Member, len(st.GetMembers()))
	for _, m := range st.GetMembers() {
		f.members[m.GetId()] = m
	}
	return nil
}

// writeState syncs the log, then writes st to the state file. It refuses
// once an append was given up: st would cover records the log lacks.
func (f *FSM) writeState(st *messages.FSMState) error {
	f.mu.Lock()
	gaveUp := f.gaveUp
	f.mu.Unlock()
	if gaveUp != nil {
		return gaveUp
	}
	if err := f.retry(f.cfg.Log.Sync); err != nil {
		return fmt.Errorf("consensus: sync the log: %w", err)
	}
	if f.cfg.ValuesInRaftLog && f.cfg.SyncValues != nil {
		// Under the relaxed fsync policies the raft log may not be on disk
		// yet: the state file must not say records are stored whose
		// values a power loss can still take.
		if err := f.cfg.SyncValues(); err != nil {
			return fmt.Errorf("consensus: sync the raft log: %w", err)
		}
	}
	b, err := proto.Marshal(st)
	if err != nil {
		return fmt.Errorf("consensus: encode FSM state: %w", err)
	}
	if err := f.writeFile(f.cfg.StatePath, b); err != nil {
		return err
	}
	f.mu.Lock()
	f.stateIndex = max(f.stateIndex, st.GetAppliedIndex())
	f.mu.Unlock()
	return nil
}

// writeFile replaces path with b (writeFileAtomic) and counts the bytes.
func (f *FSM) writeFile(path string, b []byte) error {
	if err := writeFileAtomicFS(f.cfg.FS, path, b); err != nil {
		return err
	}
	if f.cfg.Written != nil {
		f.cfg.Written.Add(uint64(len(b)))
	}
	return nil
}

// retry runs op until it succeeds, the FSM closes, or a few attempts fail.
func (f *FSM) retry(op func() error) error {
	var err error
	b := backoff.New(fsmBackoff)
	for range 8 {
		if err = op(); err == nil {
			return nil
		}
		if !backoff.SleepOrStop(f.stop, b.Next()) {
			return err
		}
	}
	return err
}

var errNoState = errors.New("consensus: snapshot has no FSM state")
