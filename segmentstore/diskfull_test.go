package segmentstore_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory and
// unmounts it when the spec ends. The specs run as root (make test and CI
// do), which a mount needs.
func mountTmpfs(size string) string {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "mount a %s tmpfs on %s (needs root): %s", size, dir, out)
	DeferCleanup(func() {
		out, err := exec.Command("umount", dir).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "umount %s: %s", dir, out)
	})
	return dir
}

// fillDisk writes a file until the file system is full and returns its
// path; removing it frees the space.
func fillDisk(dir string) string {
	GinkgoHelper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			Expect(errors.Is(err, syscall.ENOSPC)).To(BeTrue(), "filling the disk: %v", err)
			break
		}
	}
	// The last partial chunk may have left a little room: fill it byte
	// by byte so the next append really finds none.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	return path
}

var _ = Describe("A log on a full disk", func() {
	for _, policy := range []segmentstore.SyncPolicy{segmentstore.SyncAlways, segmentstore.SyncInterval, segmentstore.SyncNone} {
		It("fails appends with a DiskFullError naming the file, keeps serving reads and every acknowledged record, and appends again once space is freed under sync "+policy.String(), func() {
			mnt := mountTmpfs("2m")
			dir := filepath.Join(mnt, "log")
			c := testConfig()
			c.Sync = policy
			c.MaxStoreBytes = 64 << 10
			c.MaxIndexBytes = 1024 * segmentstore.IndexEntryBytes
			l, err := segmentstore.Open(dir, c)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(l.Close)
			appendN(l, 100)
			Expect(l.Sync()).To(Succeed())
			filler := fillDisk(mnt)

			// Appends fail with a clear, typed error, and change nothing.
			var appendErr error
			before := l.NextOffset()
			for i := 0; i < 200 && appendErr == nil; i++ {
				next := l.NextOffset()
				if _, appendErr = l.Append(records(next, 8)...); appendErr == nil {
					appendErr = l.Flush()
				}
			}
			Expect(appendErr).To(MatchError(segmentstore.ErrDiskFull))
			Expect(errors.Is(appendErr, syscall.ENOSPC)).To(BeTrue())
			var dfe *segmentstore.DiskFullError
			Expect(errors.As(appendErr, &dfe)).To(BeTrue())
			Expect(dfe.Path).To(HavePrefix(dir))
			Expect(appendErr.Error()).To(ContainSubstring("disk full"))
			acked := l.NextOffset()
			Expect(acked).To(BeNumerically(">=", before))

			// Reads go on, and what was acknowledged is intact.
			for off := uint64(0); off < acked; off++ {
				expectRecord(l, off)
			}
			// Still full: still refused, still not sticky damage.
			_, err = l.Append(records(acked, 64)...)
			if err == nil {
				err = l.Flush()
			}
			Expect(err).To(MatchError(segmentstore.ErrDiskFull))
			Expect(l.NextOffset()).To(Equal(acked))

			// Space freed: appends succeed without reopening, across a
			// roll-over too.
			Expect(os.Remove(filler)).To(Succeed())
			appendN(l, 3000)
			Expect(l.Sync()).To(Succeed())
			Expect(len(l.Segments())).To(BeNumerically(">", 1))
			Expect(l.Close()).To(Succeed())

			l2 := mustOpen(dir, c)
			Expect(l2.NextOffset()).To(Equal(acked + 3000))
			for off := uint64(0); off < l2.NextOffset(); off++ {
				expectRecord(l2, off)
			}
		})
	}
})
