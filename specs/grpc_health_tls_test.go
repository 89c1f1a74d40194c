package specs

import (
	"crypto/tls"
	"path/filepath"
	"time"

	"actorlog/messages"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

var _ = Describe("A health probe of a node with mutual TLS", func() {
	It("gets SERVING from grpc.health.v1 without a client certificate, while the Log service refuses the same connection", func() {
		set := makeCerts(filepath.Join(GinkgoT().TempDir(), "certs"), "--nodes", "1")
		a := startAgent("h1", GinkgoT().TempDir(), append(set.flags("n1"), "--acl-policy", set.file("policy.csv"))...)

		// What the kubelet's gRPC probe in TLS mode dials: TLS, no
		// certificate, the server's not verified.
		conn, err := grpc.NewClient(a.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(
			&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)
		Eventually(func() (healthpb.HealthCheckResponse_ServingStatus, error) {
			res, err := healthpb.NewHealthClient(conn).Check(specCtx(10*time.Second), &healthpb.HealthCheckRequest{Service: "actorlog.v1.Log"})
			return res.GetStatus(), err
		}, 30*time.Second, 200*time.Millisecond).Should(Equal(healthpb.HealthCheckResponse_SERVING))

		log := messages.NewLogClient(conn)
		_, err = log.Produce(specCtx(10*time.Second), &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("no certificate")}}})
		Expect(status.Code(err)).To(Equal(codes.Unauthenticated), "%v", err)
		_, err = log.GetServers(specCtx(10*time.Second), &messages.ServersRequest{})
		Expect(status.Code(err)).To(Equal(codes.Unauthenticated), "%v", err)

		// The root certificate of the set may do everything, on the same
		// port: the refused produce appended nothing.
		root := messages.NewLogClient(grpcTLSConn(a.grpcAddr, loadTLS(set.files("root"))))
		res, err := root.Produce(specCtx(10*time.Second), &messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("with a certificate")}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.GetOffsets()).To(Equal([]uint64{0}))
	})
})

// grpcTLSConn dials addr with a plain grpc-go client presenting cfg's
// certificate.
func grpcTLSConn(addr string, cfg *tls.Config) *grpc.ClientConn {
	GinkgoHelper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(conn.Close)
	return conn
}
