package node

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Runtime profiles", func() {
	get := func(url string) (int, string) {
		GinkgoHelper()
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(url)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		return resp.StatusCode, string(b)
	}

	It("are off by default, and the HTTP API does not serve them", func() {
		n := startNode(testConfig())
		Expect(n.PprofAddr()).To(BeEmpty())
		status, _ := get("http://" + n.HTTPAddr() + "/debug/pprof/")
		Expect(status).To(Equal(http.StatusNotFound))
	})

	It("are served on their own listener when PprofAddr is set, until the node stops", func() {
		cfg := testConfig()
		cfg.PprofAddr = "127.0.0.1:0"
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		n, err := Start(ctx, cfg)
		Expect(err).NotTo(HaveOccurred())
		addr := n.PprofAddr()
		Expect(addr).NotTo(BeEmpty())
		Expect(addr).NotTo(Equal(n.HTTPAddr()))

		status, body := get("http://" + addr + "/debug/pprof/goroutine?debug=1")
		Expect(status).To(Equal(http.StatusOK))
		Expect(body).To(ContainSubstring("goroutine profile:"))
		status, body = get("http://" + addr + "/debug/pprof/profile?seconds=1")
		Expect(status).To(Equal(http.StatusOK))
		Expect(body).NotTo(BeEmpty())

		Expect(n.Stop(ctx)).To(Succeed())
		_, err = net.DialTimeout("tcp", addr, time.Second)
		Expect(err).To(HaveOccurred(), "the profile listener outlived the node")
	})
})
