package consensus

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeFileAtomic replaces path with data so that after a crash the file
// holds either the old or the new content, never a mix: write a temp file
// beside it, fsync it, rename it over path, and fsync the directory so the
// rename itself is durable.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("consensus: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("consensus: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("consensus: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("consensus: close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("consensus: rename %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// removeStaleTemp deletes a temp file left by a crash inside
// writeFileAtomic; the real file is still the last complete version.
func removeStaleTemp(path string) error {
	if err := os.Remove(path + ".tmp"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("consensus: remove stale %s.tmp: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("consensus: open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("consensus: sync dir %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic replaces path with data as the FSM writes its state: a
// crash leaves either the old or the new content.
func WriteFileAtomic(path string, data []byte) error { return writeFileAtomic(path, data) }
