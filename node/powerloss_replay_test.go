package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"actorlog/segmentstore"
	"actorlog/segmentstore/faultfs"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Under --sync always in data format 2 a produce waits for one fsync, the
// raft log's: the record log, which holds only offsets and references, is
// fsynced every SyncInterval (recordLogStorage). These specs show that a
// power loss does take references the record log had not fsynced, and that
// raft's replay writes them again, so no acknowledged record is lost.
var _ = Describe("A format 2 node under --sync always losing power", func() {
	type page struct {
		Records []struct {
			Offset uint64 `json:"offset"`
			Value  []byte `json:"value"`
		} `json:"records"`
		NextOffset uint64 `json:"next_offset"`
	}

	It("rebuilds the record log's unsynced tail from the raft log", func() {
		const records = 120
		seed := GinkgoRandomSeed()
		fsys := faultfs.New(seed)
		fsys.VanishAfterPowerOff()
		cfg := testConfig()
		Expect(cfg.DataFormat).To(Equal(DataFormat2))
		cfg.Storage.Sync = segmentstore.SyncAlways
		// Long enough that the record log is fsynced by nothing but what
		// must fsync it (a seal, a snapshot's state file) during the spec.
		cfg.Storage.SyncInterval = time.Hour
		cfg.Storage.FS = fsys

		lostOnce := false
		want := map[uint64]string{}
		for round := 0; round < 5 && !lostOnce; round++ {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			n, err := Start(ctx, cfg)
			cancel()
			Expect(err).NotTo(HaveOccurred(), "round %d (seed %d)", round, seed)
			cfg.HTTPAddr, cfg.ActorAddr, cfg.RaftAddr = n.HTTPAddr(), n.ActorAddr(), n.RaftAddr()
			cfg.Bootstrap = false
			base := "http://" + n.HTTPAddr()
			Eventually(func() string { return nodeStatus(n).LeaderID }, 30*time.Second, 20*time.Millisecond).ShouldNot(BeEmpty())

			for i := 0; i < records; i++ {
				v := fmt.Sprintf("round %d record %03d", round, i)
				code, body := httpDo(http.MethodPost, base+"/v1/records",
					`{"records":[{"value":"`+base64.StdEncoding.EncodeToString([]byte(v))+`"}]}`)
				Expect(code).To(Equal(http.StatusOK), "%v", body)
				want[uint64(body["offsets"].([]any)[0].(float64))] = v
			}

			fsys.PowerOff()
			ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
			_ = n.Stop(ctx)
			cancel()
			Expect(fsys.Restart()).To(Succeed())

			// What the record log kept through the power loss, before the
			// node starts and replays: its recovery keeps a prefix.
			onDisk := cfg.Storage
			onDisk.FS = nil // the files as the power loss left them
			lg, err := segmentstore.Open(filepath.Join(cfg.DataDir, logDirName), onDisk)
			Expect(err).NotTo(HaveOccurred())
			kept := lg.NextOffset()
			Expect(lg.Close()).To(Succeed())
			if kept < uint64(len(want)) {
				lostOnce = true
				AddReportEntry("record log after a power loss", ReportEntryVisibilityAlways,
					fmt.Sprintf("round %d: kept %d of %d acknowledged records' references", round, kept, len(want)))
			}

			ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
			n, err = Start(ctx, cfg)
			cancel()
			Expect(err).NotTo(HaveOccurred(), "round %d (seed %d): restart after the power loss", round, seed)
			base = "http://" + n.HTTPAddr()
			Eventually(func(g Gomega) {
				var got page
				g.Expect(getJSON(base+"/v1/records?offset=0&max=100000", &got)).To(Equal(http.StatusOK))
				g.Expect(got.Records).To(HaveLen(len(want)))
				for i, r := range got.Records {
					g.Expect(r.Offset).To(BeEquivalentTo(i), "offsets are dense")
					g.Expect(string(r.Value)).To(Equal(want[r.Offset]), "offset %d", r.Offset)
				}
			}, 30*time.Second, 50*time.Millisecond).Should(Succeed(), "round %d (seed %d): every acknowledged record is back", round, seed)
			ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
			Expect(n.Stop(ctx)).To(Succeed())
			cancel()
		}
		Expect(lostOnce).To(BeTrue(), "in five power losses the record log never lost a reference it had acknowledged: is it still fsynced on every append?")
	})
})
