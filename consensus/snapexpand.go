package consensus

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"actorlog/messages"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// ExpandSnapshots wraps a snapshot store for data format 2, whose
// snapshots hold no records (FSMState.records_in_log): the records are in
// the node's logs already, and writing every retained record again at
// each snapshot would undo what format 2 saves. Open, which raft calls to
// send a snapshot to a follower far behind, reads such a snapshot's state
// and the records [low, next) it stands for from log into a temporary file
// in dir (unlinked at once: it is gone when closed, or when the process
// is), and returns that with its size. low is the log's lowest record when
// retention has deleted some since: the follower gets what this node still
// retains. Other snapshots pass through. written, when set, counts the
// temporary file's bytes.
func ExpandSnapshots(store raft.SnapshotStore, log Log, dir string, written *atomic.Uint64) raft.SnapshotStore {
	return &expandingSnapshots{SnapshotStore: store, log: log, dir: dir, written: written}
}

type expandingSnapshots struct {
	raft.SnapshotStore
	log     Log
	dir     string
	written *atomic.Uint64
}

func (e *expandingSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := e.SnapshotStore.Open(id)
	if err != nil {
		return nil, nil, err
	}
	// The state is read through a recorder, so that a snapshot that needs
	// no expansion is given back byte for byte: raft sends exactly
	// meta.Size bytes.
	rec := &recordingReader{r: bufio.NewReaderSize(rc, 64<<10)}
	st := &messages.FSMState{}
	if err := (protodelim.UnmarshalOptions{MaxSize: 1 << 30}).UnmarshalFrom(rec, st); err != nil {
		_ = rc.Close()
		return nil, nil, fmt.Errorf("%w: snapshot %s: state: %w", ErrCorrupt, id, err)
	}
	if !st.GetRecordsInLog() {
		return meta, &joinedReadCloser{Reader: io.MultiReader(bytes.NewReader(rec.read), rec.r), c: rc}, nil
	}
	defer rc.Close()
	out, size, err := e.expand(st)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: snapshot %s: read its records from the log: %w", id, err)
	}
	m := *meta
	m.Size = size
	return &m, out, nil
}

// expand writes st, as a snapshot with its records, and the records into
// an unlinked temporary file and returns it rewound, with its size.
func (e *expandingSnapshots) expand(st *messages.FSMState) (io.ReadCloser, int64, error) {
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, 0, err
	}
	f, err := os.CreateTemp(e.dir, "expand-*")
	if err != nil {
		return nil, 0, err
	}
	// Unlinked at once: nothing to clean up after a crash.
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	fail := func(err error) (io.ReadCloser, int64, error) {
		_ = f.Close()
		return nil, 0, err
	}
	low, _, err := e.log.Bounds()
	if err != nil {
		return fail(err)
	}
	full := proto.Clone(st).(*messages.FSMState)
	full.RecordsInLog = false
	full.LowOffset = min(max(st.GetLowOffset(), low), st.GetNextOffset())
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := protodelim.MarshalTo(bw, full); err != nil {
		return fail(err)
	}
	if err := writeRecords(bw, e.log, full.GetLowOffset(), full.GetNextOffset()); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fail(err)
	}
	if e.written != nil {
		e.written.Add(uint64(size))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return &joinedReadCloser{Reader: bufio.NewReaderSize(f, 1<<20), c: f}, size, nil
}

// recordingReader keeps the bytes read through it.
type recordingReader struct {
	r    *bufio.Reader
	read []byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.read = append(r.read, p[:n]...)
	return n, err
}

func (r *recordingReader) ReadByte() (byte, error) {
	b, err := r.r.ReadByte()
	if err == nil {
		r.read = append(r.read, b)
	}
	return b, err
}

type joinedReadCloser struct {
	io.Reader
	c io.Closer
}

func (j *joinedReadCloser) Close() error { return j.c.Close() }
