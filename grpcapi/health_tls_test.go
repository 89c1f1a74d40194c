package grpcapi_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"time"

	"actorlog/messages"
	"actorlog/node"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

var _ = Describe("grpc.health.v1 under mutual TLS", func() {
	var (
		n    *node.Node
		cfgs map[string]*tls.Config
	)
	BeforeEach(func() {
		cfgs = devCerts([]string{"n1"}, []string{"root"})
		policy := filepath.Join(GinkgoT().TempDir(), "policy.csv")
		Expect(os.WriteFile(policy, []byte("p, root, *\n"), 0o644)).To(Succeed())
		n = startNode(func(c *node.Config) { c.TLS, c.ACLPolicy = cfgs["n1"], policy })
	})

	// probeConn is what a probe that speaks TLS without a certificate
	// dials: the kubelet's gRPC probe in TLS mode, grpc_health_probe -tls
	// without -tls-client-cert. Neither verifies the server either.
	probeConn := func(cfg *tls.Config) *grpc.ClientConn {
		GinkgoHelper()
		conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)
		return conn
	}
	noCert := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}

	It("answers a probe's Check without a client certificate, for the server and for the Log service", func() {
		health := healthpb.NewHealthClient(probeConn(noCert))
		for _, svc := range []string{"", "actorlog.v1.Log"} {
			Eventually(func() (healthpb.HealthCheckResponse_ServingStatus, error) {
				res, err := health.Check(callCtx(), &healthpb.HealthCheckRequest{Service: svc})
				return res.GetStatus(), err
			}, 20*time.Second, 100*time.Millisecond).Should(Equal(healthpb.HealthCheckResponse_SERVING), "service %q", svc)
		}
		// Watch holds a stream open: not for a peer without a certificate.
		watch, err := health.Watch(callCtx(), &healthpb.HealthCheckRequest{Service: "actorlog.v1.Log"})
		Expect(err).NotTo(HaveOccurred())
		_, err = watch.Recv()
		Expect(codeOf(err)).To(Equal(codes.Unauthenticated), "%v", err)
		// With a certificate it is served.
		watch, err = healthpb.NewHealthClient(probeConn(cfgs["root"])).Watch(callCtx(), &healthpb.HealthCheckRequest{Service: "actorlog.v1.Log"})
		Expect(err).NotTo(HaveOccurred())
		first, err := watch.Recv()
		Expect(err).NotTo(HaveOccurred())
		Expect(first.GetStatus()).To(Equal(healthpb.HealthCheckResponse_SERVING))
	})

	It("refuses every other method without a client certificate, and appends nothing", func() {
		conn := probeConn(noCert)
		// The connection works: the probe's health check passes on it.
		Eventually(func() error {
			_, err := healthpb.NewHealthClient(conn).Check(callCtx(), &healthpb.HealthCheckRequest{})
			return err
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())

		ctx := callCtx()
		log := messages.NewLogClient(conn)
		_, err := log.Produce(ctx, &messages.ProduceRequest{Records: values("without a certificate")})
		Expect(codeOf(err)).To(Equal(codes.Unauthenticated), "%v", err)
		_, err = log.Consume(ctx, &messages.ConsumeRequest{Offset: 0})
		Expect(codeOf(err)).To(Equal(codes.Unauthenticated), "%v", err)
		_, err = log.GetServers(ctx, &messages.ServersRequest{})
		Expect(codeOf(err)).To(Equal(codes.Unauthenticated), "%v", err)

		ps, err := log.ProduceStream(ctx)
		Expect(err).NotTo(HaveOccurred())
		_ = ps.Send(&messages.ProduceRequest{Records: values("streamed without a certificate")})
		_, err = ps.Recv()
		Expect(codeOf(err)).To(Equal(codes.Unauthenticated), "%v", err)
		cs, err := log.ConsumeStream(ctx, &messages.ConsumeStreamRequest{Offset: 0})
		Expect(err).NotTo(HaveOccurred())
		_, err = cs.Recv()
		Expect(codeOf(err)).To(Equal(codes.Unauthenticated), "%v", err)

		// Reflection is not a probe's business either.
		rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		Expect(err).NotTo(HaveOccurred())
		_ = rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = rs.Recv()
		Expect(codeOf(err)).To(Equal(codes.Unauthenticated), "%v", err)

		// A certificate still opens everything, on the same port.
		root := dial(n.GRPCAddr(), cfgs["root"])
		_, err = root.Consume(ctx, &messages.ConsumeRequest{Offset: 0})
		st := statusOf(err)
		Expect(st.Code()).To(Equal(codes.OutOfRange), "nothing was appended")
		Expect(detail[*messages.OffsetOutOfRange](st).GetNextOffset()).To(BeZero())
		res, err := root.Produce(ctx, &messages.ProduceRequest{Records: values("with a certificate")})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.GetOffsets()).To(Equal([]uint64{0}))
	})

	It("still refuses a certificate of another CA at the handshake, health included", func() {
		stranger := devCerts(nil, []string{"stranger"})["stranger"]
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := healthpb.NewHealthClient(probeConn(stranger)).Check(ctx, &healthpb.HealthCheckRequest{})
		Expect(codeOf(err)).To(Equal(codes.Unavailable), "%v", err)
	})
})
