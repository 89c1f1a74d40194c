package node

import (
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("A node's data directory", func() {
	It("turns the node unhealthy on /healthz when the directory's contents are wiped", func() {
		cfg := testConfig()
		n := startNode(cfg)
		base := "http://" + n.HTTPAddr()
		Eventually(n.Ready).WithTimeout(30 * time.Second).Should(Succeed())
		status, _ := httpDo("GET", base+"/healthz", "")
		Expect(status).To(Equal(http.StatusOK))

		entries, err := os.ReadDir(cfg.DataDir)
		Expect(err).NotTo(HaveOccurred())
		for _, e := range entries {
			// The running node may create a file in a directory being
			// removed (a snapshot, a state file): remove again until gone.
			Eventually(func() error { return os.RemoveAll(filepath.Join(cfg.DataDir, e.Name())) }).Should(Succeed())
		}

		Expect(n.Healthy()).To(MatchError(ErrUnhealthy))
		Expect(n.Healthy()).To(MatchError(ContainSubstring("data directory lost")))
		status, out := httpDo("GET", base+"/healthz", "")
		Expect(status).To(Equal(http.StatusServiceUnavailable))
		Expect(out["status"]).To(Equal("unhealthy"))
		Expect(out["reason"]).To(ContainSubstring("data directory lost"))
		status, _ = httpDo("GET", base+"/readyz", "")
		Expect(status).To(Equal(http.StatusServiceUnavailable))
	})

	It("turns the node unhealthy when the directory is replaced by an empty one", func() {
		cfg := testConfig()
		cfg.DataDir = filepath.Join(GinkgoT().TempDir(), "data")
		n := startNode(cfg)
		Expect(n.Healthy()).To(Succeed())

		Expect(os.Rename(cfg.DataDir, cfg.DataDir+".old")).To(Succeed())
		Expect(os.MkdirAll(filepath.Join(cfg.DataDir, logDirName), 0o755)).To(Succeed())

		Expect(n.Healthy()).To(MatchError(ContainSubstring("was replaced while the node ran")))
	})
})

var _ = Describe("AdvertisedRaftAddr", func() {
	It("is the raft address the node reports and publishes, kept as a name", func() {
		cfg := testConfig()
		cfg.AdvertisedRaftAddr = "localhost:7999"
		n := startNode(cfg)
		Expect(n.RaftAddr()).To(Equal("localhost:7999"))
		Eventually(n.Ready).WithTimeout(30 * time.Second).Should(Succeed())
		var servers []map[string]any
		Expect(getJSON("http://"+n.HTTPAddr()+"/v1/servers", &servers)).To(Equal(http.StatusOK))
		Expect(servers).To(ConsistOf(HaveKeyWithValue("raft_address", "localhost:7999")))
	})

	It("must be host:port with a port", func() {
		cfg := testConfig()
		for _, bad := range []string{"localhost", "localhost:0", "a:b:c"} {
			cfg.AdvertisedRaftAddr = bad
			Expect(cfg.Validate()).To(MatchError(ContainSubstring("AdvertisedRaftAddr")), bad)
		}
	})
})
