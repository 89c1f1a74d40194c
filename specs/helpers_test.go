package specs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	"github.com/sirupsen/logrus"
)

// agent is one `actorlog agent` process.
type agent struct {
	id        string
	dataDir   string
	actorAddr string
	httpAddr  string
	raftAddr  string
	grpcAddr  string
	session   *gexec.Session
}

var readyLine = regexp.MustCompile(`actorlog agent ready id=(\S+) actor=(\S+) http=(\S+) raft=(\S+) grpc=(\S+)`)

// startAgent runs an agent on dataDir with kernel-chosen ports and waits for
// its ready line. It is killed at the end of the spec if still running.
// The agent bootstraps a single-node cluster unless extra has --join (or
// --bootstrap=false).
func startAgent(id, dataDir string, extra ...string) *agent {
	args := []string{"agent", "--id", id, "--data-dir", dataDir,
		"--actor-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"}
	if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, "--join") }) {
		args = append(args, "--bootstrap")
	}
	args = append(args, extra...)
	cmd := exec.Command(actorlogBin, args...)
	prefix := fmt.Sprintf("[%s] ", id)
	session, err := gexec.Start(cmd,
		gexec.NewPrefixedWriter(prefix, GinkgoWriter),
		gexec.NewPrefixedWriter(prefix, GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Kill().Wait(10 * time.Second) })
	Eventually(session.Out, 30*time.Second).Should(gbytes.Say(readyLine.String()))
	m := readyLine.FindSubmatch(session.Out.Contents())
	Expect(m).NotTo(BeNil())
	return &agent{id: string(m[1]), dataDir: dataDir, actorAddr: string(m[2]), httpAddr: string(m[3]), raftAddr: string(m[4]), grpcAddr: string(m[5]), session: session}
}

func (a *agent) pid() int { return a.session.Command.Process.Pid }

// kill9 kills the agent with SIGKILL and waits for it to be gone.
func (a *agent) kill9() {
	a.session.Kill()
	Eventually(a.session, 10*time.Second).Should(gexec.Exit())
}

func (a *agent) url(path string) string { return "http://" + a.httpAddr + path }

// cli runs an actorlog client command against the agent and returns its
// session; stdin may be nil.
func cli(stdin io.Reader, args ...string) *gexec.Session {
	cmd := exec.Command(actorlogBin, args...)
	cmd.Stdin = stdin
	session, err := gexec.Start(cmd, nil, gexec.NewPrefixedWriter("[cli] ", GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Kill().Wait(10 * time.Second) })
	return session
}

// clientLog is the one logger of every client in the suite: clients with
// the same transport settings (the logger included) share one listener.
var clientLog = func() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(GinkgoWriter)
	l.SetLevel(logrus.InfoLevel)
	return l
}()

// newClient connects a Go client to the agents; it is closed at the end of
// the spec. Its logs go to GinkgoWriter.
func newClient(agents ...*agent) *client.Client {
	cfg := client.DefaultConfig()
	cfg.Servers = nil
	for _, a := range agents {
		cfg.Servers = append(cfg.Servers, a.actorAddr)
	}
	cfg.Logger = clientLog
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New(ctx, cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}

// nextOffset is the offset the next record will get, read through the client.
func nextOffset(c *client.Client) uint64 {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Consume(ctx, 0, client.ConsumeOptions{MaxRecords: 1})
	var oor *client.OffsetOutOfRangeError
	if errors.As(err, &oor) {
		return oor.Next
	}
	Expect(err).NotTo(HaveOccurred())
	return res.NextOffset
}

// readAll reads the whole log through the client, checking that offsets are
// dense from 0.
func readAll(c *client.Client) [][]byte {
	GinkgoHelper()
	var out [][]byte
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	next := uint64(0)
	for {
		res, err := c.Consume(ctx, next, client.ConsumeOptions{MaxRecords: 5000, MaxBytes: 4 << 20})
		var oor *client.OffsetOutOfRangeError
		if errors.As(err, &oor) && oor.Next == next {
			return out
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Records).NotTo(BeEmpty())
		for _, r := range res.Records {
			Expect(r.Offset).To(Equal(next), "offsets must be dense")
			out = append(out, r.Value)
			next++
		}
	}
}

// httpJSON does an HTTP request and returns the status and the body, which
// must be JSON.
func httpJSON(method, url string, body []byte) (int, map[string]any) {
	GinkgoHelper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	var m map[string]any
	Expect(json.Unmarshal(raw, &m)).To(Succeed(), "body is not a JSON object: %q", raw)
	return resp.StatusCode, m
}

// healthy is for Eventually/Consistently: the agent answers /healthz with 200.
func (a *agent) healthy() error {
	hc := http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(a.url("/healthz"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}

// vmRSS reads the resident set size of a process, in bytes.
func vmRSS(pid int) (uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS line")
}

// lines splits output into lines, dropping the final empty one.
func lines(b []byte) []string {
	s := strings.Split(string(b), "\n")
	if len(s) > 0 && s[len(s)-1] == "" {
		s = s[:len(s)-1]
	}
	return s
}
