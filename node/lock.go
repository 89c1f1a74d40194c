package node

import (
	"errors"
	"fmt"

	"actorlog/segmentstore"
)

// lockDir takes the node's exclusive lock on its data directory (two nodes
// writing one directory would corrupt it), with segmentstore's directory
// lock, and reports a held lock as ErrLocked.
func lockDir(dir string) (*segmentstore.DirLock, error) {
	l, err := segmentstore.LockDir(dir)
	switch {
	case errors.Is(err, segmentstore.ErrLocked):
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	return l, nil
}
