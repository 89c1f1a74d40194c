package consensus

import (
	"fmt"
	"os"
	"path/filepath"

	"actorlog/segmentstore"
)

// writeFileAtomic is writeFileAtomicFS on the operating system's files.
func writeFileAtomic(path string, data []byte) error {
	return writeFileAtomicFS(segmentstore.OSFS{}, path, data)
}

// writeFileAtomicFS replaces path with data so that after a crash the file
// holds either the old or the new content, never a mix: write a temp file
// beside it, fsync it, rename it over path, and fsync the directory so the
// rename itself is durable.
func writeFileAtomicFS(fsys segmentstore.FS, path string, data []byte) error {
	fsys = fsOr(fsys)
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
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
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("consensus: rename %s: %w", path, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("consensus: sync dir %s: %w", filepath.Dir(path), err)
	}
	return nil
}

// removeStaleTemp is removeStaleTempFS on the operating system's files.
func removeStaleTemp(path string) error { return removeStaleTempFS(segmentstore.OSFS{}, path) }

// removeStaleTempFS deletes a temp file left by a crash inside
// writeFileAtomicFS; the real file is still the last complete version.
func removeStaleTempFS(fsys segmentstore.FS, path string) error {
	if err := fsOr(fsys).Remove(path + ".tmp"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("consensus: remove stale %s.tmp: %w", path, err)
	}
	return nil
}

// fsOr returns fsys, or the operating system's file system when it is nil.
func fsOr(fsys segmentstore.FS) segmentstore.FS {
	if fsys == nil {
		return segmentstore.OSFS{}
	}
	return fsys
}

// WriteFileAtomic replaces path with data as the FSM writes its state: a
// crash leaves either the old or the new content.
func WriteFileAtomic(path string, data []byte) error { return writeFileAtomic(path, data) }
