package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"slices"
)

// Files names the PEM files of a party's TLS configuration, as the
// --tls-cert, --tls-key and --tls-ca flags do.
type Files struct {
	// Cert is this party's certificate (with any intermediates after it).
	Cert string
	// Key is the private key of Cert.
	Key string
	// CA holds the certificates of the authority that signs every peer.
	CA string
}

// Enabled reports whether any file is named: TLS is then on, and Load
// requires all three.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Load reads the files into one mutual-TLS configuration, used both to
// serve and to dial: it presents Cert, requires every peer to present a
// certificate signed by CA (either way), and speaks TLS 1.2 or later.
//
// Dialling sides do not check the host name (InsecureSkipVerify) and verify
// the peer's chain against the CA themselves (VerifyConnection): nodes dial
// clients back at whatever address the client reported, which no
// certificate can name in advance, so the CA and the identity are what is
// trusted, never the address.
//
// Partial Files (a certificate without a key, no CA) are an error: a party
// half configured for TLS must not silently speak plaintext.
func Load(f Files) (*tls.Config, error) {
	switch {
	case f.Cert == "":
		return nil, &ConfigError{Field: "--tls-cert", Reason: "missing: TLS needs a certificate, a key and a CA"}
	case f.Key == "":
		return nil, &ConfigError{Field: "--tls-key", Reason: "missing: TLS needs a certificate, a key and a CA"}
	case f.CA == "":
		return nil, &ConfigError{Field: "--tls-ca", Reason: "missing: TLS needs a certificate, a key and a CA"}
	}
	for _, p := range []string{f.Cert, f.Key, f.CA} {
		if _, err := os.Stat(p); err != nil {
			return nil, &ConfigError{Field: p, Reason: errors.Unwrap(err).Error()}
		}
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, &ConfigError{Field: f.Cert + " / " + f.Key, Reason: err.Error()}
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, &ConfigError{Field: f.CA, Reason: err.Error()}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &ConfigError{Field: f.CA, Reason: "no PEM certificate in it"}
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, &ConfigError{Field: f.Cert, Reason: err.Error()}
	}
	pair.Leaf = leaf
	var inter []*x509.Certificate
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, &ConfigError{Field: f.Cert, Reason: err.Error()}
		}
		inter = append(inter, c)
	}
	if _, err := verify(leaf, inter, pool); err != nil {
		return nil, &ConfigError{Field: f.Cert, Reason: "not signed by the CA in " + f.CA + ": " + err.Error()}
	}
	return Config(pair, pool), nil
}

// Config builds the mutual-TLS configuration of Load from a certificate and
// a CA pool already in memory.
func Config(cert tls.Certificate, ca *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// A dialler presents its certificate whatever the server asks for
		// (a server of another CA names other acceptable authorities).
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		RootCAs:              ca,
		ClientCAs:            ca,
		ClientAuth:           tls.RequireAndVerifyClientCert,
		// See Load: the chain is verified below, the host name never.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &PeerError{Reason: "no certificate presented; mutual TLS is required"}
			}
			if _, err := verify(cs.PeerCertificates[0], cs.PeerCertificates[1:], ca); err != nil {
				return &PeerError{Identity: cs.PeerCertificates[0].Subject.CommonName, Reason: "not signed by the configured CA: " + err.Error()}
			}
			return nil
		},
	}
}

// verify checks a leaf's chain against the CA, for either use: every
// actorlog leaf serves and dials.
func verify(leaf *x509.Certificate, intermediates []*x509.Certificate, ca *x509.CertPool) ([][]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	return leaf.Verify(x509.VerifyOptions{
		Roots:         ca,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
}

// RequireNode returns a copy of cfg that also refuses every peer whose
// certificate is not a node certificate: for the raft transport and other
// node-to-node channels.
func RequireNode(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	inner := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if inner != nil {
			if err := inner(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 || !IsNode(cs.PeerCertificates[0]) {
			id := ""
			if len(cs.PeerCertificates) > 0 {
				id = Identity(cs.PeerCertificates[0])
			}
			return &PeerError{Identity: id, Reason: "not a node certificate (subject OU " + NodeOU + ")"}
		}
		return nil
	}
	return c
}

// Identity is the identity a certificate carries: its subject Common Name.
func Identity(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Subject.CommonName
}

// IsNode reports whether c is a node certificate.
func IsNode(c *x509.Certificate) bool {
	return c != nil && slices.Contains(c.Subject.OrganizationalUnit, NodeOU)
}

// RequireName returns a copy of cfg that also refuses every peer whose
// certificate is not a node certificate named name (its Common Name): for
// a party that dials a member it knows by id, so that another node's
// certificate, or a client's, cannot stand in for it.
func RequireName(cfg *tls.Config, name string) *tls.Config {
	c := cfg.Clone()
	inner := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if inner != nil {
			if err := inner(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 || !IsNode(cs.PeerCertificates[0]) {
			return &PeerError{Reason: "not a node certificate (subject OU " + NodeOU + ")"}
		}
		if got := Identity(cs.PeerCertificates[0]); got != name {
			return &PeerError{Identity: got, Reason: "the node certificate is named " + got + ", not " + name}
		}
		return nil
	}
	return c
}
