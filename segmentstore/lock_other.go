//go:build !unix

package segmentstore

const lockFileName = "LOCK"

// DirLock is a no-op where flock is not available.
type DirLock struct{}

// LockDir does nothing where flock is not available.
func LockDir(string) (*DirLock, error) { return &DirLock{}, nil }

// Unlock does nothing where flock is not available.
func (*DirLock) Unlock() error { return nil }
