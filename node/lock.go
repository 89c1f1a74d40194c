package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the file in DataDir that a running node holds an
// exclusive flock on: two nodes writing one directory would corrupt it.
const lockFileName = "LOCK"

type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: lock %s: %v", ErrStart, dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("%w: lock %s: %v", ErrStart, dir, err)
	}
	return &dirLock{f: f}, nil
}

// unlock releases the lock: closing the file drops the flock.
func (l *dirLock) unlock() error { return l.f.Close() }
