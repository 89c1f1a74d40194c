package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("A damaged record in a sealed segment of the record log", func() {
	// Issue 13: one flipped bit in the last record of sealed segment 0 used
	// to cut that record off as a torn tail (the file shrank from 4096 to
	// 3968 bytes), which left a gap before segment 1 that made every record
	// of the segment unreadable across restarts and /healthz 503.
	It("is reported, never cut: the file keeps its size and every other record stays readable across restarts", func() {
		cfg := testConfig()
		cfg.Storage.Sync = segmentstore.SyncAlways
		cfg.Storage.MaxStoreBytes = segmentstore.MinMaxStoreBytes // 32 frames of 128 bytes
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		n, err := Start(ctx, cfg)
		Expect(err).NotTo(HaveOccurred())
		base := "http://" + n.HTTPAddr()
		value := func(i int) string {
			v := fmt.Sprintf("record-%03d-", i)
			return v + strings.Repeat("v", 128-segmentstore.FrameOverhead-len(v))
		}
		const total = 40
		for i := 0; i < total; i++ {
			status, out := httpDo("POST", base+"/v1/records", fmt.Sprintf(`{"records":[{"value":%q}]}`, base64.StdEncoding.EncodeToString([]byte(value(i)))))
			Expect(status).To(Equal(http.StatusOK), "%v", out)
		}
		Expect(n.Stop(ctx)).To(Succeed())

		store := filepath.Join(cfg.DataDir, logDirName, segmentstore.SegmentFileName(0, ".store"))
		Expect(fileSizeOf(store)).To(BeEquivalentTo(4096))
		f, err := os.OpenFile(store, os.O_RDWR, 0)
		Expect(err).NotTo(HaveOccurred())
		b := []byte{0}
		_, err = f.ReadAt(b, 4096-10)
		Expect(err).NotTo(HaveOccurred())
		b[0] ^= 0x04
		_, err = f.WriteAt(b, 4096-10)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Close()).To(Succeed())

		for restart := 0; restart < 2; restart++ {
			n = startNode(cfg)
			base = "http://" + n.HTTPAddr()
			readOne := func(off int) (int, map[string]any) {
				return httpDo("GET", fmt.Sprintf("%s/v1/records?offset=%d&max=1", base, off), "")
			}
			Eventually(func(g Gomega) {
				status, out := readOne(0)
				g.Expect(status).To(Equal(http.StatusOK), "%v", out)
			}, 20*time.Second).Should(Succeed())
			for i := 0; i < total; i++ {
				status, out := readOne(i)
				if i == 31 {
					Expect(status).NotTo(Equal(http.StatusOK), "the damaged record is never served: %v", out)
					Expect(fmt.Sprint(out)).To(ContainSubstring("corrupt"))
					continue
				}
				Expect(status).To(Equal(http.StatusOK), "offset %d: %v", i, out)
				recs, _ := out["records"].([]any)
				Expect(recs).To(HaveLen(1))
				Expect(recs[0]).To(HaveKeyWithValue("value", base64.StdEncoding.EncodeToString([]byte(value(i)))))
			}
			Expect(fileSizeOf(store)).To(BeEquivalentTo(4096), "the sealed segment was cut")
			status, out := httpDo("GET", base+"/healthz", "")
			Expect(status).To(Equal(http.StatusOK), "%v", out)
			Expect(n.Stop(ctx)).To(Succeed())
		}
	})
})

func fileSizeOf(path string) int64 {
	GinkgoHelper()
	st, err := os.Stat(path)
	Expect(err).NotTo(HaveOccurred())
	return st.Size()
}
