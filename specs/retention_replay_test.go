package specs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

type agentStatus struct {
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LowOffset    uint64 `json:"low_offset"`
	NextOffset   uint64 `json:"next_offset"`
}

func (a *agent) status() (agentStatus, error) {
	var st agentStatus
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(a.url("/v1/status"))
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/v1/status answered %d", resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// caughtUp waits until the agent has applied everything raft committed, so
// that whatever replay does has been done.
func (a *agent) caughtUp() agentStatus {
	GinkgoHelper()
	var st agentStatus
	Eventually(func() error {
		var err error
		if st, err = a.status(); err != nil {
			return err
		}
		if st.CommitIndex == 0 || st.AppliedIndex < st.CommitIndex {
			return fmt.Errorf("applied %d of %d", st.AppliedIndex, st.CommitIndex)
		}
		return nil
	}, 30*time.Second, 50*time.Millisecond).Should(Succeed())
	return st
}

var _ = Describe("Retention and restarts (docs/DESIGN.md, invariant 4)", func() {
	It("never append records again after retention deleted every one of them", func() {
		dir := GinkgoT().TempDir()
		// Retention by size deletes a sealed segment as soon as it is
		// sealed; by age it would do the same a little later.
		flags := []string{"--segment-bytes", "4096", "--retention-bytes", "1"}
		a := startAgent("ret1", dir, flags...)
		c := newClient(a)
		// 32 records of 96 bytes and 32 bytes of framing fill the first
		// segment exactly: it is sealed, and retention can delete it.
		for i := range 32 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := c.Produce(ctx, fmt.Appendf(nil, "r%02d-%092d", i, 0))
			cancel()
			Expect(err).NotTo(HaveOccurred())
		}
		Eventually(func() (uint64, error) {
			st, err := a.status()
			return st.LowOffset, err
		}, 30*time.Second, 100*time.Millisecond).Should(Equal(uint64(32)), "retention deletes every record")
		Expect(a.caughtUp().NextOffset).To(Equal(uint64(32)))
		c.Close()
		Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))

		By("restarting on the emptied log")
		for range 2 {
			a = startAgent("ret1", dir, flags...)
			st := a.caughtUp()
			Expect(st.NextOffset).To(Equal(uint64(32)), "replay must not append the deleted records again")
			Expect(a.session.Terminate().Wait(30 * time.Second)).To(gexec.Exit(0))
		}
	})
})
