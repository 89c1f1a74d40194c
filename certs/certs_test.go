package certs_test

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"

	"actorlog/certs"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// party writes a CA-signed pair into dir and returns its Files.
func party(dir string, ca *certs.KeyPair, caFile string, o certs.Options) certs.Files {
	kp, err := certs.Issue(ca, o)
	Expect(err).NotTo(HaveOccurred())
	f := certs.Files{Cert: filepath.Join(dir, o.CommonName+".pem"), Key: filepath.Join(dir, o.CommonName+"-key.pem"), CA: caFile}
	Expect(kp.WriteFiles(f.Cert, f.Key, false)).To(Succeed())
	return f
}

func newCA(dir, name string) (*certs.KeyPair, string) {
	ca, err := certs.NewCA(name)
	Expect(err).NotTo(HaveOccurred())
	p := filepath.Join(dir, name+".pem")
	Expect(ca.WriteFiles(p, filepath.Join(dir, name+"-key.pem"), false)).To(Succeed())
	return ca, p
}

func load(f certs.Files) *tls.Config {
	cfg, err := certs.Load(f)
	Expect(err).NotTo(HaveOccurred())
	return cfg
}

// handshake runs one TLS handshake over loopback and returns both sides'
// errors and the identity the server saw.
func handshake(server, client *tls.Config) (serverErr, clientErr error, identity string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	type result struct {
		err error
		id  string
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		err = tc.Handshake()
		id := ""
		if err == nil {
			id = certs.Identity(tc.ConnectionState().PeerCertificates[0])
			// Let the client's read see the end of the handshake.
			_, err = tc.Write([]byte{1})
		}
		done <- result{err: err, id: id}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err == nil {
		var b [1]byte
		_, err = c.Read(b[:])
		_ = c.Close()
	}
	r := <-done
	return r.err, err, r.id
}

var _ = Describe("certificates", func() {
	var (
		dir    string
		ca     *certs.KeyPair
		caFile string
	)
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		ca, caFile = newCA(dir, "ca")
	})

	It("makes node and client certificates that complete a mutual handshake, with the client's Common Name as identity", func() {
		node := party(dir, ca, caFile, certs.Options{CommonName: "n1", Node: true, Hosts: []string{"127.0.0.1", "localhost"}})
		root := party(dir, ca, caFile, certs.Options{CommonName: "root"})
		sErr, cErr, id := handshake(load(node), load(root))
		Expect(sErr).NotTo(HaveOccurred())
		Expect(cErr).NotTo(HaveOccurred())
		Expect(id).To(Equal("root"))

		kp, err := certs.ReadKeyPair(node.Cert, node.Key)
		Expect(err).NotTo(HaveOccurred())
		Expect(certs.IsNode(kp.Cert)).To(BeTrue())
		Expect(kp.Cert.IPAddresses).To(HaveLen(1))
		Expect(kp.Cert.DNSNames).To(ConsistOf("localhost"))
		rk, err := certs.ReadKeyPair(root.Cert, root.Key)
		Expect(err).NotTo(HaveOccurred())
		Expect(certs.IsNode(rk.Cert)).To(BeFalse())
	})

	It("writes keys readable by the owner only and never overwrites unless asked", func() {
		f := party(dir, ca, caFile, certs.Options{CommonName: "root"})
		st, err := os.Stat(f.Key)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		kp, err := certs.Issue(ca, certs.Options{CommonName: "root"})
		Expect(err).NotTo(HaveOccurred())
		Expect(kp.WriteFiles(f.Cert, f.Key, false)).To(MatchError(certs.ErrExists))
		Expect(kp.WriteFiles(f.Cert, f.Key, true)).To(Succeed())
	})

	It("refuses a peer of another CA, on either side", func() {
		otherCA, otherFile := newCA(dir, "other-ca")
		node := party(dir, ca, caFile, certs.Options{CommonName: "n1", Node: true})
		stranger := party(dir, otherCA, otherFile, certs.Options{CommonName: "root-elsewhere"})

		sErr, cErr, _ := handshake(load(node), load(stranger))
		Expect(sErr).To(HaveOccurred())
		Expect(cErr).To(HaveOccurred())
		// And a node of the other CA is refused by our client.
		otherNode := party(dir, otherCA, otherFile, certs.Options{CommonName: "n9", Node: true})
		root := party(dir, ca, caFile, certs.Options{CommonName: "root"})
		_, cErr, _ = handshake(load(otherNode), load(root))
		Expect(cErr).To(HaveOccurred())
		Expect(cErr.Error()).To(ContainSubstring("not signed by the configured CA"))
	})

	It("refuses a peer without a certificate", func() {
		node := party(dir, ca, caFile, certs.Options{CommonName: "n1", Node: true})
		sErr, _, _ := handshake(load(node), &tls.Config{InsecureSkipVerify: true})
		Expect(sErr).To(HaveOccurred())
	})

	It("keeps non-node certificates off node-only channels", func() {
		n1 := party(dir, ca, caFile, certs.Options{CommonName: "n1", Node: true})
		n2 := party(dir, ca, caFile, certs.Options{CommonName: "n2", Node: true})
		root := party(dir, ca, caFile, certs.Options{CommonName: "root"})
		sErr, cErr, id := handshake(certs.RequireNode(load(n1)), certs.RequireNode(load(n2)))
		Expect(sErr).NotTo(HaveOccurred())
		Expect(cErr).NotTo(HaveOccurred())
		Expect(id).To(Equal("n2"))

		sErr, _, _ = handshake(certs.RequireNode(load(n1)), load(root))
		var pe *certs.PeerError
		Expect(errors.As(sErr, &pe)).To(BeTrue(), "%v", sErr)
		Expect(pe.Identity).To(Equal("root"))
		Expect(sErr).To(MatchError(certs.ErrPeerCertificate))
	})

	It("rejects partial or broken file sets, naming what is wrong", func() {
		f := party(dir, ca, caFile, certs.Options{CommonName: "root"})
		for _, bad := range []struct {
			files certs.Files
			names string
		}{
			{certs.Files{Cert: f.Cert, CA: f.CA}, "--tls-key"},
			{certs.Files{Key: f.Key, CA: f.CA}, "--tls-cert"},
			{certs.Files{Cert: f.Cert, Key: f.Key}, "--tls-ca"},
			{certs.Files{Cert: f.Cert, Key: f.Key, CA: filepath.Join(dir, "absent.pem")}, "absent.pem"},
			{certs.Files{Cert: f.Cert, Key: f.Key, CA: f.Key}, f.Key},
		} {
			_, err := certs.Load(bad.files)
			Expect(err).To(MatchError(certs.ErrTLSConfig))
			Expect(err.Error()).To(ContainSubstring(bad.names))
		}
		Expect(certs.Files{}.Enabled()).To(BeFalse())
		Expect(f.Enabled()).To(BeTrue())

		// A certificate that the given CA did not sign.
		_, otherFile := newCA(dir, "other-ca")
		_, err := certs.Load(certs.Files{Cert: f.Cert, Key: f.Key, CA: otherFile})
		Expect(err).To(MatchError(certs.ErrTLSConfig))
		Expect(err.Error()).To(ContainSubstring("not signed by the CA"))
	})
})
