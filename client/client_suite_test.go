package client_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	"github.com/sirupsen/logrus"
)

func TestClient(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "client")
}

// agentBin is the actorlog binary: $ACTORLOG_BIN when set, otherwise built
// once for the suite. Nodes run as separate processes: protoactor's remote
// keeps process-wide gRPC state (its logger), so a node and a client in one
// process race on it when they start.
var agentBin string

var _ = SynchronizedBeforeSuite(func() []byte {
	if bin := os.Getenv("ACTORLOG_BIN"); bin != "" {
		return []byte(bin)
	}
	bin, err := gexec.Build("actorlog/cmd/actorlog")
	Expect(err).NotTo(HaveOccurred())
	return []byte(bin)
}, func(bin []byte) { agentBin = string(bin) })

var _ = SynchronizedAfterSuite(func() {}, gexec.CleanupBuildArtifacts)

// testNode is an `actorlog agent` process.
type testNode struct {
	session   *gexec.Session
	actorAddr string
	httpAddr  string
}

func (n *testNode) ActorAddr() string { return n.actorAddr }

// Stop interrupts the node and waits for its graceful exit.
func (n *testNode) Stop() {
	GinkgoHelper()
	Eventually(n.session.Interrupt(), 30*time.Second).Should(gexec.Exit(0))
}

var ready = regexp.MustCompile(`actorlog agent ready id=\S+ actor=(\S+) http=\S+`)

// startNode runs a node on dataDir, on actorAddr or a port from the kernel.
// It is killed at the end of the spec if still running.
func startNode(dataDir, actorAddr string, extra ...string) *testNode {
	GinkgoHelper()
	if actorAddr == "" {
		actorAddr = "127.0.0.1:0"
	}
	args := append([]string{"agent", "--id", "client-test", "--data-dir", dataDir,
		"--actor-addr", actorAddr, "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--bootstrap"}, extra...)
	cmd := exec.Command(agentBin, args...)
	w := gexec.NewPrefixedWriter("[node] ", GinkgoWriter)
	session, err := gexec.Start(cmd, w, w)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Kill().Wait(10 * time.Second) })
	Eventually(session.Out, 30*time.Second).Should(gbytes.Say(ready.String()))
	m := ready.FindSubmatch(session.Out.Contents())
	return &testNode{session: session, actorAddr: string(m[1])}
}

// testLogger is shared by every client of the suite, so that they share one
// transport as an application's clients would.
var testLogger = sync.OnceValue(func() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(GinkgoWriter)
	l.SetLevel(logrus.InfoLevel)
	return l
})

// newClient connects to servers with cfg's other settings; it is closed at
// the end of the spec.
func newClient(cfg client.Config, servers ...string) *client.Client {
	GinkgoHelper()
	cfg.Servers = servers
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New(ctx, cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}

func values(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(prefix + "-" + itoa(i))
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	for ; i > 0; i /= 10 {
		p--
		b[p] = byte('0' + i%10)
	}
	return string(b[p:])
}
