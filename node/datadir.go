package node

import (
	"fmt"
	"os"
	"path/filepath"
)

// dataDirWatch notices a data directory that was removed or replaced under
// a running node. The node keeps its files open, so writes to an unlinked
// directory still succeed and nothing else would fail: the data would be
// gone at the next restart while the node kept reporting itself healthy.
// In a container this is what an operator sees after wiping or remounting
// the data volume; the health check must say so (README.md, "Metrics and
// health").
type dataDirWatch struct {
	paths []string
	infos []os.FileInfo
}

// watchDataDir records the identity (device and inode) of the data
// directory and of its log subdirectory.
func watchDataDir(dataDir, logDir string) (*dataDirWatch, error) {
	w := &dataDirWatch{paths: []string{dataDir, logDir}}
	for _, p := range w.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStart, err)
		}
		w.infos = append(w.infos, fi)
	}
	return w, nil
}

// check returns an error wrapping ErrUnhealthy when a watched directory is
// missing or is no longer the one the node opened.
func (w *dataDirWatch) check() error {
	if w == nil {
		return nil
	}
	for i, p := range w.paths {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			return fmt.Errorf("%w: data directory lost: %w", ErrUnhealthy, err)
		case !os.SameFile(fi, w.infos[i]):
			return fmt.Errorf("%w: data directory lost: %s was replaced while the node ran", ErrUnhealthy, filepath.Clean(p))
		}
	}
	return nil
}
