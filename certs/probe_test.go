package certs_test

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"actorlog/certs"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// serve accepts connections on a kernel port and hands each to handle until
// the spec ends.
func serve(handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(ln.Close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// plaintext reads a little and hangs up, as a plaintext gRPC server does
// with a greeting it does not understand.
func plaintext(c net.Conn) {
	b := make([]byte, 24)
	_, _ = c.Read(b)
}

func tlsServer(cfg *tls.Config) func(net.Conn) {
	return func(c net.Conn) {
		tc := tls.Server(c, cfg)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		_ = tc.Handshake()
	}
}

var _ = Describe("handshake checks", func() {
	var (
		ctx            context.Context
		dir            string
		ca, other      *certs.KeyPair
		caFile, oFile  string
		node, stranger certs.Files
	)
	BeforeEach(func() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		DeferCleanup(cancel)
		dir = GinkgoT().TempDir()
		ca, caFile = newCA(dir, "ca")
		other, oFile = newCA(dir, "other-ca")
		node = party(dir, ca, caFile, certs.Options{CommonName: "n1", Node: true})
		stranger = party(dir, other, oFile, certs.Options{CommonName: "elsewhere"})
	})

	It("passes a peer of the same CA", func() {
		addr := serve(tlsServer(load(node)))
		root := party(dir, ca, caFile, certs.Options{CommonName: "root"})
		Expect(certs.Check(ctx, addr, load(root))).To(Succeed())
		yes, err := certs.SpeaksTLS(ctx, addr)
		Expect(err).NotTo(HaveOccurred())
		Expect(yes).To(BeTrue())
	})

	It("says a plaintext peer does not speak TLS", func() {
		addr := serve(plaintext)
		err := certs.Check(ctx, addr, load(node))
		Expect(err).To(MatchError(certs.ErrHandshake))
		Expect(err.Error()).To(ContainSubstring("does not speak TLS"))
		yes, err := certs.SpeaksTLS(ctx, addr)
		Expect(err).NotTo(HaveOccurred())
		Expect(yes).To(BeFalse())
	})

	It("says which side refused a certificate of another CA", func() {
		addr := serve(tlsServer(load(node)))
		err := certs.Check(ctx, addr, load(stranger))
		Expect(err).To(MatchError(certs.ErrHandshake))
		Expect(err.Error()).To(ContainSubstring("not signed by the configured CA"))

		kp, err := tls.LoadX509KeyPair(stranger.Cert, stranger.Key)
		Expect(err).NotTo(HaveOccurred())
		trustsOurs := certs.Config(kp, load(node).RootCAs)
		err = certs.Check(ctx, addr, trustsOurs)
		Expect(err).To(MatchError(certs.ErrHandshake))
		Expect(err.Error()).To(ContainSubstring("refused our certificate"))
	})

	It("names the mismatch between a party and a peer, and nothing when they match or nobody answers", func() {
		tlsAddr, plainAddr := serve(tlsServer(load(node))), serve(plaintext)
		root := load(party(dir, ca, caFile, certs.Options{CommonName: "root"}))
		Expect(certs.Mismatch(ctx, tlsAddr, root)).To(Succeed())
		Expect(certs.Mismatch(ctx, plainAddr, nil)).To(Succeed())
		err := certs.Mismatch(ctx, tlsAddr, nil)
		Expect(err).To(MatchError(certs.ErrPeerRequiresTLS))
		Expect(err.Error()).To(ContainSubstring(tlsAddr))
		Expect(certs.Mismatch(ctx, plainAddr, root)).To(MatchError(certs.ErrHandshake))
		Expect(certs.Mismatch(ctx, tlsAddr, load(stranger))).To(MatchError(certs.ErrHandshake))

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		gone := ln.Addr().String()
		Expect(ln.Close()).To(Succeed())
		Expect(certs.Mismatch(ctx, gone, root)).To(Succeed())
	})

	It("returns the dial error as is for an address nobody listens on", func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		addr := ln.Addr().String()
		Expect(ln.Close()).To(Succeed())
		err = certs.Check(ctx, addr, load(node))
		Expect(err).To(HaveOccurred())
		Expect(err).NotTo(MatchError(certs.ErrHandshake))
	})
})
