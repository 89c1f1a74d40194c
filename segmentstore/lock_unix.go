//go:build unix

package segmentstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the file a Log (or any LockDir caller) holds an
// exclusive flock on. The lock is per open file, so it also stops a second
// holder of the same directory in the same process.
const lockFileName = "LOCK"

// DirLock is an exclusive lock on a directory, held until Unlock.
type DirLock struct{ f *os.File }

// LockDir takes an exclusive, non-blocking lock on dir, so that two
// processes (or two owners in one process) never write one directory. A
// directory held by someone else gives an error matching ErrLocked.
func LockDir(dir string) (*DirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segmentstore: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("segmentstore: lock %s: %w", dir, err)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock; closing the file drops the flock.
func (l *DirLock) Unlock() error { return l.f.Close() }
