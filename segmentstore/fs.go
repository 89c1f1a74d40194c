package segmentstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// File is what the package needs of an open file. *os.File implements it,
// and it is what the default FS returns, so the real path costs one
// interface call and nothing else.
type File interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.WriterAt
	Name() string
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

// FS is the file system a Segment or Log works on: every file it creates,
// writes, fsyncs, renames or deletes goes through it. The default (a nil
// Config.FS) is the operating system's. Tests put a layer here that
// remembers what was written but not fsynced and can drop it, the way a
// power loss does (see package segmentstore/faultfs).
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir fsyncs the directory, making the names created, renamed or
	// removed in it durable.
	SyncDir(dir string) error
}

// OSFS is the operating system's file system, the default FS.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile is os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil *os.File must not become a non-nil File
	}
	return f, nil
}

// Remove is os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename is os.Rename.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// MkdirAll is os.MkdirAll.
func (OSFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }

// ReadDir is os.ReadDir.
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// Stat is os.Stat.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// SyncDir opens dir and fsyncs it.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// OSFile is implemented by a File that wraps an *os.File, so that the
// index can be memory-mapped through a wrapping FS.
type OSFile interface {
	OSFile() *os.File
}

// osFileOf returns the operating system file behind f, for mmap.
func osFileOf(f File) (*os.File, error) {
	switch v := f.(type) {
	case *os.File:
		return v, nil
	case OSFile:
		return v.OSFile(), nil
	}
	return nil, fmt.Errorf("segmentstore: map %s: %w", f.Name(), errNotMappable)
}

var errNotMappable = errors.New("the FS's files cannot be memory-mapped (File must be an *os.File or implement OSFile)")

// fsOr returns fsys, or the operating system's when it is nil.
func fsOr(fsys FS) FS {
	if fsys == nil {
		return OSFS{}
	}
	return fsys
}
