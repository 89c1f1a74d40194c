package faultfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"actorlog/segmentstore"
)

// Page and sector sizes of the simulated disk: a page is what the kernel
// writes back at once, a sector what the disk writes atomically.
const (
	PageSize   = 4096
	SectorSize = 512
)

// ErrPowerOff is returned by every change made through the FS after
// PowerOff and before Restart.
var ErrPowerOff = errors.New("faultfs: the power is off")

// inode is one file's durable state. Its current state is the real file.
type inode struct {
	mu      sync.Mutex
	path    string // current name, "" once removed
	durable []byte // content as of the last fsync
	// dirtyLo/dirtyHi bound what was written through WriteAt/Write since
	// the last fsync; mapped means the file was memory-mapped, so writes
	// bypass the FS and an fsync reads the whole file.
	dirtyLo, dirtyHi int64
	mapped           bool
	truncated        bool
	removedContent   []byte // the content when it was removed
}

// dirOp is a change to a directory that is not yet durable.
type dirOp struct {
	dir      string
	kind     opKind
	name     string // created or removed name; the old name of a rename
	newName  string // rename target
	ino      *inode
	replaced *inode // the inode a rename or create replaced, if any
}

type opKind int

const (
	opCreate opKind = iota
	opRename
	opRemove
)

// FS is the power-loss simulating file system. The zero value is not
// usable: call New.
type FS struct {
	mu      sync.Mutex
	rng     *rand.Rand
	cur     map[string]*inode // current names
	durable map[string]*inode // names as a power loss right now would keep at least
	pending []dirOp
	off     bool
	vanish  bool              // after PowerOff, changes succeed and are dropped
	image   map[string][]byte // the disk after the power loss, until Restart
	stats   Stats
}

// Stats counts what the last power loss did.
type Stats struct {
	DirtyPages, KeptPages, LostPages, TornPages int
	PendingDirOps, KeptDirOps                   int
}

var _ segmentstore.FS = (*FS)(nil)

// New returns an FS whose random choices follow seed.
func New(seed int64) *FS {
	return &FS{rng: rand.New(rand.NewSource(seed)), cur: map[string]*inode{}, durable: map[string]*inode{}}
}

func clean(p string) string { return filepath.Clean(p) }

// lookupLocked returns the inode for path, tracking an existing untracked
// file as durable. The caller holds f.mu.
func (f *FS) lookupLocked(path string) (*inode, error) {
	if ino, ok := f.cur[path]; ok {
		return ino, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ino := &inode{path: path, durable: b, dirtyLo: -1}
	f.cur[path] = ino
	f.durable[path] = ino
	return ino, nil
}

// OpenFile opens or creates a file. A creation is a pending directory
// change until the directory is fsynced.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (segmentstore.File, error) {
	name = clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	_, statErr := os.Stat(name)
	exists := statErr == nil
	if f.off && (!exists && flag&os.O_CREATE != 0 || flag&os.O_TRUNC != 0) {
		if f.vanish {
			return &file{fs: f, ino: &inode{dirtyLo: -1}, name: name}, nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrPowerOff}
	}
	// Opened for reading too, whatever the caller asked: an fsync reads
	// what became durable.
	osf, err := os.OpenFile(name, flag&^(os.O_WRONLY|os.O_RDONLY)|os.O_RDWR, perm)
	if err != nil {
		return nil, err
	}
	var ino *inode
	if exists {
		if ino, err = f.lookupLocked(name); err != nil {
			osf.Close()
			return nil, err
		}
		if flag&os.O_TRUNC != 0 {
			ino.mu.Lock()
			ino.truncated = true
			ino.mu.Unlock()
		}
	} else {
		ino = &inode{path: name, dirtyLo: -1}
		f.cur[name] = ino
		f.pending = append(f.pending, dirOp{dir: filepath.Dir(name), kind: opCreate, name: name, ino: ino})
	}
	return &file{fs: f, ino: ino, f: osf}, nil
}

// Remove removes a file (a pending directory change) or an empty directory.
func (f *FS) Remove(name string) error {
	name = clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.off {
		return f.offErrLocked(&fs.PathError{Op: "remove", Path: name, Err: ErrPowerOff})
	}
	ino, tracked := f.cur[name]
	if !tracked {
		if st, err := os.Stat(name); err == nil && !st.IsDir() {
			var lerr error
			if ino, lerr = f.lookupLocked(name); lerr != nil {
				return lerr
			}
			tracked = true
		}
	}
	var content []byte
	if tracked {
		content, _ = os.ReadFile(name)
	}
	if err := os.Remove(name); err != nil {
		return err
	}
	if tracked {
		ino.mu.Lock()
		ino.removedContent, ino.path = content, ""
		ino.mu.Unlock()
		delete(f.cur, name)
		f.pending = append(f.pending, dirOp{dir: filepath.Dir(name), kind: opRemove, name: name, ino: ino})
	}
	return nil
}

// Rename renames a file within its directory: a pending directory change.
func (f *FS) Rename(oldpath, newpath string) error {
	oldpath, newpath = clean(oldpath), clean(newpath)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.off {
		return f.offErrLocked(&os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: ErrPowerOff})
	}
	if filepath.Dir(oldpath) != filepath.Dir(newpath) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: errors.New("faultfs: rename across directories is not simulated")}
	}
	ino, err := f.lookupLocked(oldpath)
	if err != nil {
		return err
	}
	replaced := f.cur[newpath]
	if replaced != nil {
		c, _ := os.ReadFile(newpath)
		replaced.mu.Lock()
		replaced.removedContent, replaced.path = c, ""
		replaced.mu.Unlock()
	}
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	ino.mu.Lock()
	ino.path = newpath
	ino.mu.Unlock()
	delete(f.cur, oldpath)
	f.cur[newpath] = ino
	f.pending = append(f.pending, dirOp{dir: filepath.Dir(oldpath), kind: opRename, name: oldpath, newName: newpath, ino: ino, replaced: replaced})
	return nil
}

// MkdirAll creates directories; they are durable at once.
func (f *FS) MkdirAll(path string, perm fs.FileMode) error {
	f.mu.Lock()
	off := f.off
	f.mu.Unlock()
	if off {
		if _, err := os.Stat(path); err != nil {
			return &fs.PathError{Op: "mkdir", Path: path, Err: ErrPowerOff}
		}
	}
	return os.MkdirAll(path, perm)
}

// ReadDir lists the directory as the process sees it now.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// Stat describes the file as the process sees it now.
func (f *FS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// SyncDir makes every pending change to dir durable.
func (f *FS) SyncDir(dir string) error {
	dir = clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.off {
		return f.offErrLocked(&fs.PathError{Op: "sync", Path: dir, Err: ErrPowerOff})
	}
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	rest := f.pending[:0:0]
	for _, op := range f.pending {
		if op.dir == dir {
			applyDirOp(f.durable, op)
		} else {
			rest = append(rest, op)
		}
	}
	f.pending = rest
	return nil
}

// offErrLocked is err, or nil when changes vanish after the power loss.
func (f *FS) offErrLocked(err error) error {
	if f.vanish {
		return nil
	}
	return err
}

func applyDirOp(names map[string]*inode, op dirOp) {
	switch op.kind {
	case opCreate:
		names[op.name] = op.ino
	case opRemove:
		if names[op.name] == op.ino {
			delete(names, op.name)
		}
	case opRename:
		if names[op.name] == op.ino {
			delete(names, op.name)
		}
		names[op.newName] = op.ino
	}
}

// file is an open file of the FS.
type file struct {
	fs   *FS
	ino  *inode
	f    *os.File // nil for a file created after the power went out
	name string
}

var _ segmentstore.OSFile = (*file)(nil)

func (w *file) isOff() bool {
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	return w.fs.off
}

// offErr is the error of a change after the power loss: ErrPowerOff, or
// nil when changes vanish.
func (w *file) offErr(op string) error {
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if w.fs.vanish {
		return nil
	}
	return &fs.PathError{Op: op, Path: w.Name(), Err: ErrPowerOff}
}

var errGhost = errors.New("faultfs: file created after the power went out")

func (w *file) dirty(lo, hi int64) {
	w.ino.mu.Lock()
	if w.ino.dirtyLo < 0 || lo < w.ino.dirtyLo {
		w.ino.dirtyLo = lo
	}
	if hi > w.ino.dirtyHi {
		w.ino.dirtyHi = hi
	}
	w.ino.mu.Unlock()
}

func (w *file) Read(p []byte) (int, error) {
	if w.f == nil {
		return 0, io.EOF
	}
	return w.f.Read(p)
}

func (w *file) ReadAt(p []byte, off int64) (int, error) {
	if w.f == nil {
		return 0, io.EOF
	}
	return w.f.ReadAt(p, off)
}

func (w *file) Name() string {
	if w.f == nil {
		return w.name
	}
	return w.f.Name()
}

func (w *file) Stat() (fs.FileInfo, error) {
	if w.f == nil {
		return nil, &fs.PathError{Op: "stat", Path: w.name, Err: errGhost}
	}
	return w.f.Stat()
}

func (w *file) Close() error {
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}

// OSFile gives the real file to mmap; the file is then read whole at
// every fsync, since writes through the mapping bypass the FS. A file
// created after the power went out has none.
func (w *file) OSFile() *os.File {
	w.ino.mu.Lock()
	w.ino.mapped = true
	w.ino.mu.Unlock()
	return w.f
}

func (w *file) WriteAt(p []byte, off int64) (int, error) {
	if w.isOff() {
		if err := w.offErr("write"); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	w.dirty(off, off+int64(len(p)))
	return w.f.WriteAt(p, off)
}

func (w *file) Write(p []byte) (int, error) {
	if w.isOff() {
		if err := w.offErr("write"); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	pos, err := w.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	w.dirty(pos, pos+int64(len(p)))
	return w.f.Write(p)
}

func (w *file) Truncate(size int64) error {
	if w.isOff() {
		return w.offErr("truncate")
	}
	if w.f == nil {
		return nil
	}
	w.ino.mu.Lock()
	w.ino.truncated = true
	w.ino.mu.Unlock()
	return w.f.Truncate(size)
}

// Sync makes the file's content durable: what the real file holds now.
func (w *file) Sync() error {
	// The FS lock is held across the copy, so that PowerOff sees either
	// the state before this fsync or after it, never half of it.
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if w.fs.off {
		if w.fs.vanish {
			return nil
		}
		return &fs.PathError{Op: "sync", Path: w.Name(), Err: ErrPowerOff}
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	ino := w.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	st, err := w.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if ino.mapped || ino.truncated || ino.dirtyLo < 0 && int64(len(ino.durable)) != size {
		b := make([]byte, size)
		if _, err := w.f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		ino.durable = b
	} else if ino.dirtyLo >= 0 {
		d := ino.durable
		if int64(len(d)) < size {
			d = append(d, make([]byte, size-int64(len(d)))...)
		}
		d = d[:size]
		lo, hi := ino.dirtyLo, min(ino.dirtyHi, size)
		if lo < hi {
			if _, err := w.f.ReadAt(d[lo:hi], lo); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
		}
		ino.durable = d
	}
	ino.dirtyLo, ino.dirtyHi, ino.truncated = -1, 0, false
	return nil
}

// PowerOff cuts the power: from now on every change through the FS fails
// with ErrPowerOff, and the disk state after the loss is decided now (see
// the package documentation). Call Restart once the process under test
// has stopped.
func (f *FS) PowerOff() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.off {
		return f.stats
	}
	f.off = true
	f.stats = Stats{PendingDirOps: len(f.pending)}
	names := make(map[string]*inode, len(f.durable))
	for k, v := range f.durable {
		names[k] = v
	}
	keep := 0
	if len(f.pending) > 0 {
		keep = f.rng.Intn(len(f.pending) + 1)
	}
	f.stats.KeptDirOps = keep
	for _, op := range f.pending[:keep] {
		applyDirOp(names, op)
	}
	img := make(map[string][]byte, len(names))
	paths := make([]string, 0, len(names))
	for p := range names {
		paths = append(paths, p)
	}
	sort.Strings(paths) // deterministic for a seed
	for _, p := range paths {
		img[p] = f.crashContent(names[p])
	}
	f.image = img
	return f.stats
}

// crashContent is what the file of ino holds after the power loss.
func (f *FS) crashContent(ino *inode) []byte {
	ino.mu.Lock()
	defer ino.mu.Unlock()
	cur := ino.removedContent
	if ino.path != "" {
		b, err := os.ReadFile(ino.path)
		if err == nil {
			cur = b
		}
	}
	old := ino.durable
	size := len(cur)
	if len(old) != len(cur) {
		lo, hi := min(len(old), len(cur)), max(len(old), len(cur))
		switch f.rng.Intn(3) {
		case 0:
			size = len(old)
		case 1:
			size = len(cur)
		default:
			// A page boundary in between: the size reached the disk with
			// some of the pages.
			first := (lo + PageSize - 1) / PageSize
			last := hi / PageSize
			if last >= first {
				size = (first + f.rng.Intn(last-first+1)) * PageSize
			}
			size = min(max(size, lo), hi)
		}
	}
	out := make([]byte, size)
	at := func(b []byte, i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	for p := 0; p < size; p += PageSize {
		end := min(p+PageSize, size)
		same := true
		for i := p; i < end; i++ {
			if at(old, i) != at(cur, i) {
				same = false
				break
			}
		}
		if same {
			for i := p; i < end; i++ {
				out[i] = at(cur, i)
			}
			continue
		}
		f.stats.DirtyPages++
		switch f.rng.Intn(3) {
		case 0: // kept
			f.stats.KeptPages++
			for i := p; i < end; i++ {
				out[i] = at(cur, i)
			}
		case 1: // lost
			f.stats.LostPages++
			for i := p; i < end; i++ {
				out[i] = at(old, i)
			}
		default: // torn: some sectors new, some old
			f.stats.TornPages++
			for s := p; s < end; s += SectorSize {
				src := old
				if f.rng.Intn(2) == 0 {
					src = cur
				}
				for i := s; i < min(s+SectorSize, end); i++ {
					out[i] = at(src, i)
				}
			}
		}
	}
	return out
}

// Restart writes the disk state decided by PowerOff to the real files, once
// everything that used the FS has stopped, and turns the power back on:
// from then on the FS serves the restarted process, with every file on
// disk durable.
func (f *FS) Restart() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.off {
		return errors.New("faultfs: Restart without PowerOff")
	}
	for p := range f.cur {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("faultfs: restart: %w", err)
		}
	}
	for p := range f.durable {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("faultfs: restart: %w", err)
		}
	}
	f.cur, f.durable, f.pending = map[string]*inode{}, map[string]*inode{}, nil
	for p, b := range f.image {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("faultfs: restart: %w", err)
		}
		ino := &inode{path: p, durable: b, dirtyLo: -1}
		f.cur[p], f.durable[p] = ino, ino
	}
	f.image, f.off = nil, false
	return nil
}

// VanishAfterPowerOff makes changes after PowerOff succeed without
// touching the disk, instead of failing with ErrPowerOff. A process whose
// power went out does not see its writes fail: it stops. Code that cannot
// stop in a test process and treats a failed write as fatal (hashicorp/raft
// panics when it cannot persist its term) runs on, writing into nothing;
// the test must cut it off from its peers first, so that nothing it does
// after the power loss is seen.
func (f *FS) VanishAfterPowerOff() {
	f.mu.Lock()
	f.vanish = true
	f.mu.Unlock()
}

// IsOff reports whether the power is off.
func (f *FS) IsOff() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.off
}
