package grpcapi_test

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"actorlog/certs"
	"actorlog/messages"
	"actorlog/node"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

func TestGRPCAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "gRPC API Suite")
}

func testLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(GinkgoWriter)
	l.SetLevel(logrus.InfoLevel)
	return l
}

// startNode starts a real single-node cluster in this process, with every
// port from the kernel.
func startNode(edit func(*node.Config)) *node.Node {
	GinkgoHelper()
	cfg := node.DefaultConfig()
	cfg.ID = "n1"
	cfg.DataDir = GinkgoT().TempDir()
	cfg.ActorAddr, cfg.HTTPAddr, cfg.RaftAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Bootstrap = true
	cfg.Logger = testLogger()
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		Expect(n.Stop(ctx)).To(Succeed())
	})
	Eventually(n.Ready, 20*time.Second).Should(Succeed())
	return n
}

// dial connects a plain grpc-go client (tlsCfg nil: plaintext).
func dial(addr string, tlsCfg *tls.Config) messages.LogClient {
	GinkgoHelper()
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(conn.Close)
	return messages.NewLogClient(conn)
}

func callCtx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	DeferCleanup(cancel)
	return ctx
}

func values(vs ...string) []*messages.Record {
	out := make([]*messages.Record, len(vs))
	for i, v := range vs {
		out[i] = &messages.Record{Value: []byte(v)}
	}
	return out
}

// statusOf returns the status of err with its code, failing when err is
// not a gRPC status.
func statusOf(err error) *status.Status {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	st, ok := status.FromError(err)
	Expect(ok).To(BeTrue(), "not a gRPC status: %v", err)
	return st
}

// detail returns the first detail of st of the type of want.
func detail[T protoadapt.MessageV1](st *status.Status) T {
	GinkgoHelper()
	for _, d := range st.Details() {
		if t, ok := d.(T); ok {
			return t
		}
	}
	var zero T
	Fail("no detail of type " + string(proto.MessageName(protoadapt.MessageV2Of(zero))) + " in " + st.String())
	return zero
}

func codeOf(err error) codes.Code { return status.Code(err) }

// devCerts writes a CA and certificates into a temp dir and returns their
// loaded configurations, by name.
func devCerts(nodes []string, clients []string) map[string]*tls.Config {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	ca, err := certs.NewCA("test CA")
	Expect(err).NotTo(HaveOccurred())
	caFile := filepath.Join(dir, "ca.pem")
	Expect(ca.WriteFiles(caFile, filepath.Join(dir, "ca-key.pem"), false)).To(Succeed())
	out := map[string]*tls.Config{}
	issue := func(name string, isNode bool) {
		kp, err := certs.Issue(ca, certs.Options{CommonName: name, Node: isNode, Hosts: []string{"127.0.0.1"}})
		Expect(err).NotTo(HaveOccurred())
		f := certs.Files{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem"), CA: caFile}
		Expect(kp.WriteFiles(f.Cert, f.Key, false)).To(Succeed())
		out[name], err = certs.Load(f)
		Expect(err).NotTo(HaveOccurred())
	}
	for _, n := range nodes {
		issue(n, true)
	}
	for _, c := range clients {
		issue(c, false)
	}
	return out
}
