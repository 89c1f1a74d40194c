package consultest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for Options fields left at their zero value.
const (
	// DefaultStartTimeout bounds how long Start waits for the agent to elect
	// itself leader and list its own node as healthy. A dev agent does that
	// in well under a second here; the margin covers a loaded CI machine
	// running race-enabled tests on two cores.
	DefaultStartTimeout = 30 * time.Second

	// DefaultLogLevel keeps the agent's lifecycle in the log. The output only
	// shows when a spec fails (GinkgoWriter), and then it is the first thing
	// one wants to read.
	DefaultLogLevel = "info"
)

const (
	// startAttempts bounds how often a start is tried again after the agent
	// died before becoming ready because a port was taken: the ports are
	// released just before Consul binds them, so another socket may win
	// one of them in between.
	startAttempts = 3

	// readyPollInterval is how often Start asks the agent whether it is ready.
	readyPollInterval = 50 * time.Millisecond

	// readyRequestTimeout bounds one readiness probe, so a half-started agent
	// that accepts connections but does not answer cannot stall Start beyond
	// its own deadline.
	readyRequestTimeout = time.Second

	// waitDelay bounds how long Stop waits for the agent's output pipe to
	// close after the process group was killed.
	waitDelay = 5 * time.Second

	// portRetryDelay is the pause before starting again on the same ports
	// after the agent found one of them taken.
	portRetryDelay = 200 * time.Millisecond

	// tailSize is how much of the agent's most recent output is kept for
	// error messages.
	tailSize = 4096
)

// Errors returned by this package. Test them with errors.Is.
var (
	// ErrBinaryNotFound means no Consul binary was found. Build it with
	// `make consul`.
	ErrBinaryNotFound = errors.New("consultest: consul binary not found")

	// ErrRunning is returned by Agent.Start when the agent already runs.
	ErrRunning = errors.New("consultest: agent already running")

	// ErrExited means the agent process exited before it became ready; the
	// error text carries its exit status and last output.
	ErrExited = errors.New("consultest: agent exited before it was ready")

	// ErrNotReady means the agent did not become ready before the start
	// timeout or the context expired.
	ErrNotReady = errors.New("consultest: agent not ready in time")
)

// Options configure a test agent. The zero value is usable.
type Options struct {
	// Binary is the path of the consul executable. Empty means FindBinary.
	Binary string

	// LogOutput receives the agent's stdout and stderr (GinkgoWriter in
	// specs). Nil discards it.
	LogOutput io.Writer

	// LogLevel is passed to `consul agent -log-level`. Empty means
	// DefaultLogLevel.
	LogLevel string

	// StartTimeout bounds each Start and Restart on top of their context.
	// Zero means DefaultStartTimeout.
	StartTimeout time.Duration

	// NodeName is the Consul node name. Empty means "consultest-<http port>",
	// which keeps agents started side by side apart in their own logs.
	NodeName string
}

// Ports are the kernel-chosen ports an agent listens on, all on 127.0.0.1.
// DNS, gRPC, HTTPS and the WAN serf pool are disabled: nothing in the
// project uses them and every port less is one race less.
type Ports struct {
	HTTP    int // the HTTP API, what Addr points at
	SerfLAN int // LAN gossip, TCP and UDP
	Server  int // server RPC (raft and forwarding)
}

// Agent is one Consul dev agent process. Its methods are safe for concurrent
// use; Start, Stop and Restart are serialised.
type Agent struct {
	binary       string
	logLevel     string
	startTimeout time.Duration
	node         string
	ports        Ports
	out          *tailWriter

	mu   sync.Mutex // guards proc and hold; held for the whole of Start, Stop and Restart
	proc *process   // nil while stopped
	hold *portHold  // the ports, held from New until the first start
}

// process is one run of the agent. err is written before exited is closed
// and read only after, so the channel orders the two.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// Start reserves ports, starts an agent and waits until it is ready: a leader
// is elected and the agent's own node is in the catalog with a passing serf
// check, so registrations and health queries work as soon as it returns.
// ctx bounds the start only, not the life of the agent. Stop the agent when
// done (DeferCleanup(agent.Stop)).
func Start(ctx context.Context, opts Options) (*Agent, error) {
	var lastErr error
	for range startAttempts {
		a, err := New(opts)
		if err != nil {
			return nil, err
		}
		if lastErr = a.Start(ctx); lastErr == nil {
			return a, nil
		}
		// Only a death at start is worth new ports: a timeout or a
		// cancelled context would just repeat itself.
		if !errors.Is(lastErr, ErrExited) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// New finds the binary and reserves ports but starts nothing, so a test can
// hand Addr to a client before any agent answers there (the "agent down at
// start" case) and call Start later.
func New(opts Options) (*Agent, error) {
	binary := opts.Binary
	if binary == "" {
		var err error
		if binary, err = FindBinary(); err != nil {
			return nil, err
		}
	} else if err := checkExecutable(binary); err != nil {
		return nil, fmt.Errorf("%w: %w; run `make consul` to build it", ErrBinaryNotFound, err)
	}
	ports, hold, err := reservePorts(3)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		binary:       binary,
		logLevel:     opts.LogLevel,
		startTimeout: opts.StartTimeout,
		node:         opts.NodeName,
		ports:        Ports{HTTP: ports[0], SerfLAN: ports[1], Server: ports[2]},
		out:          &tailWriter{out: opts.LogOutput},
		hold:         hold,
	}
	if a.logLevel == "" {
		a.logLevel = DefaultLogLevel
	}
	if a.startTimeout <= 0 {
		a.startTimeout = DefaultStartTimeout
	}
	if a.node == "" {
		a.node = "consultest-" + strconv.Itoa(a.ports.HTTP)
	}
	return a, nil
}

// Addr is the agent's HTTP API address, "127.0.0.1:port". It is fixed for
// the life of the Agent, across Stop, Start and Restart.
func (a *Agent) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.HTTP))
}

// Ports returns every port the agent listens on.
func (a *Agent) Ports() Ports { return a.ports }

// NodeName is the agent's Consul node name.
func (a *Agent) NodeName() string { return a.node }

// Running reports whether the agent process has been started and not yet
// stopped (it may have died on its own in between).
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proc != nil
}

// Start starts the agent on its reserved ports and waits until it is ready
// (see the package-level Start). It returns ErrRunning if it already runs.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.startLocked(ctx)
}

// Stop kills the agent's process group and waits until the process is gone
// and its output drained. It is idempotent and returns nil when the agent is
// not running. It kills rather than asks the agent to leave: a dev agent has
// nothing worth saving, and a graceful shutdown costs about two seconds per
// stop.
func (a *Agent) Stop() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	// An agent made by New and never started still holds its ports.
	a.hold.release()
	return a.stopLocked()
}

// Restart stops the agent and starts it again on the same ports. The new
// agent is empty: a dev agent keeps nothing across restarts, so every
// registration is forgotten, and its raft index starts again from the
// bottom.
func (a *Agent) Restart(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.stopLocked(); err != nil {
		return err
	}
	return a.startLocked(ctx)
}

func (a *Agent) startLocked(ctx context.Context) error {
	if a.proc != nil {
		return ErrRunning
	}
	a.hold.release()
	var err error
	for range startAttempts {
		err = a.startOnceLocked(ctx)
		// A port in use here is nearly always the source port of some
		// short-lived outgoing connection (the ports were free for a
		// moment during a restart): it is released within milliseconds,
		// and the address is fixed, so try the same ports again.
		if err == nil || !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		t := time.NewTimer(portRetryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
	return err
}

func (a *Agent) startOnceLocked(ctx context.Context) error {
	hcl := fmt.Sprintf("ports { http = %d https = -1 dns = -1 grpc = -1 grpc_tls = -1 serf_lan = %d serf_wan = -1 server = %d } disable_update_check = true",
		a.ports.HTTP, a.ports.SerfLAN, a.ports.Server)
	cmd := exec.Command(a.binary, "agent", "-dev",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", a.node, "-log-level", a.logLevel, "-hcl", hcl)
	cmd.Stdout = a.out
	cmd.Stderr = a.out
	cmd.WaitDelay = waitDelay
	// Own process group so Stop can kill everything the agent started, and
	// a parent-death signal so a test binary that dies (a panic, a timeout)
	// does not leave agents behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	failed := a.out.resetTail()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("consultest: start %s: %w", a.binary, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	a.proc = p
	if err := a.waitReady(ctx, p, failed); err != nil {
		if stopErr := a.stopLocked(); stopErr != nil {
			return errors.Join(err, stopErr)
		}
		return err
	}
	return nil
}

func (a *Agent) stopLocked() error {
	p := a.proc
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		// It died on its own and has been reaped: its pid may already
		// belong to someone else, so there is nothing left to kill.
	default:
		// ESRCH: it died between the check and the kill; Wait collects it.
		if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("consultest: kill agent process group %d: %w", p.cmd.Process.Pid, err)
		}
		<-p.exited
	}
	a.proc = nil
	return nil
}

// waitReady polls the agent until it is ready, it exits, or time runs out.
func (a *Agent) waitReady(ctx context.Context, p *process, failed <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, a.startTimeout)
	defer cancel()
	client := &http.Client{Timeout: readyRequestTimeout}
	defer client.CloseIdleConnections()
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	for {
		if a.ready(ctx, client) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%w (%v); last output:\n%s", ErrExited, p.err, a.out.tail())
		case <-failed:
			// The caller kills it; its last words are already in the tail.
			return fmt.Errorf("%w (it reported %q); last output:\n%s", ErrExited, fatalStartError, a.out.tail())
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w; last output:\n%s", ErrNotReady, a.Addr(), ctx.Err(), a.out.tail())
		case <-ticker.C:
		}
	}
}

// ready reports whether a leader is known and the agent's own node shows a
// passing serf check in the catalog. The second condition matters: right
// after the election the node is not yet in the catalog, and a health query
// for a freshly registered service would come back empty.
func (a *Agent) ready(ctx context.Context, client *http.Client) bool {
	var leader string
	if !getJSON(ctx, client, "http://"+a.Addr()+"/v1/status/leader", &leader) || leader == "" {
		return false
	}
	var checks []struct{ CheckID, Status string }
	if !getJSON(ctx, client, "http://"+a.Addr()+"/v1/health/node/"+a.node, &checks) {
		return false
	}
	for _, c := range checks {
		if c.CheckID == "serfHealth" && c.Status == "passing" {
			return true
		}
	}
	return false
}

func getJSON(ctx context.Context, client *http.Client, url string, out any) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	return json.NewDecoder(resp.Body).Decode(out) == nil
}

// tailWriter forwards the agent's output, keeps its last tailSize bytes for
// error messages, and notices the agent's fatal start error.
type tailWriter struct {
	out io.Writer

	mu     sync.Mutex    // guards buf, failed and writes to out
	buf    []byte        // since the last resetTail
	failed chan struct{} // closed when buf shows fatalStartError
}

// fatalStartError is what the agent prints when it cannot start (a port in
// use, a bad flag). It then spends seconds shutting down what it had
// started, which Start need not wait for.
const fatalStartError = "Error starting agent"

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	if t.failed != nil && strings.Contains(string(t.buf), fatalStartError) {
		select {
		case <-t.failed:
		default:
			close(t.failed)
		}
	}
	if t.out != nil {
		// A failing log writer must not block or kill the agent, so its
		// error is dropped and the agent always sees a full write.
		_, _ = t.out.Write(p)
	}
	return len(p), nil
}

func (t *tailWriter) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// resetTail starts a new run: an empty tail and a new failure signal.
func (t *tailWriter) resetTail() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = t.buf[:0]
	t.failed = make(chan struct{})
	return t.failed
}

// checkExecutable reports why path cannot be run, or nil.
func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}
