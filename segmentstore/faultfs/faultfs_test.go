package faultfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"actorlog/segmentstore/faultfs"
)

func write(t *testing.T, fsys *faultfs.FS, path string, data []byte, sync bool) {
	t.Helper()
	f, err := fsys.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if _, err := f.WriteAt(data, st.Size()); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

// Whatever the seed, fsynced bytes under a durable name survive, and the
// unsynced tail is cut or kept page by page, never anything else.
func TestPowerOffKeepsWhatWasFsynced(t *testing.T) {
	for seed := int64(0); seed < 200; seed++ {
		dir := t.TempDir()
		fsys := faultfs.New(seed)
		p := filepath.Join(dir, "f")
		synced := bytes.Repeat([]byte("s"), 5000)
		write(t, fsys, p, synced, true)
		if err := fsys.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		tail := bytes.Repeat([]byte("u"), 3*faultfs.PageSize)
		write(t, fsys, p, tail, false)
		fsys.PowerOff()
		if _, err := fsys.OpenFile(filepath.Join(dir, "g"), os.O_CREATE|os.O_RDWR, 0o644); !errors.Is(err, faultfs.ErrPowerOff) {
			t.Fatalf("seed %d: a change after the power loss gave %v", seed, err)
		}
		if err := fsys.Restart(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(got) < len(synced) || !bytes.Equal(got[:len(synced)], synced) {
			t.Fatalf("seed %d: fsynced bytes lost (%d bytes left)", seed, len(got))
		}
		for i, b := range got[len(synced):] {
			if b != 'u' && b != 0 {
				t.Fatalf("seed %d: byte %d of the tail is %q: neither written nor zero", seed, i, b)
			}
		}
	}
}

// A rename is lost or kept, never half made; after a directory fsync it
// is kept.
func TestRenameIsDurableOnlyAfterSyncDir(t *testing.T) {
	lost, kept := 0, 0
	for seed := int64(0); seed < 100; seed++ {
		dir := t.TempDir()
		fsys := faultfs.New(seed)
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		write(t, fsys, a, []byte("old"), true)
		if err := fsys.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		write(t, fsys, a+".tmp", []byte("new"), true)
		if err := fsys.Rename(a+".tmp", a); err != nil {
			t.Fatal(err)
		}
		write(t, fsys, b, []byte("b"), true)
		if seed%2 == 1 {
			if err := fsys.SyncDir(dir); err != nil {
				t.Fatal(err)
			}
		}
		fsys.PowerOff()
		if err := fsys.Restart(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(a)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		switch string(got) {
		case "old":
			lost++
			if seed%2 == 1 {
				t.Fatalf("seed %d: a rename made durable by SyncDir was lost", seed)
			}
		case "new":
			kept++
		default:
			t.Fatalf("seed %d: a holds %q", seed, got)
		}
		if _, err := os.Stat(b); err == nil && string(got) == "old" {
			t.Fatalf("seed %d: a later creation survived an earlier rename that did not", seed)
		}
	}
	if lost == 0 || kept == 0 {
		t.Fatalf("renames lost %d, kept %d: both must happen", lost, kept)
	}
}
