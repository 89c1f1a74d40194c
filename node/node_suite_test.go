package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"fmt"
	"net"
	"sync"

	"actorlog/actors"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gcustom"
	"github.com/onsi/gomega/types"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

func TestNode(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Node Suite")
}

const askTimeout = 5 * time.Second

func testLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(GinkgoWriter)
	l.SetLevel(logrus.InfoLevel)
	return l
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ID = "n1"
	cfg.DataDir = GinkgoT().TempDir()
	cfg.ActorAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.Bootstrap = true
	cfg.Logger = testLogger()
	return cfg
}

func startNode(cfg Config) *Node {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		Expect(n.Stop(ctx)).To(Succeed())
	})
	return n
}

// wireClient is a minimal remote client that speaks protoactor's wire
// protocol itself: a gRPC stream to the node for requests, and a listener
// of its own that the node dials to deliver replies and pushes, as it does
// for a real client. It uses no protoactor remote of its own, whose
// remote.Start writes gRPC's global logger and whose shutdown races with
// its own stream handlers; the node under test is then the only protoactor
// remote in the process.
type wireClient struct {
	node   string // the node's actor address
	addr   string // this client's listener
	srv    *grpc.Server
	conn   *grpc.ClientConn
	stream remote.Remoting_ReceiveClient
	cancel context.CancelFunc

	sendMu sync.Mutex
	mu     sync.Mutex
	nextID int
	calls  map[string]chan any // reply channels by PID id
	pushes chan any            // everything else: subscription pushes
	closed bool
}

func newWireClient(n *Node) *wireClient {
	GinkgoHelper()
	return newWireClientTLS(n, nil)
}

// newWireClientTLS is newWireClient speaking mutual TLS with tlsCfg (nil:
// plaintext), on its stream to the node and on its own listener.
func newWireClientTLS(n *Node, tlsCfg *tls.Config) *wireClient {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	c := &wireClient{node: n.ActorAddr(), addr: ln.Addr().String(), calls: map[string]chan any{}, pushes: make(chan any, 1024)}
	// WaitForHandlers: close then returns only once the handlers of the
	// node's connections to this listener are done, so none of them still
	// logs through gRPC's global logger when the next node's remote.Start
	// replaces it.
	srvOpts := []grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20), grpc.WaitForHandlers(true)}
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		srvOpts = append(srvOpts, grpc.Creds(credentials.NewTLS(tlsCfg)))
		creds = credentials.NewTLS(tlsCfg)
	}
	c.srv = grpc.NewServer(srvOpts...)
	remote.RegisterRemotingServer(c.srv, &wireInbox{c: c})
	go func() { _ = c.srv.Serve(ln) }()
	c.conn, err = grpc.NewClient(c.node, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	Expect(err).NotTo(HaveOccurred())
	var ctx context.Context
	ctx, c.cancel = context.WithCancel(context.Background())
	c.stream, err = remote.NewRemotingClient(c.conn).Receive(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(c.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
		ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
			ServerConnection: &remote.ServerConnection{SystemId: "wire-client", Address: c.addr},
		}},
	}})).To(Succeed())
	_, err = c.stream.Recv()
	Expect(err).NotTo(HaveOccurred())
	// A node that stops sends a DisconnectRequest; end the stream then, as
	// protoactor does, so the node's graceful stop need not wait for it.
	go func() {
		for {
			m, err := c.stream.Recv()
			if err != nil {
				return
			}
			if m.GetDisconnectRequest() != nil {
				c.sendMu.Lock()
				_ = c.stream.CloseSend()
				c.sendMu.Unlock()
			}
		}
	}()
	DeferCleanup(c.close)
	return c
}

// close makes the client vanish: its listener and its connection go away,
// as when a client process dies.
func (c *wireClient) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.srv.Stop()
	c.cancel()
	_ = c.conn.Close()
}

// pid returns a PID on the client's listener.
func (c *wireClient) pid(id string) *actor.PID { return actor.NewPID(c.addr, id) }

func (c *wireClient) send(target *actor.PID, msg proto.Message, sender *actor.PID) {
	GinkgoHelper()
	data, err := proto.Marshal(msg)
	Expect(err).NotTo(HaveOccurred())
	env := &remote.MessageEnvelope{TypeId: 0, Target: 0, MessageData: data}
	b := &remote.MessageBatch{TypeNames: []string{string(proto.MessageName(msg))}, Targets: []*actor.PID{target}, Envelopes: []*remote.MessageEnvelope{env}}
	if sender != nil {
		b.Senders = []*actor.PID{sender}
		env.Sender = 1
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	Expect(c.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}})).To(Succeed())
}

// request sends msg and waits for the first reply.
func (c *wireClient) request(target *actor.PID, msg proto.Message, timeout time.Duration) (any, error) {
	c.mu.Lock()
	c.nextID++
	id := fmt.Sprintf("req$%d", c.nextID)
	ch := make(chan any, 1)
	c.calls[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
	}()
	c.send(target, msg, c.pid(id))
	select {
	case m := <-ch:
		return m, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("no reply to %T within %s", msg, timeout)
	}
}

func (c *wireClient) ask(target *actor.PID, msg proto.Message) any {
	GinkgoHelper()
	res, err := c.request(target, msg, askTimeout)
	Expect(err).NotTo(HaveOccurred())
	return res
}

func (c *wireClient) openSession() *actor.PID {
	GinkgoHelper()
	res := c.ask(actor.NewPID(c.node, actors.SessionsName), &messages.OpenSession{ClientName: "spec"})
	Expect(res).To(BeAssignableToTypeOf(&messages.SessionOpened{}))
	o := res.(*messages.SessionOpened)
	Expect(o.GetMaxRecordBytes()).To(Equal(DefaultMaxRecordBytes))
	return actor.NewPID(o.GetAddress(), o.GetId())
}

func (c *wireClient) deliver(target *actor.PID, msg any) {
	c.mu.Lock()
	ch, ok := c.calls[target.GetId()]
	c.mu.Unlock()
	if ok {
		select {
		case ch <- msg:
		default:
		}
		return
	}
	select {
	case c.pushes <- msg:
	default:
	}
}

// wireInbox is the client's listener: the node dials it to deliver.
type wireInbox struct {
	remote.UnimplementedRemotingServer
	c *wireClient
}

func (in *wireInbox) Receive(stream remote.Remoting_ReceiveServer) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			return nil
		}
		switch t := m.GetMessageType().(type) {
		case *remote.RemoteMessage_ConnectRequest:
			if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectResponse{
				ConnectResponse: &remote.ConnectResponse{MemberId: "wire-client"},
			}}); err != nil {
				return nil
			}
		case *remote.RemoteMessage_MessageBatch:
			b := t.MessageBatch
			for _, e := range b.GetEnvelopes() {
				mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(b.GetTypeNames()[e.GetTypeId()]))
				if err != nil {
					continue
				}
				msg := mt.New().Interface()
				if proto.Unmarshal(e.GetMessageData(), msg) != nil {
					continue
				}
				if _, system := msg.(actor.SystemMessage); system {
					continue // Watch and Unwatch of subscribers
				}
				in.c.deliver(b.GetTargets()[e.GetTarget()], msg)
			}
		}
	}
}

// rawStream opens a gRPC stream to the node's remote the way protoactor's
// endpoint writer does, so a spec can send batches protoactor would never
// build.
func rawStream(n *Node) remote.Remoting_ReceiveClient {
	GinkgoHelper()
	conn, err := grpc.NewClient(n.ActorAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(conn.Close)
	ctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	stream, err := remote.NewRemotingClient(conn).Receive(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
		ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
			ServerConnection: &remote.ServerConnection{SystemId: "raw", Address: "127.0.0.1:1"},
		}},
	}})).To(Succeed())
	resp, err := stream.Recv()
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.GetConnectResponse()).NotTo(BeNil())
	return stream
}

// expectUnaryRefused calls both unary methods of protoactor's Remoting
// service, which panic in protoactor itself, and expects Unimplemented.
func expectUnaryRefused(rc remote.RemotingClient) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), askTimeout)
	defer cancel()
	_, err := rc.ListProcesses(ctx, &remote.ListProcessesRequest{Pattern: "*"})
	Expect(status.Code(err)).To(Equal(codes.Unimplemented), "ListProcesses: %v", err)
	_, err = rc.GetProcessDiagnostics(ctx, &remote.GetProcessDiagnosticsRequest{Pid: actor.NewPID("x", actors.SessionsName)})
	Expect(status.Code(err)).To(Equal(codes.Unimplemented), "GetProcessDiagnostics: %v", err)
}

// httpDo sends a request and decodes the JSON answer.
func httpDo(method, url string, body string) (int, map[string]any) {
	GinkgoHelper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, url, rd)
	Expect(err).NotTo(HaveOccurred())
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"))
	var out map[string]any
	Expect(json.NewDecoder(resp.Body).Decode(&out)).To(Succeed())
	return resp.StatusCode, out
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// EqualProto compares protobuf messages by content (gomega's Equal would
// compare their internal state too).
func EqualProto(want proto.Message) types.GomegaMatcher {
	return gcustom.MakeMatcher(func(got proto.Message) (bool, error) {
		return proto.Equal(got, want), nil
	}).WithTemplate("Expected\n{{.FormattedActual}}\n{{.To}} equal\n{{format .Data 1}}", prototext.Format(want))
}
