package segmentstore

import (
	"errors"
	"os"
	"syscall"
)

// allocate reserves the blocks of f's first size bytes (fallocate), so
// that writing them through a memory mapping cannot fail for lack of space.
// A file system without fallocate is left as it is.
func allocate(f *os.File, size int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			return nil
		}
		return err
	}
}
