package dockerspecs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/onsi/gomega/gexec"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var nodeNames = []string{"n1", "n2", "n3"}

func splitFields(s string) []string { return strings.Fields(s) }

// stack is one Compose project of deploy/compose.yaml with a name, a /24
// and host ports of its own, so that it runs beside anything else.
type stack struct {
	project    string
	subnet     string // first three octets
	consulPort int
	httpPorts  map[string]int
	grpcPorts  map[string]int
	env        []string
	files      []string
}

// run runs a command and returns its combined output; a failure fails the
// spec unless allowFail.
func run(allowFail bool, name string, args ...string) (string, error) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, GinkgoWriter)
	cmd.Stderr = io.MultiWriter(&out, GinkgoWriter)
	fmt.Fprintf(GinkgoWriter, "$ %s %s\n", name, strings.Join(args, " "))
	err := cmd.Run()
	if !allowFail {
		Expect(err).NotTo(HaveOccurred(), "%s %s: %s", name, strings.Join(args, " "), out.String())
	}
	return out.String(), err
}

func docker(args ...string) string {
	GinkgoHelper()
	out, _ := run(false, "docker", args...)
	return strings.TrimSpace(out)
}

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeSubnet picks a 172.29-31.x.0/24 that no Docker network uses.
func freeSubnet() string {
	GinkgoHelper()
	used := docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
		"bridge", "host", "none")
	ids := strings.Fields(docker("network", "ls", "-q"))
	if len(ids) > 0 {
		used += " " + docker(append([]string{"network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, ids...)...)
	}
	for range 100 {
		b, _ := rand.Int(rand.Reader, big.NewInt(3*256))
		n := int(b.Int64())
		prefix := fmt.Sprintf("172.%d.%d", 29+n/256, n%256)
		if !strings.Contains(used, prefix+".") {
			return prefix
		}
	}
	Fail("no free 172.29-31.x.0/24 for the stack's network")
	return ""
}

func newStack(files ...string) *stack {
	GinkgoHelper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s := &stack{
		project:    "actorlogspec" + hex.EncodeToString(suffix),
		subnet:     freeSubnet(),
		consulPort: freePort(),
		httpPorts:  map[string]int{},
		grpcPorts:  map[string]int{},
	}
	for _, f := range files {
		abs, err := filepath.Abs(filepath.Join("..", f))
		Expect(err).NotTo(HaveOccurred())
		s.files = append(s.files, abs)
	}
	s.env = append(os.Environ(),
		"ACTORLOG_IMAGE="+actorlogImage, "CONSUL_IMAGE="+consulImage,
		"ACTORLOG_SUBNET="+s.subnet, "ACTORLOG_BIND=127.0.0.1",
		"CONSUL_PORT="+strconv.Itoa(s.consulPort))
	for _, n := range nodeNames {
		s.httpPorts[n] = freePort()
		s.grpcPorts[n] = freePort()
		s.env = append(s.env, strings.ToUpper(n)+"_HTTP_PORT="+strconv.Itoa(s.httpPorts[n]),
			strings.ToUpper(n)+"_GRPC_PORT="+strconv.Itoa(s.grpcPorts[n]))
	}
	return s
}

// compose runs the Compose command on the stack's project.
func (s *stack) compose(args ...string) string {
	GinkgoHelper()
	full := append([]string{}, composeCmd[1:]...)
	full = append(full, "-p", s.project)
	for _, f := range s.files {
		full = append(full, "-f", f)
	}
	full = append(full, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, composeCmd[0], full...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, GinkgoWriter)
	cmd.Stderr = io.MultiWriter(&out, GinkgoWriter)
	fmt.Fprintf(GinkgoWriter, "$ %s %s\n", strings.Join(composeCmd, " "), strings.Join(full[len(composeCmd)-1:], " "))
	Expect(cmd.Run()).To(Succeed(), out.String())
	return out.String()
}

// up starts the stack and removes it, volumes included, when the spec (or
// container) ends, whatever its outcome.
func (s *stack) up() {
	GinkgoHelper()
	DeferCleanup(s.down)
	s.compose("up", "-d")
}

func (s *stack) down() {
	// A paused container would hold the removal up.
	for _, n := range nodeNames {
		if id := s.containerID(n); id != "" {
			_, _ = run(true, "docker", "unpause", id)
		}
	}
	s.compose("down", "-v", "--remove-orphans", "-t", "20")
	Expect(docker("volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+s.project)).To(BeEmpty())
}

func (s *stack) containerID(service string) string {
	GinkgoHelper()
	return docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+s.project,
		"--filter", "label=com.docker.compose.service="+service)
}

func (s *stack) network() string {
	GinkgoHelper()
	ids := strings.Fields(docker("network", "ls", "-q", "--filter", "label=com.docker.compose.project="+s.project))
	Expect(ids).To(HaveLen(1))
	return ids[0]
}

func (s *stack) nodeIP(n string) string {
	return fmt.Sprintf("%s.1%s", s.subnet, strings.TrimPrefix(n, "n"))
}

func (s *stack) consulAddr() string { return "127.0.0.1:" + strconv.Itoa(s.consulPort) }

// clientFlags are the flags of a host CLI command: Consul first, every
// node's actor address as the fallback.
func (s *stack) clientFlags() []string {
	var servers []string
	for _, n := range nodeNames {
		servers = append(servers, s.nodeIP(n)+":7400")
	}
	return []string{"--consul-addr", s.consulAddr(), "--servers", strings.Join(servers, ",")}
}

// grpcFlags are the flags of a host CLI command over the gRPC Log service,
// through the loopback ports the stack publishes.
func (s *stack) grpcFlags() []string {
	var servers []string
	for _, n := range nodeNames {
		servers = append(servers, "127.0.0.1:"+strconv.Itoa(s.grpcPorts[n]))
	}
	return []string{"--transport", "grpc", "--servers", strings.Join(servers, ",")}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

type nodeStatus struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	LeaderID   string `json:"leader_id"`
	NextOffset uint64 `json:"next_offset"`
}

// status reads a node's /v1/status through its published HTTP port.
func (s *stack) status(n string) (nodeStatus, error) {
	var st nodeStatus
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/status", s.httpPorts[n]))
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: /v1/status answered %d", n, resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// leader is the id of the leader every node agrees on.
func (s *stack) leader() (string, error) {
	var leader string
	for _, n := range nodeNames {
		st, err := s.status(n)
		if err != nil {
			return "", err
		}
		if st.LeaderID == "" || (leader != "" && st.LeaderID != leader) {
			return "", fmt.Errorf("%s knows leader %q, others %q", n, st.LeaderID, leader)
		}
		leader = st.LeaderID
	}
	return leader, nil
}

type record struct {
	Offset uint64 `json:"offset"`
	Value  []byte `json:"value"`
}

// records reads a node's whole committed log over its published HTTP port.
func (s *stack) records(n string) ([]record, error) {
	var all []record
	for {
		url := fmt.Sprintf("http://127.0.0.1:%d/v1/records?offset=%d&max=1000", s.httpPorts[n], len(all))
		resp, err := httpClient.Get(url)
		if err != nil {
			return nil, err
		}
		var page struct {
			Records    []record `json:"records"`
			NextOffset uint64   `json:"next_offset"`
			EndOffset  uint64   `json:"end_offset"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable || len(page.Records) == 0 {
			return all, nil
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %s answered %d", n, url, resp.StatusCode)
		}
		all = append(all, page.Records...)
		if uint64(len(all)) >= page.EndOffset {
			return all, nil
		}
	}
}

// cli starts the host's CLI.
func cli(args ...string) *gexec.Session {
	GinkgoHelper()
	sess, err := gexec.Start(exec.Command(actorlogBin, args...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { sess.Kill().Wait(10 * time.Second) })
	return sess
}
