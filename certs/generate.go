package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"time"
)

// Defaults of generation.
const (
	// DefaultCAValidity is how long a CA made by NewCA is valid.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultLeafValidity is how long an issued certificate is valid when
	// Options.ValidFor is zero.
	DefaultLeafValidity = 365 * 24 * time.Hour
	// NodeOU is the subject OrganizationalUnit that marks a node
	// certificate.
	NodeOU = "node"
	// organization is the subject Organization of everything made here.
	organization = "actorlog"
	// clockSkew backdates NotBefore so that a peer whose clock is a little
	// behind accepts a certificate made a moment ago.
	clockSkew = 5 * time.Minute
)

// KeyPair is a certificate and its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	DER  []byte // Cert in DER
}

// Options describes a certificate to Issue.
type Options struct {
	// CommonName is the identity the certificate carries. Required.
	CommonName string
	// Node marks a node certificate (OrganizationalUnit NodeOU).
	Node bool
	// Hosts are DNS names and IP addresses put in the certificate's
	// subject alternative names. actorlog does not verify host names (see
	// the package doc), but other TLS clients (curl) do.
	Hosts []string
	// ValidFor is the validity period. Default DefaultLeafValidity.
	ValidFor time.Duration
}

// NewCA makes a self-signed certificate authority named commonName.
func NewCA(commonName string) (*KeyPair, error) {
	if commonName == "" {
		return nil, fmt.Errorf("%w: the CA needs a common name", ErrTLSConfig)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate the CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{organization}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(DefaultCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return sign(tmpl, tmpl, key, key)
}

// Issue signs a leaf certificate with ca. The leaf allows both server and
// client authentication: every actorlog party serves and dials.
func Issue(ca *KeyPair, o Options) (*KeyPair, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, fmt.Errorf("%w: Issue needs a CA with its key", ErrTLSConfig)
	}
	if o.CommonName == "" {
		return nil, fmt.Errorf("%w: Options.CommonName is required", ErrTLSConfig)
	}
	if o.ValidFor <= 0 {
		o.ValidFor = DefaultLeafValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate a key: %w", err)
	}
	now := time.Now()
	subj := pkix.Name{CommonName: o.CommonName, Organization: []string{organization}}
	if o.Node {
		subj.OrganizationalUnit = []string{NodeOU}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subj,
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(o.ValidFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return sign(tmpl, ca.Cert, key, ca.Key)
}

func sign(tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (*KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("certs: sign %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse %q: %w", tmpl.Subject.CommonName, err)
	}
	return &KeyPair{Cert: cert, Key: key, DER: der}, nil
}

// serial is a random 127-bit serial number, as RFC 5280 asks (positive, at
// most 20 bytes, unpredictable).
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("certs: crypto/rand failed: %v", err))
	}
	return n
}

// CertPEM is the certificate in PEM.
func (k *KeyPair) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.DER})
}

// KeyPEM is the private key in PEM (PKCS #8).
func (k *KeyPair) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode the key of %q: %w", k.Cert.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// TLSCertificate is the pair as a tls.Certificate.
func (k *KeyPair) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{k.DER}, PrivateKey: k.Key, Leaf: k.Cert}
}

// WriteFiles writes the certificate to certPath (mode 0644) and the key to
// keyPath (mode 0600, it is a secret). Without overwrite it refuses, with
// ErrExists, to replace either file.
func (k *KeyPair) WriteFiles(certPath, keyPath string, overwrite bool) error {
	keyPEM, err := k.KeyPEM()
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, keyPEM, 0o600, overwrite); err != nil {
		return err
	}
	return writeFile(certPath, k.CertPEM(), 0o644, overwrite)
}

func writeFile(path string, data []byte, mode os.FileMode, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !overwrite {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	// An existing file keeps its mode through O_TRUNC: a key must not stay
	// readable by others.
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	return nil
}

// ReadKeyPair reads a certificate and its key written by WriteFiles (or any
// PEM pair with an ECDSA key), to issue more certificates with a CA.
func ReadKeyPair(certPath, keyPath string) (*KeyPair, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, &ConfigError{Field: certPath, Reason: err.Error()}
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, &ConfigError{Field: keyPath, Reason: fmt.Sprintf("key is %T, not ECDSA", pair.PrivateKey)}
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, &ConfigError{Field: certPath, Reason: err.Error()}
	}
	return &KeyPair{Cert: cert, Key: key, DER: pair.Certificate[0]}, nil
}
