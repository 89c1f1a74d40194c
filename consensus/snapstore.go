package consensus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"actorlog/segmentstore"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Snapshot store layout, the one raft's FileSnapshotStore uses, so that a
// data directory written by either is read by the other:
// <dir>/<term>-<index>-<ms>/ holding meta.json (the snapshot's
// raft.SnapshotMeta and the CRC-64 of the state) and state.bin. raft's
// store writes a snapshot under a ".tmp" name and renames the directory;
// this one writes it in place and makes it complete by renaming meta.json
// into it last, so that no directory is ever renamed (a power loss is
// simulated for files, not directories: segmentstore/faultfs).
const (
	snapMetaFile  = "meta.json"
	snapStateFile = "state.bin"
	snapTmpSuffix = ".tmp"
)

// ErrSnapshotCRC is returned by Open for a snapshot whose state does not
// match the CRC recorded when it was written.
var ErrSnapshotCRC = errors.New("consensus: snapshot state does not match its CRC")

var snapCRCTable = crc64.MakeTable(crc64.ECMA)

// snapMeta is meta.json, as raft's FileSnapshotStore writes it.
type snapMeta struct {
	raft.SnapshotMeta
	CRC []byte
}

// fsSnapshotStore is raft's snapshot store on a segmentstore.FS, so that
// snapshots are written through the same file system as the logs: a test
// that simulates a power loss under the node (segmentstore/faultfs) covers
// them too. A snapshot is complete once its meta.json exists: the state is
// fsynced first, then meta.json is written beside it by temp file, fsync,
// rename and a directory fsync. A directory without meta.json is a
// snapshot that a crash cut short; opening the store removes it.
type fsSnapshotStore struct {
	dir    string
	retain int
	fs     segmentstore.FS
	log    *logrus.Entry
	mu     sync.Mutex // serialises the reaping
}

var _ raft.SnapshotStore = (*fsSnapshotStore)(nil)

// newFSSnapshotStore opens (or creates) a snapshot store in dir keeping the
// newest retain snapshots. fsys nil means the operating system's files.
func newFSSnapshotStore(dir string, retain int, fsys segmentstore.FS, log *logrus.Entry) (*fsSnapshotStore, error) {
	if retain < 1 {
		return nil, &ConfigError{Field: "SnapshotRetain", Reason: fmt.Sprintf("must be at least 1, got %d", retain)}
	}
	if log == nil {
		log = discardEntry()
	}
	s := &fsSnapshotStore{dir: dir, retain: retain, fs: fsOr(fsys), log: log.WithField("component", "snapshots")}
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("consensus: create snapshot directory %s: %w", dir, err)
	}
	if err := s.removeIncomplete(); err != nil {
		return nil, err
	}
	return s, nil
}

// removeIncomplete deletes what a crash left of snapshots being written:
// directories without meta.json, and raft's own ".tmp" directories.
func (s *fsSnapshotStore) removeIncomplete() error {
	entries, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("consensus: list snapshots: %w", err)
	}
	removed := false
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		_, err := s.fs.Stat(filepath.Join(s.dir, e.Name(), snapMetaFile))
		if err == nil && !strings.HasSuffix(e.Name(), snapTmpSuffix) {
			continue
		}
		s.log.WithField("snapshot", e.Name()).Warn("removing a snapshot that was not finished")
		if err := s.removeDir(filepath.Join(s.dir, e.Name())); err != nil {
			return err
		}
		removed = true
	}
	if removed {
		return s.fs.SyncDir(s.dir)
	}
	return nil
}

// Create starts a snapshot; raft writes its state into the sink.
func (s *fsSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("consensus: unsupported snapshot version %d", version)
	}
	name := fmt.Sprintf("%d-%d-%d", term, index, time.Now().UnixMilli())
	dir := filepath.Join(s.dir, name)
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("consensus: create snapshot %s: %w", dir, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		_ = s.removeDir(dir)
		return nil, fmt.Errorf("consensus: create snapshot %s: %w", dir, err)
	}
	f, err := s.fs.OpenFile(filepath.Join(dir, snapStateFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		_ = s.removeDir(dir)
		return nil, fmt.Errorf("consensus: create snapshot state: %w", err)
	}
	sink := &fsSnapshotSink{store: s, dir: dir, file: f, crc: crc64.New(snapCRCTable),
		meta: snapMeta{SnapshotMeta: raft.SnapshotMeta{Version: version, ID: name, Index: index, Term: term,
			Configuration: configuration, ConfigurationIndex: configurationIndex}}}
	sink.w = bufio.NewWriterSize(io.MultiWriter(f, sink.crc), 1<<20)
	return sink, nil
}

// List returns the snapshots, newest first, at most retain of them.
func (s *fsSnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	all, err := s.snapshots()
	if err != nil {
		return nil, err
	}
	out := make([]*raft.SnapshotMeta, 0, min(len(all), s.retain))
	for i := 0; i < len(all) && i < s.retain; i++ {
		out = append(out, &all[i].SnapshotMeta)
	}
	return out, nil
}

// snapshots reads every complete snapshot's metadata, newest first. A
// directory without readable metadata is skipped (a snapshot that a crash
// left half-written is still named .tmp).
func (s *fsSnapshotStore) snapshots() ([]*snapMeta, error) {
	entries, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("consensus: list snapshots: %w", err)
	}
	var out []*snapMeta
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), snapTmpSuffix) {
			continue
		}
		m, err := s.readMeta(e.Name())
		if os.IsNotExist(err) {
			continue // being written
		}
		if err != nil {
			s.log.WithError(err).WithField("snapshot", e.Name()).Warn("skipping a snapshot whose metadata cannot be read")
			continue
		}
		if m.Version < raft.SnapshotVersionMin || m.Version > raft.SnapshotVersionMax {
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Term != b.Term {
			return a.Term > b.Term
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return a.ID > b.ID
	})
	return out, nil
}

func (s *fsSnapshotStore) readMeta(name string) (*snapMeta, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, name, snapMetaFile))
	if err != nil {
		return nil, err
	}
	m := &snapMeta{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, snapMetaFile, err)
	}
	return m, nil
}

// Open returns a snapshot's metadata and state, after checking the state
// against its CRC.
func (s *fsSnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return nil, nil, fmt.Errorf("consensus: bad snapshot id %q", id)
	}
	m, err := s.readMeta(id)
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: open snapshot %s: %w", id, err)
	}
	f, err := os.Open(filepath.Join(s.dir, id, snapStateFile))
	if err != nil {
		return nil, nil, fmt.Errorf("consensus: open snapshot %s: %w", id, err)
	}
	h := crc64.New(snapCRCTable)
	if _, err := io.Copy(h, bufio.NewReaderSize(f, 1<<20)); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("consensus: read snapshot %s: %w", id, err)
	}
	if !bytes.Equal(h.Sum(nil), m.CRC) {
		_ = f.Close()
		return nil, nil, fmt.Errorf("%w: snapshot %s", ErrSnapshotCRC, id)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("consensus: read snapshot %s: %w", id, err)
	}
	return &m.SnapshotMeta, &bufferedReadCloser{Reader: bufio.NewReaderSize(f, 1<<20), f: f}, nil
}

type bufferedReadCloser struct {
	*bufio.Reader
	f *os.File
}

func (b *bufferedReadCloser) Close() error { return b.f.Close() }

// reap deletes the snapshots past the newest retain.
func (s *fsSnapshotStore) reap() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.snapshots()
	if err != nil {
		return err
	}
	for _, m := range all[min(len(all), s.retain):] {
		s.log.WithField("snapshot", m.ID).Info("removing an old snapshot")
		if err := s.removeDir(filepath.Join(s.dir, m.ID)); err != nil {
			return err
		}
	}
	return s.fs.SyncDir(s.dir)
}

// removeDir deletes a snapshot directory and the files in it (the FS has
// no recursive remove; a snapshot directory holds only files).
func (s *fsSnapshotStore) removeDir(dir string) error {
	entries, err := s.fs.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("consensus: remove snapshot %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := s.fs.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("consensus: remove snapshot %s: %w", dir, err)
		}
	}
	if err := s.fs.Remove(dir); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("consensus: remove snapshot %s: %w", dir, err)
	}
	return nil
}

// fsSnapshotSink writes one snapshot into its directory.
type fsSnapshotSink struct {
	store  *fsSnapshotStore
	dir    string
	file   segmentstore.File
	w      *bufio.Writer
	crc    hash.Hash64
	meta   snapMeta
	closed bool
}

func (k *fsSnapshotSink) ID() string                  { return k.meta.ID }
func (k *fsSnapshotSink) Write(p []byte) (int, error) { return k.w.Write(p) }

// Close makes the snapshot durable and then complete: the state fsynced,
// then meta.json (with the state's size and CRC) written atomically beside
// it. Then the oldest snapshots beyond retain go.
func (k *fsSnapshotSink) Close() error {
	if k.closed {
		return nil
	}
	k.closed = true
	s := k.store
	if err := k.finish(); err != nil {
		_ = s.removeDir(k.dir)
		return err
	}
	return s.reap()
}

func (k *fsSnapshotSink) finish() error {
	fs := k.store.fs
	if err := k.w.Flush(); err != nil {
		_ = k.file.Close()
		return fmt.Errorf("consensus: write snapshot state: %w", err)
	}
	if err := k.file.Sync(); err != nil {
		_ = k.file.Close()
		return fmt.Errorf("consensus: sync snapshot state: %w", err)
	}
	st, err := k.file.Stat()
	if err != nil {
		_ = k.file.Close()
		return fmt.Errorf("consensus: snapshot state: %w", err)
	}
	if err := k.file.Close(); err != nil {
		return fmt.Errorf("consensus: close snapshot state: %w", err)
	}
	k.meta.Size, k.meta.CRC = st.Size(), k.crc.Sum(nil)
	b, err := json.Marshal(&k.meta)
	if err != nil {
		return fmt.Errorf("consensus: encode snapshot metadata: %w", err)
	}
	// The rename's directory fsync also makes state.bin's name durable:
	// both live in this directory, and a journal commits them in order.
	return writeFileAtomicFS(fs, filepath.Join(k.dir, snapMetaFile), b)
}

// Cancel abandons the snapshot.
func (k *fsSnapshotSink) Cancel() error {
	if k.closed {
		return nil
	}
	k.closed = true
	_ = k.file.Close()
	return k.store.removeDir(k.dir)
}
