package node

import (
	"errors"
	"fmt"

	"actorlog/actors"
)

// lockDir takes the node's exclusive lock on its data directory (two nodes
// writing one directory would corrupt it), with the record log's directory
// lock, and reports a held lock as ErrLocked.
func lockDir(dir string) (*actors.DirLock, error) {
	l, err := actors.LockDir(dir)
	switch {
	case errors.Is(err, actors.ErrDirLocked):
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	return l, nil
}
