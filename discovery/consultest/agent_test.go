package consultest_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/discovery/consultest"
)

// get returns the status code and body of a GET on the agent, or an error
// when nothing answers.
func get(addr, path string) (int, string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func leader(addr string) (string, error) {
	_, body, err := get(addr, "/v1/status/leader")
	if err != nil {
		return "", err
	}
	var l string
	err = json.Unmarshal([]byte(body), &l)
	return l, err
}

func register(addr, id string) {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/agent/service/register",
		strings.NewReader(`{"ID":"`+id+`","Name":"probe","Port":1}`))
	Expect(err).NotTo(HaveOccurred())
	resp, err := client.Do(req)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.Body.Close()).To(Succeed())
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
}

func serviceKnown(addr, id string) func() (int, error) {
	return func() (int, error) {
		code, _, err := get(addr, "/v1/agent/service/"+id)
		return code, err
	}
}

var _ = Describe("A Consul dev agent for tests", func() {
	var ctx context.Context

	BeforeEach(func() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		DeferCleanup(cancel)
	})

	It("starts on kernel-chosen loopback ports, with a leader, ready for registrations", func() {
		agent, err := consultest.Start(ctx, consultest.Options{LogOutput: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agent.Stop)

		p := agent.Ports()
		Expect([]int{p.HTTP, p.SerfLAN, p.Server}).NotTo(ContainElement(BeElementOf(8500, 8301, 8300)))
		Expect(p.HTTP).NotTo(BeElementOf(p.SerfLAN, p.Server))
		Expect(p.SerfLAN).NotTo(Equal(p.Server))
		Expect(agent.Addr()).To(HavePrefix("127.0.0.1:"))
		Expect(agent.Running()).To(BeTrue())

		// Start promised readiness: no Eventually here.
		Expect(leader(agent.Addr())).To(Equal(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Server))))
		register(agent.Addr(), "probe-1")
		code, body, err := get(agent.Addr(), "/v1/health/service/probe")
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK))
		Expect(body).To(ContainSubstring(`"probe-1"`))
	})

	It("stops idempotently, and nothing answers afterwards", func() {
		agent, err := consultest.Start(ctx, consultest.Options{LogOutput: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())

		Expect(agent.Stop()).To(Succeed())
		Expect(agent.Running()).To(BeFalse())
		_, _, err = get(agent.Addr(), "/v1/status/leader")
		Expect(err).To(MatchError(ContainSubstring("connection refused")))
		Expect(agent.Stop()).To(Succeed())
	})

	It("restarts on the same ports as an empty agent", func() {
		agent, err := consultest.Start(ctx, consultest.Options{LogOutput: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agent.Stop)
		addr, ports := agent.Addr(), agent.Ports()
		register(addr, "probe-1")
		Expect(serviceKnown(addr, "probe-1")()).To(Equal(http.StatusOK))

		Expect(agent.Restart(ctx)).To(Succeed())

		Expect(agent.Addr()).To(Equal(addr))
		Expect(agent.Ports()).To(Equal(ports))
		Expect(leader(addr)).NotTo(BeEmpty())
		Expect(serviceKnown(addr, "probe-1")()).To(Equal(http.StatusNotFound))
	})

	It("reserves its address before it starts, for clients that come up first", func() {
		agent, err := consultest.New(consultest.Options{LogOutput: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agent.Stop)
		Expect(agent.Running()).To(BeFalse())
		_, _, err = get(agent.Addr(), "/v1/status/leader")
		Expect(err).To(MatchError(ContainSubstring("connection refused")))

		// Held, not just noted: nothing else can take the port meanwhile.
		_, err = net.Listen("tcp", agent.Addr())
		Expect(err).To(MatchError(ContainSubstring("address already in use")))

		Expect(agent.Start(ctx)).To(Succeed())
		Expect(leader(agent.Addr())).NotTo(BeEmpty())
		Expect(agent.Start(ctx)).To(MatchError(consultest.ErrRunning))
	})

	It("reports an agent that dies at start with its output, without waiting for the timeout", func() {
		agent, err := consultest.New(consultest.Options{LogOutput: GinkgoWriter, StartTimeout: time.Minute})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agent.Stop)
		// Stop on an agent that never ran lets go of its ports.
		Expect(agent.Stop()).To(Succeed())
		squatter, err := net.Listen("tcp", agent.Addr())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(squatter.Close)

		start := time.Now()
		err = agent.Start(ctx)
		Expect(err).To(MatchError(consultest.ErrExited))
		Expect(err).To(MatchError(ContainSubstring("address already in use")))
		Expect(time.Since(start)).To(BeNumerically("<", 20*time.Second))
		Expect(agent.Running()).To(BeFalse())
	})

	It("fails, never skips, when the binary is missing, and says how to build it", func() {
		_, err := consultest.Start(ctx, consultest.Options{Binary: "/nonexistent/consul"})
		Expect(err).To(MatchError(consultest.ErrBinaryNotFound))
		Expect(err).To(MatchError(ContainSubstring("make consul")))

		GinkgoT().Setenv(consultest.BinaryEnv, "/nonexistent/consul")
		_, err = consultest.FindBinary()
		Expect(err).To(MatchError(consultest.ErrBinaryNotFound))
		Expect(err).To(MatchError(ContainSubstring("make consul")))
	})
})
