package specs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"actorlog/certs"
	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// certSet is a directory written by `actorlog certs`.
type certSet string

func makeCerts(dir string, args ...string) certSet {
	GinkgoHelper()
	s := cli(nil, append([]string{"certs", "--dir", dir}, args...)...)
	Eventually(s, 30*time.Second).Should(gexec.Exit(0))
	return certSet(dir)
}

func (s certSet) file(name string) string { return filepath.Join(string(s), name) }

// files are the TLS files of one certificate of the set.
func (s certSet) files(name string) certs.Files {
	return certs.Files{Cert: s.file(name + ".pem"), Key: s.file(name + "-key.pem"), CA: s.file("ca.pem")}
}

// flags are the --tls-* flags for one certificate of the set.
func (s certSet) flags(name string) []string {
	f := s.files(name)
	return []string{"--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", f.CA}
}

// httpsClient speaks to a node's HTTP API trusting the CA of set, with the
// client certificate name of present when present is not "".
func httpsClient(set certSet, present certSet, name string) *http.Client {
	GinkgoHelper()
	caPEM, err := os.ReadFile(set.file("ca.pem"))
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM(caPEM)).To(BeTrue())
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if name != "" {
		pair, err := tls.LoadX509KeyPair(present.file(name+".pem"), present.file(name+"-key.pem"))
		Expect(err).NotTo(HaveOccurred())
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// do sends one request and returns the status and body.
func do(hc *http.Client, method, url string, body []byte) (int, string, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

// tlsClient connects a Go client with the given TLS configuration (nil:
// plaintext). Clients with different TLS settings do not share a
// listener, so each is closed before the next starts.
func tlsClient(servers []string, cfg *tls.Config) (*client.Client, error) {
	c := client.DefaultConfig()
	c.Servers = servers
	c.TLS = cfg
	c.Logger = clientLog
	c.Timeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return client.New(ctx, c)
}

func loadTLS(f certs.Files) *tls.Config {
	GinkgoHelper()
	cfg, err := certs.Load(f)
	Expect(err).NotTo(HaveOccurred())
	return cfg
}

var _ = Describe("Mutual TLS and authorisation", Ordered, func() {
	var (
		ours, other certSet
		n1, n2      *agent
		admin       *http.Client
	)

	servers := func(a *agent) []string {
		GinkgoHelper()
		code, body, err := do(admin, http.MethodGet, "https://"+a.httpAddr+"/v1/servers", nil)
		if err != nil || code != http.StatusOK {
			return nil
		}
		var list []struct {
			ID string `json:"id"`
		}
		Expect(json.Unmarshal([]byte(body), &list)).To(Succeed())
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		return ids
	}

	BeforeAll(func() {
		tmp := GinkgoT().TempDir()
		ours = makeCerts(filepath.Join(tmp, "ours"), "--nodes", "2")
		other = makeCerts(filepath.Join(tmp, "other"), "--node", "n3")
		nodeFlags := func(id string) []string {
			return append(ours.flags(id), "--acl-policy", ours.file("policy.csv"))
		}
		n1 = startAgent("n1", filepath.Join(tmp, "n1"), nodeFlags("n1")...)
		n2 = startAgent("n2", filepath.Join(tmp, "n2"), append(nodeFlags("n2"), "--join", n1.actorAddr)...)
		admin = httpsClient(ours, ours, "root")
		// Raft runs over TLS with node certificates: n2 joins.
		Eventually(func() []string { return servers(n1) }, 60*time.Second, 200*time.Millisecond).Should(ConsistOf("n1", "n2"))
	})

	It("refuses clients without a certificate or with another CA's, on the remote port and over HTTP", func() {
		addrs := []string{n1.actorAddr, n2.actorAddr}

		By("the Go client without TLS is told the node requires it")
		_, err := tlsClient(addrs, nil)
		Expect(err).To(MatchError(client.ErrTLSRequired))

		By("the Go client with another CA's certificate and CA cannot complete the handshake")
		_, err = tlsClient(addrs, loadTLS(other.files("root")))
		Expect(err).To(MatchError(client.ErrTLSHandshake))
		Expect(err.Error()).To(ContainSubstring("not signed by the configured CA"))

		By("a foreign certificate is refused by the node even when the client trusts the node's CA")
		foreign, err := tls.LoadX509KeyPair(other.file("root.pem"), other.file("root-key.pem"))
		Expect(err).NotTo(HaveOccurred())
		oursCA := loadTLS(ours.files("root")).RootCAs
		_, err = tlsClient(addrs, certs.Config(foreign, oursCA))
		Expect(err).To(MatchError(client.ErrTLSHandshake))
		Expect(err.Error()).To(ContainSubstring("refused our certificate"))

		By("the CLI says why, for produce and consume")
		s := cli(strings.NewReader("x\n"), "produce", "--servers", n1.actorAddr)
		Eventually(s, 30*time.Second).Should(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say("requires mutual TLS"))
		s = cli(nil, append([]string{"consume", "--from", "0", "--servers", n1.actorAddr}, other.flags("root")...)...)
		Eventually(s, 30*time.Second).Should(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say("TLS handshake"))

		By("plaintext HTTP gets a 400 that says HTTPS is required")
		code, body, err := do(&http.Client{Timeout: 10 * time.Second}, http.MethodGet, "http://"+n1.httpAddr+"/v1/records?offset=0", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusBadRequest))
		Expect(body).To(ContainSubstring("HTTPS"))

		By("HTTPS without a client certificate: 401 on the records, health and metrics stay open")
		anon := httpsClient(ours, "", "")
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			code, body, err = do(anon, m, "https://"+n1.httpAddr+"/v1/records?offset=0", []byte(`{"records":[{"value":"eA=="}]}`))
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusUnauthorized), body)
			Expect(body).To(ContainSubstring("client certificate is required"))
		}
		code, _, err = do(anon, http.MethodGet, "https://"+n1.httpAddr+"/healthz", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK))

		By("HTTPS with another CA's certificate fails the handshake")
		_, _, err = do(httpsClient(ours, other, "root"), http.MethodPost, "https://"+n1.httpAddr+"/v1/records", []byte(`{"records":[{"value":"eA=="}]}`))
		Expect(err).To(HaveOccurred())

		By("the node logs why it refused")
		Expect(n1.session.Err).To(gbytes.Say("requires mutual TLS"))
	})

	It("refuses nobody produce and consume with Unauthorized naming the action, and serves root", func() {
		addrs := []string{n1.actorAddr, n2.actorAddr}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		By("nobody through the Go client")
		// An identity with no grant may not even open a session: the
		// client cannot connect, and says why.
		_, err := tlsClient(addrs, loadTLS(ours.files("nobody")))
		var ue *client.UnauthorizedError
		Expect(errors.As(err, &ue)).To(BeTrue(), "%v", err)
		Expect(ue.Identity).To(Equal("nobody"))
		Expect(ue.Action).To(Equal("open a session"))

		By("nobody through the CLI and over HTTP")
		s := cli(strings.NewReader("x\n"), append([]string{"produce", "--servers", n1.actorAddr}, ours.flags("nobody")...)...)
		Eventually(s, 30*time.Second).Should(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say(`"nobody" may not open a session`))
		hc := httpsClient(ours, ours, "nobody")
		code, body, err := do(hc, http.MethodPost, "https://"+n1.httpAddr+"/v1/records", []byte(`{"records":[{"value":"eA=="}]}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusForbidden))
		Expect(body).To(ContainSubstring("may not produce"))
		code, body, err = do(hc, http.MethodGet, "https://"+n1.httpAddr+"/v1/records?offset=0", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusForbidden))
		Expect(body).To(ContainSubstring("may not consume"))

		By("root produces and reads back; nothing was written before (offsets start at 0)")
		c, err := tlsClient(addrs, loadTLS(ours.files("root")))
		Expect(err).NotTo(HaveOccurred())
		defer c.Close()
		offs, err := c.Produce(ctx, []byte("a"), []byte("b"))
		Expect(err).NotTo(HaveOccurred())
		Expect(offs).To(Equal([]uint64{0, 1}))
		// Reads may go to the follower, which applies a moment later.
		Eventually(func(g Gomega) {
			res, err := c.Consume(ctx, 0, client.ConsumeOptions{MaxRecords: 10})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Records).To(HaveLen(2))
			g.Expect(res.Records[1].Value).To(Equal([]byte("b")))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		By("root's subscription gets the records pushed over the TLS dial-back")
		sub, err := c.Subscribe(ctx, 0, client.SubscribeOptions{})
		Expect(err).NotTo(HaveOccurred())
		defer sub.Close()
		for _, want := range []string{"a", "b"} {
			rec, err := sub.Next(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(rec.Value)).To(Equal(want))
		}
		code, body, err = do(admin, http.MethodGet, "https://"+n2.httpAddr+"/v1/records?offset=0&consistent=true", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK), body)
		Expect(body).To(ContainSubstring(`"next_offset":2`))
	})

	It("keeps a node with another CA's certificate out of the raft cluster", func() {
		n3 := startAgent("n3", filepath.Join(GinkgoT().TempDir(), "n3"), append(other.flags("n3"), "--join", n1.actorAddr)...)

		By("the refused node says why")
		Eventually(n3.session.Err, 30*time.Second).Should(gbytes.Say("cannot join through this member: TLS does not match"))
		Expect(string(n3.session.Err.Contents())).To(ContainSubstring("not signed by the configured CA"))

		By("the leader's membership stays unchanged")
		Consistently(func() []string { return servers(n1) }, 3*time.Second, 300*time.Millisecond).Should(ConsistOf("n1", "n2"))
		Expect(servers(n2)).To(ConsistOf("n1", "n2"))

		By("a plaintext node is refused too, and says why")
		p := startAgent("p1", filepath.Join(GinkgoT().TempDir(), "p1"), "--join", n1.actorAddr)
		Eventually(p.session.Err, 30*time.Second).Should(gbytes.Say("requires mutual TLS"))
		Consistently(func() []string { return servers(n1) }, 2*time.Second, 300*time.Millisecond).Should(ConsistOf("n1", "n2"))
	})
})

var _ = Describe("make run TLS=1 (scripts/run-cluster.sh)", func() {
	It("starts the cluster with mutual TLS and prints the client flags that work", func() {
		consul := startConsul()
		data := GinkgoT().TempDir()
		certDir := filepath.Join(GinkgoT().TempDir(), "certs")
		repo, err := filepath.Abs("..")
		Expect(err).NotTo(HaveOccurred())
		cmd := exec.Command("bash", filepath.Join(repo, "scripts", "run-cluster.sh"))
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "TLS=1", "CERTS_DIR="+certDir,
			"DATA_DIR="+data, "ACTORLOG="+actorlogBin, "CONSUL_ADDR="+consul.Addr(),
			"ACTOR_BASE=0", "HTTP_BASE=0", "RAFT_BASE=0", "GRPC_BASE=0")
		run, err := gexec.Start(cmd, gexec.NewPrefixedWriter("[run] ", GinkgoWriter), gexec.NewPrefixedWriter("[run] ", GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			for i := 1; i <= 3; i++ {
				if raw, err := os.ReadFile(filepath.Join(data, "n"+strconv.Itoa(i), "pid")); err == nil {
					if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			run.Kill().Wait(10 * time.Second)
		})
		Eventually(run.Out, 2*time.Minute).Should(gbytes.Say("cluster ready"))
		set := certSet(certDir)
		Expect(string(run.Out.Contents())).To(ContainSubstring(strings.Join(set.flags("root"), " ")))

		plain := cli(strings.NewReader("x\n"), "produce", "--consul-addr", consul.Addr())
		Eventually(plain, 30*time.Second).Should(gexec.Exit(1))
		Expect(plain.Err).To(gbytes.Say("requires mutual TLS"))
		produce := cli(strings.NewReader("hello\n"), append([]string{"produce", "--consul-addr", consul.Addr()}, set.flags("root")...)...)
		Eventually(produce, 30*time.Second).Should(gexec.Exit(0))
		Expect(lines(produce.Out.Contents())).To(Equal([]string{"0"}))

		run.Signal(syscall.SIGINT)
		Eventually(run, time.Minute).Should(gexec.Exit(0))
	})
})

var _ = Describe("A TLS cluster discovered through Consul", func() {
	It("adds a node of its CA that registers, and never one of another CA", func() {
		consul := startConsul()
		tmp := GinkgoT().TempDir()
		ours := makeCerts(filepath.Join(tmp, "ours"), "--nodes", "2")
		other := makeCerts(filepath.Join(tmp, "other"), "--node", "n3")
		admin := httpsClient(ours, ours, "root")
		flags := func(set certSet, id string, more ...string) []string {
			return append(append(set.flags(id), "--acl-policy", set.file("policy.csv"), "--consul-addr", consul.Addr()), more...)
		}
		members := func(a *agent) func() []string {
			return func() []string {
				code, body, err := do(admin, http.MethodGet, "https://"+a.httpAddr+"/v1/servers", nil)
				if err != nil || code != http.StatusOK {
					return nil
				}
				var list []struct {
					ID string `json:"id"`
				}
				if json.Unmarshal([]byte(body), &list) != nil {
					return nil
				}
				var ids []string
				for _, s := range list {
					ids = append(ids, s.ID)
				}
				return ids
			}
		}
		n1 := startAgent("n1", filepath.Join(tmp, "n1"), flags(ours, "n1")...)
		startAgent("n2", filepath.Join(tmp, "n2"), flags(ours, "n2", "--bootstrap=false")...)
		Eventually(members(n1), time.Minute, 200*time.Millisecond).Should(ConsistOf("n1", "n2"))

		startAgent("n3", filepath.Join(tmp, "n3"), flags(other, "n3", "--bootstrap=false")...)
		Eventually(n1.session.Err, time.Minute).Should(gbytes.Say("not adding a member found in Consul: it fails the TLS check"))
		Consistently(members(n1), 3*time.Second, 300*time.Millisecond).Should(ConsistOf("n1", "n2"))
	})

	It("bootstraps --bootstrap-expect among the members of its CA, leaving out one of another CA", func() {
		consul := startConsul()
		tmp := GinkgoT().TempDir()
		ours := makeCerts(filepath.Join(tmp, "ours"), "--node", "n2,n3")
		other := makeCerts(filepath.Join(tmp, "other"), "--node", "n1")
		admin := httpsClient(ours, ours, "root")
		flags := func(set certSet, id string) []string {
			return append(set.flags(id), "--acl-policy", set.file("policy.csv"), "--consul-addr", consul.Addr(),
				"--bootstrap=false", "--bootstrap-expect", "2")
		}
		// n1 sorts first, so without the check it would be the one
		// expected to bootstrap, and n2 and n3 would wait for it forever.
		startAgent("n1", filepath.Join(tmp, "n1"), flags(other, "n1")...)
		n2 := startAgent("n2", filepath.Join(tmp, "n2"), flags(ours, "n2")...)
		startAgent("n3", filepath.Join(tmp, "n3"), flags(ours, "n3")...)

		Eventually(n2.session.Err, time.Minute).Should(gbytes.Say(`bootstrap: leaving out a registered member that fails the TLS check`))
		Eventually(func() (string, error) {
			code, body, err := do(admin, http.MethodGet, "https://"+n2.httpAddr+"/v1/servers", nil)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("status %d: %s", code, body)
			}
			return body, err
		}, time.Minute, 200*time.Millisecond).Should(And(
			ContainSubstring(`"id":"n2"`), ContainSubstring(`"id":"n3"`), Not(ContainSubstring(`"id":"n1"`))))

		By("the cluster of n2 and n3 serves a produce")
		c, err := tlsClient([]string{n2.actorAddr}, loadTLS(ours.files("root")))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		Expect(c.Produce(ctx, []byte("after a bootstrap with a stranger around"))).To(Equal([]uint64{0}))
	})
})
