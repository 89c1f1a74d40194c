//go:build faults

package specs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"actorlog/discovery/consultest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// A netLab is a private network for one cluster: every node runs in a Linux
// network namespace of its own with one address on a /24, so that the
// partition specs can cut the links between nodes with iptables inside a
// node's namespace while the test process keeps reaching every node.
//
//	root namespace (the test process)        10.197.K.1  veth alpt<pid><lab>
//	  └─ hub namespace: bridge br0 ─┬─ consul namespace   10.197.K.2  (Consul dev agent)
//	                                ├─ node namespace n1  10.197.K.11
//	                                ├─ ...
//	                                └─ node namespace nN  10.197.K.(10+N)
//
// Nothing outside the namespaces it creates is touched: the only change to
// the root namespace is the one veth end with its /24, and K is chosen so
// that no route other than the default one covers the /24. Every name
// carries the pid of the test process, so a run that was killed leaves
// names that the next run recognises as stale (their pid is gone) and
// deletes; processes started in the namespaces die with the test process
// (parent-death signal).
type netLab struct {
	name   string // "alpt-<pid>-<lab>"
	prefix string // "10.197.K."
	hub    string
	consul string
	nodes  []string // namespace of node i+1
	veth   string   // root end of the uplink
}

// labPrefix starts every namespace and root-namespace link this file makes.
const labPrefix = "alpt"

// Fixed ports are safe here: each node has its own address in its own
// namespace, and the addresses stay the same across restarts of a node, as
// the raft configuration and Consul expect.
const (
	labActorPort  = 7400
	labHTTPPort   = 7480
	labRaftPort   = 7470
	labConsulPort = 8500
)

// sh runs a command and fails the spec with its output when it fails.
func sh(name string, args ...string) string {
	GinkgoHelper()
	out, err := exec.Command(name, args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

// sweepStaleLabs deletes the namespaces and root-namespace links of earlier
// runs whose test process is gone (killed before its cleanup ran).
func sweepStaleLabs() {
	GinkgoHelper()
	dead := func(name string) bool {
		rest := strings.TrimPrefix(strings.TrimPrefix(name, labPrefix), "-")
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		pid, err := strconv.Atoi(rest[:end])
		if err != nil || pid == os.Getpid() {
			return false
		}
		_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
		return os.IsNotExist(err)
	}
	for _, line := range strings.Split(sh("ip", "netns", "list"), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], labPrefix+"-") && dead(f[0]) {
			fmt.Fprintf(GinkgoWriter, "deleting stale namespace %s\n", f[0])
			_ = exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
	for _, line := range strings.Split(sh("ip", "-o", "link", "show"), "\n") {
		// "12: alpt123a@if3: <...>"
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, labPrefix) && dead(name) {
			fmt.Fprintf(GinkgoWriter, "deleting stale link %s\n", name)
			_ = exec.Command("ip", "link", "del", name).Run()
		}
	}
}

// freeSubnet picks K such that 10.197.K.0/24 is covered by no route of the
// root namespace but the default one (so no other network uses it).
func freeSubnet(seed int) string {
	GinkgoHelper()
	for i := range 250 {
		k := (seed+i)%250 + 1
		prefix := fmt.Sprintf("10.197.%d.", k)
		out := sh("ip", "-4", "-o", "route", "show", "to", "match", prefix+"0/24")
		taken := false
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" && !strings.HasPrefix(line, "default") {
				taken = true
			}
		}
		if !taken {
			return prefix
		}
	}
	Fail("no free /24 in 10.197.0.0/16")
	return ""
}

// newNetLab builds the network for n nodes and a Consul agent; lab is one
// letter that tells the labs of one run apart. Everything is deleted at the
// end of the spec, also when it fails.
func newNetLab(lab string, n int) *netLab {
	GinkgoHelper()
	for _, tool := range []string{"ip", "iptables"} {
		_, err := exec.LookPath(tool)
		Expect(err).NotTo(HaveOccurred(), "the partition specs need %s: `make netns-tools` installs it", tool)
	}
	sweepStaleLabs()
	pid := os.Getpid()
	l := &netLab{
		name:   fmt.Sprintf("%s-%d-%s", labPrefix, pid, lab),
		prefix: freeSubnet(pid*2 + int(lab[0])),
		veth:   fmt.Sprintf("%s%d%s", labPrefix, pid, lab),
	}
	l.hub, l.consul = l.name+"-hub", l.name+"-consul"
	for i := range n {
		l.nodes = append(l.nodes, fmt.Sprintf("%s-n%d", l.name, i+1))
	}
	DeferCleanup(l.destroy)
	l.destroy() // a leftover of this very pid (a reused pid) is replaced

	sh("ip", "netns", "add", l.hub)
	sh("ip", "-n", l.hub, "link", "set", "lo", "up")
	sh("ip", "-n", l.hub, "link", "add", "br0", "type", "bridge")
	sh("ip", "-n", l.hub, "link", "set", "br0", "up")
	// The uplink: the test process reaches the bridge through it.
	sh("ip", "link", "add", l.veth, "type", "veth", "peer", "name", "uplink", "netns", l.hub)
	sh("ip", "-n", l.hub, "link", "set", "uplink", "master", "br0")
	sh("ip", "-n", l.hub, "link", "set", "uplink", "up")
	sh("ip", "addr", "add", l.prefix+"1/24", "dev", l.veth)
	sh("ip", "link", "set", l.veth, "up")
	l.attach(l.consul, "c0", l.consulIP())
	for i, ns := range l.nodes {
		l.attach(ns, fmt.Sprintf("n%d", i+1), l.nodeIP(i))
	}
	fmt.Fprintf(GinkgoWriter, "network lab %s on %s0/24 (uplink %s)\n", l.name, l.prefix, l.veth)
	return l
}

// attach makes namespace ns with address ip on eth0, wired to the bridge
// through a veth whose hub end is called port.
func (l *netLab) attach(ns, port, ip string) {
	GinkgoHelper()
	sh("ip", "netns", "add", ns)
	sh("ip", "-n", ns, "link", "set", "lo", "up")
	sh("ip", "-n", l.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
	sh("ip", "-n", l.hub, "link", "set", port, "master", "br0")
	sh("ip", "-n", l.hub, "link", "set", port, "up")
	sh("ip", "-n", ns, "addr", "add", ip+"/24", "dev", "eth0")
	sh("ip", "-n", ns, "link", "set", "eth0", "up")
}

// destroy deletes every namespace and the uplink; iptables rules live in
// the node namespaces and go with them. It is idempotent.
func (l *netLab) destroy() {
	for _, ns := range append([]string{l.hub, l.consul}, l.nodes...) {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
	// Deleting the hub took the uplink's peer, and with it the uplink;
	// this is for a half-built lab.
	_ = exec.Command("ip", "link", "del", l.veth).Run()
}

func (l *netLab) consulIP() string    { return l.prefix + "2" }
func (l *netLab) nodeIP(i int) string { return l.prefix + strconv.Itoa(11+i) }
func (l *netLab) consulAddr() string  { return fmt.Sprintf("%s:%d", l.consulIP(), labConsulPort) }

// nsCommand runs name inside namespace ns. `ip netns exec` execs the
// command itself, so the process's pid is the command's: signals (SIGSTOP,
// SIGKILL) reach it directly. It dies with the test process.
func nsCommand(ns, name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startConsul runs a Consul dev agent in the lab's consul namespace and
// waits until it has a leader and lists itself healthy.
func (l *netLab) startConsul() {
	GinkgoHelper()
	bin, err := consultest.FindBinary()
	Expect(err).NotTo(HaveOccurred())
	hcl := fmt.Sprintf("ports { http = %d https = -1 dns = -1 grpc = -1 grpc_tls = -1 serf_wan = -1 } disable_update_check = true", labConsulPort)
	cmd := nsCommand(l.consul, bin, "agent", "-dev", "-bind", l.consulIP(), "-client", l.consulIP(),
		"-node", "lab-consul", "-log-level", "warn", "-hcl", hcl)
	session, err := gexec.Start(cmd, gexec.NewPrefixedWriter("[consul] ", GinkgoWriter), gexec.NewPrefixedWriter("[consul] ", GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Kill().Wait(10 * time.Second) })
	hc := http.Client{Timeout: time.Second}
	Eventually(func() error {
		var leader string
		if err := getJSONFrom(&hc, "http://"+l.consulAddr()+"/v1/status/leader", &leader); err != nil || leader == "" {
			return fmt.Errorf("no leader yet (%v)", err)
		}
		var checks []struct{ CheckID, Status string }
		if err := getJSONFrom(&hc, "http://"+l.consulAddr()+"/v1/health/node/lab-consul", &checks); err != nil {
			return err
		}
		for _, c := range checks {
			if c.CheckID == "serfHealth" && c.Status == "passing" {
				return nil
			}
		}
		return fmt.Errorf("serf check not passing: %+v", checks)
	}, 60*time.Second, 100*time.Millisecond).Should(Succeed())
}

func getJSONFrom(hc *http.Client, url string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), hc.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// labNode is a cluster node running in namespace ns.
type labNode struct {
	*clusterNode
	ns string
	ip string
}

// startLabCluster starts n agents, one per node namespace, that find each
// other through the lab's Consul (--bootstrap-expect n), and waits until
// they form one cluster. extra goes to every agent.
func (l *netLab) startLabCluster(n int, extra ...string) (*testCluster, []*labNode) {
	GinkgoHelper()
	c := &testCluster{}
	var nodes []*labNode
	// The nodes are killed before their data directories are removed (a
	// test temp dir would go first, while a node may still write to it).
	DeferCleanup(func() {
		for _, nd := range c.nodes {
			if nd.session != nil {
				// A paused node does not die of SIGKILL until it runs.
				_ = nd.session.Command.Process.Signal(syscall.SIGCONT)
				nd.session.Kill().Wait(10 * time.Second)
			}
		}
		for _, nd := range c.nodes {
			_ = os.RemoveAll(nd.dataDir)
		}
	})
	for i := range n {
		dir, err := os.MkdirTemp("", "actorlog-partition-")
		Expect(err).NotTo(HaveOccurred())
		ln := &labNode{ns: l.nodes[i], ip: l.nodeIP(i), clusterNode: &clusterNode{
			id: fmt.Sprintf("p%d", i+1), dataDir: dir,
			actorAddr: fmt.Sprintf("%s:%d", l.nodeIP(i), labActorPort),
			httpAddr:  fmt.Sprintf("%s:%d", l.nodeIP(i), labHTTPPort),
			raftAddr:  fmt.Sprintf("%s:%d", l.nodeIP(i), labRaftPort),
			args:      append([]string{"--consul-addr", l.consulAddr(), "--bootstrap-expect", strconv.Itoa(n)}, extra...),
		}}
		ln.start()
		c.nodes = append(c.nodes, ln.clusterNode)
		nodes = append(nodes, ln)
	}
	c.waitSettled()
	return c, nodes
}

// start runs the agent in its namespace on its fixed addresses and waits
// for its ready line.
func (ln *labNode) start() {
	GinkgoHelper()
	args := append([]string{"agent", "--id", ln.id, "--data-dir", ln.dataDir,
		"--actor-addr", ln.actorAddr, "--http-addr", ln.httpAddr, "--raft-addr", ln.raftAddr}, ln.args...)
	prefix := fmt.Sprintf("[%s] ", ln.id)
	session, err := gexec.Start(nsCommand(ln.ns, actorlogBin, args...),
		gexec.NewPrefixedWriter(prefix, GinkgoWriter), gexec.NewPrefixedWriter(prefix, GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	ln.session = session
	Eventually(session.Out, 30*time.Second).Should(gbytes.Say(clusterReadyLine.String()))
}

// iptables runs iptables in the node's namespace.
func (ln *labNode) iptables(args ...string) {
	GinkgoHelper()
	sh("ip", append([]string{"netns", "exec", ln.ns, "iptables", "-w"}, args...)...)
}

// cutFrom drops every packet between this node and the others, in both
// directions, inside this node's namespace. The test process and Consul
// stay reachable: only the links between nodes are cut.
func (ln *labNode) cutFrom(others ...*labNode) {
	GinkgoHelper()
	for _, o := range others {
		ln.iptables("-A", "INPUT", "-s", o.ip, "-j", "DROP")
		ln.iptables("-A", "OUTPUT", "-d", o.ip, "-j", "DROP")
	}
}

// heal removes every rule of the node's namespace.
func (ln *labNode) heal() {
	GinkgoHelper()
	ln.iptables("-F", "INPUT")
	ln.iptables("-F", "OUTPUT")
}
