package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory and
// unmounts it when the spec ends (specs run as root, as make test does).
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

// fillDisk writes a file until the file system is full; removing it frees
// the space.
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
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	return path
}

var _ = Describe("A node whose disk fills up", func() {
	It("refuses produce with a clear error naming the disk, keeps serving reads and what it acknowledged, and takes writes again once space is freed, without a restart", func() {
		mnt := mountTmpfs("64m")
		cfg := testConfig()
		cfg.DataDir = filepath.Join(mnt, "data")
		n := startNode(cfg)
		base := "http://" + n.HTTPAddr()
		produce := func(v string) (int, map[string]any) {
			return httpDo("POST", base+"/v1/records", fmt.Sprintf(`{"records":[{"value":%q}]}`, base64.StdEncoding.EncodeToString([]byte(v))))
		}
		value := func(i int) string { return fmt.Sprintf("record-%d-%s", i, strings.Repeat("x", 1000)) }
		for i := 0; i < 20; i++ {
			Eventually(func() int { code, _ := produce(value(i)); return code }, 10*time.Second).Should(Equal(http.StatusOK))
		}
		filler := fillDisk(mnt)

		// Writes into pages that the files already hold may still fit.
		acked := 20
		var (
			code int
			out  map[string]any
		)
		for i := 0; i < 500; i++ {
			if code, out = produce(value(acked)); code != http.StatusOK {
				break
			}
			acked++
		}
		GinkgoWriter.Printf("produce on a full disk, after %d more: %d %v\n", acked-20, code, out)
		Expect(code).To(Or(Equal(http.StatusServiceUnavailable), Equal(http.StatusInsufficientStorage)), "%v", out)
		Expect(fmt.Sprint(out)).To(ContainSubstring("disk full"))
		Expect(fmt.Sprint(out)).To(ContainSubstring(mnt))

		By("serving reads of what it acknowledged")
		status, got := httpDo("GET", base+"/v1/records?offset=0&max=100", "")
		Expect(status).To(Equal(http.StatusOK), "%v", got)
		recs, _ := got["records"].([]any)
		Expect(recs).To(HaveLen(acked))
		for i, r := range recs {
			Expect(r).To(HaveKeyWithValue("value", base64.StdEncoding.EncodeToString([]byte(value(i)))))
		}
		status, _ = httpDo("GET", base+"/healthz", "")
		GinkgoWriter.Printf("healthz on a full disk: %d\n", status)

		By("taking writes again once space is freed")
		Expect(os.Remove(filler)).To(Succeed())
		Eventually(func() int { code, _ := produce(value(acked)); return code }, 30*time.Second, 200*time.Millisecond).Should(Equal(http.StatusOK))
		status, got = httpDo("GET", base+"/v1/records?offset=0&max=100", "")
		Expect(status).To(Equal(http.StatusOK))
		recs, _ = got["records"].([]any)
		Expect(len(recs)).To(BeNumerically(">=", acked+1))
		_ = context.Background
	})
})
