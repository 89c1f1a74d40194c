package specs

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// hostileMessages is how many messages of each kind the attacker sends
// (ACTORLOG_ATTACK_MESSAGES overrides it, to see a spec fail on a build
// without the defences, where the full volume would exhaust the machine).
func hostileMessages() int {
	if s := os.Getenv("ACTORLOG_ATTACK_MESSAGES"); s != "" {
		n, err := strconv.Atoi(s)
		Expect(err).NotTo(HaveOccurred())
		return n
	}
	return 10000
}

// attacker speaks protoactor's remote protocol to a node by hand, so it
// can write whatever a hostile peer may: any announced address, any
// sender, any system message.
type attacker struct {
	conn   *grpc.ClientConn
	stream remote.Remoting_ReceiveClient
	cancel context.CancelFunc
	// Announced is the address the attacker announced in its
	// ConnectRequest.
	announced string
}

// newAttacker connects to addr with cfg (nil: plaintext) and announces
// announced. The stream may be refused at once; sends then fail.
func newAttacker(addr string, cfg *tls.Config, announced string) *attacker {
	GinkgoHelper()
	creds := insecure.NewCredentials()
	if cfg != nil {
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(256<<20)))
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	a := &attacker{conn: conn, cancel: cancel, announced: announced}
	DeferCleanup(a.close)
	a.stream, err = remote.NewRemotingClient(conn).Receive(ctx)
	Expect(err).NotTo(HaveOccurred())
	_ = a.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
		ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
			ServerConnection: &remote.ServerConnection{SystemId: "attacker", Address: announced},
		}},
	}})
	return a
}

func (a *attacker) close() {
	a.cancel()
	_ = a.conn.Close()
}

// send sends one batch; an error means the node closed the stream.
func (a *attacker) send(b *remote.MessageBatch) error {
	return a.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}})
}

// envelope is one hostile message: a type, a target, a sender (may be
// nil) and the message itself.
type envelope struct {
	typeName string
	target   *actor.PID
	sender   *actor.PID
	msg      proto.Message
}

// sendAll packs the envelopes into batches of at most 500 and sends
// them, stopping at the first send error (the node closed the stream). A
// node that stops reading (overwhelmed) holds the sends back; after a
// minute the attacker gives up and closes its stream.
func (a *attacker) sendAll(envs []envelope) error {
	giveUp := time.AfterFunc(time.Minute, a.cancel)
	defer giveUp.Stop()
	for len(envs) > 0 {
		n := min(len(envs), 500)
		b := &remote.MessageBatch{}
		types := map[string]int32{}
		for _, e := range envs[:n] {
			id, ok := types[e.typeName]
			if !ok {
				id = int32(len(b.TypeNames))
				types[e.typeName] = id
				b.TypeNames = append(b.TypeNames, e.typeName)
			}
			data, err := proto.Marshal(e.msg)
			Expect(err).NotTo(HaveOccurred())
			env := &remote.MessageEnvelope{TypeId: id, Target: int32(len(b.Targets)), MessageData: data}
			b.Targets = append(b.Targets, e.target)
			if e.sender != nil {
				b.Senders = append(b.Senders, e.sender)
				env.Sender = int32(len(b.Senders))
			}
			b.Envelopes = append(b.Envelopes, env)
		}
		if err := a.send(b); err != nil {
			return err
		}
		envs = envs[n:]
	}
	return nil
}

// usage is what a node process holds: open files, goroutines, memory.
type usage struct {
	fds, fdLimit, goroutines int
	rss                      uint64
}

func (u usage) String() string {
	return fmt.Sprintf("%d open files (limit %d), %d goroutines, %d MB resident", u.fds, u.fdLimit, u.goroutines, u.rss>>20)
}

// processUsage reads a node's usage from /proc and its /metrics (hc and
// scheme as the node serves HTTP).
func processUsage(pid int, hc *http.Client, metricsURL string) (usage, error) {
	var u usage
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return u, err
	}
	u.fds = len(fds)
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(line)
			u.fdLimit, _ = strconv.Atoi(f[3])
		}
	}
	if u.rss, err = vmRSS(pid); err != nil {
		return u, err
	}
	u.goroutines, err = metricValue(hc, metricsURL, "go_goroutines")
	return u, err
}

// metricValue reads one unlabelled gauge from a /metrics page.
func metricValue(hc *http.Client, url, name string) (int, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			return int(v), err
		}
	}
	return 0, fmt.Errorf("no %s in %s", name, url)
}

// boundedGrowth fails unless the node grew by less than the issue allows
// for a hostile burst: open files by less than 1% of their limit (and at
// most 200), goroutines by less than 1,000, memory by less than 100 MB.
func boundedGrowth(before, now usage) error {
	maxFDs := min(before.fdLimit/100, 200)
	switch {
	case now.fds-before.fds >= maxFDs:
		return fmt.Errorf("open files grew from %d to %d (limit %d)", before.fds, now.fds, before.fdLimit)
	case now.goroutines-before.goroutines >= 1000:
		return fmt.Errorf("goroutines grew from %d to %d", before.goroutines, now.goroutines)
	case now.rss > before.rss && now.rss-before.rss >= 100<<20:
		return fmt.Errorf("memory grew from %d MB to %d MB", before.rss>>20, now.rss>>20)
	}
	return nil
}

// countingListener accepts connections on a kernel port and counts them:
// a node that sends it anything has been redirected.
type countingListener struct {
	ln       net.Listener
	accepted atomic.Int64
}

func newCountingListener() *countingListener {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	l := &countingListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			_ = c.Close()
		}
	}()
	DeferCleanup(func() { _ = ln.Close() })
	return l
}

func (l *countingListener) addr() string { return l.ln.Addr().String() }

// silentConnClosed dials addr, says nothing, and reports how long the
// server kept the connection open (up to limit).
func silentConnClosed(addr string, limit time.Duration) time.Duration {
	GinkgoHelper()
	c, err := net.Dial("tcp", addr)
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	var b [64]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return time.Since(start)
		}
	}
}
