package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A data directory that left its cluster, or began to, never rejoins it
// unasked (leave.go): the marker's phase decides what Rejoin keeps.
var _ = Describe("Starting a data directory that left its cluster", func() {
	var cfg Config

	// withRecords runs a node on a fresh directory, appends three records
	// and stops it, as a node that then leaves would hold them.
	withRecords := func() {
		GinkgoHelper()
		cfg = testConfig()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n, err := Start(ctx, cfg)
		Expect(err).NotTo(HaveOccurred())
		for i := range 3 {
			status, _ := httpDo("POST", "http://"+n.HTTPAddr()+"/v1/records",
				fmt.Sprintf(`{"records":[{"value":%q}]}`, base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "r%d", i))))
			Expect(status).To(Equal(http.StatusOK))
		}
		Expect(n.Stop(ctx)).To(Succeed())
	}
	startErr := func(cfg Config) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n, err := Start(ctx, cfg)
		if err == nil {
			_ = n.Stop(ctx)
		}
		return err
	}
	nextOffset := func(n *Node) float64 {
		GinkgoHelper()
		status, out := httpDo("GET", "http://"+n.HTTPAddr()+"/v1/status", "")
		Expect(status).To(Equal(http.StatusOK))
		return out["next_offset"].(float64)
	}

	It("refuses to start after a confirmed leave, and with Rejoin drops the stale copy and waits to be added", func() {
		withRecords()
		Expect(writeLeftMarker(cfg.DataDir, &leftMarker{ID: cfg.ID, Phase: phaseLeft, Since: time.Now()})).To(Succeed())
		err := startErr(cfg)
		Expect(errors.Is(err, ErrLeft)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("left its cluster"))

		cfg.Rejoin = true
		n := startNode(cfg)
		Expect(nextOffset(n)).To(BeZero(), "the records of the stale copy are dropped")
		Expect(n.Ready()).To(MatchError(ErrNotReady), "a new member waits to be added; it does not bootstrap")
		_, err = os.Stat(leftMarkerPath(cfg.DataDir))
		Expect(os.IsNotExist(err)).To(BeTrue())
	})

	It("refuses to start after an unconfirmed leave, and with Rejoin keeps the log of what may still be a voter", func() {
		withRecords()
		Expect(writeLeftMarker(cfg.DataDir, &leftMarker{ID: cfg.ID, Phase: phaseLeaving, Since: time.Now()})).To(Succeed())
		err := startErr(cfg)
		Expect(errors.Is(err, ErrLeft)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("began to leave"))

		cfg.Rejoin = true
		n := startNode(cfg)
		Expect(nextOffset(n)).To(BeNumerically("==", 3))
		Eventually(n.Ready, 10*time.Second).Should(Succeed(), "the only voter of its configuration leads again")
		_, err = os.Stat(leftMarkerPath(cfg.DataDir))
		Expect(os.IsNotExist(err)).To(BeTrue())
	})

	It("takes a damaged marker for an unconfirmed leave", func() {
		withRecords()
		Expect(os.WriteFile(leftMarkerPath(cfg.DataDir), []byte("{not json"), 0o644)).To(Succeed())
		cfg.Rejoin = true
		n := startNode(cfg)
		Expect(nextOffset(n)).To(BeNumerically("==", 3))
	})
})
