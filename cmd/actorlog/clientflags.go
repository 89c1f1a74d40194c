package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"actorlog/certs"
	"actorlog/client"
	"github.com/spf13/cobra"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	servers    []string
	consulAddr string
	timeout    time.Duration
	transport  string
	tls        certs.Files
	logLevel   *string
	trace      traceFlags                  // registered by the commands that trace
	flushTrace func(context.Context) error // set by connect when tracing is on
}

func (f *clientFlags) register(cmd *cobra.Command, logLevel *string) {
	f.logLevel = logLevel
	cmd.Flags().StringSliceVar(&f.servers, "servers", []string{client.DefaultServer},
		"actor addresses (host:port) of nodes, comma separated; the client fails over between them")
	cmd.Flags().StringVar(&f.consulAddr, "consul-addr", "",
		"find the nodes through the Consul agent at this host:port (their passing \"actorlog\" instances); --servers, when given too, is the fallback")
	cmd.Flags().StringVar(&f.transport, "transport", string(client.TransportActor),
		`how to reach the nodes: "actor" (the actor remote on --actor-addr) or "grpc" (the gRPC Log service on --grpc-addr: then --servers are gRPC addresses, default 127.0.0.1:7490, and no listener is needed)`)
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second,
		"deadline of each request, retries included; a node that stays unreachable this long is an error")
	registerTLSFlags(cmd, &f.tls,
		"PEM client certificate; its Common Name is the identity the nodes authorise. With --tls-key and --tls-ca it turns mutual TLS on ('make certs' writes a development set)")
}

// registerTLSFlags adds --tls-cert (described by certHelp), --tls-key and
// --tls-ca.
func registerTLSFlags(cmd *cobra.Command, files *certs.Files, certHelp string) {
	cmd.Flags().StringVar(&files.Cert, "tls-cert", "", certHelp)
	cmd.Flags().StringVar(&files.Key, "tls-key", "", "PEM private key of --tls-cert")
	cmd.Flags().StringVar(&files.CA, "tls-ca", "", "PEM certificate of the CA that signs every node and client; peers of another CA are refused")
}

// tlsConfig loads the TLS flags: nil when none is set, a usage error when
// only some are.
func tlsConfig(files certs.Files) (*tls.Config, error) {
	if !files.Enabled() {
		return nil, nil
	}
	cfg, err := certs.Load(files)
	if err != nil {
		return nil, &usageError{err}
	}
	return cfg, nil
}

// connect starts a client with the flags' settings.
func (f *clientFlags) connect(ctx context.Context) (*client.Client, error) {
	if f.timeout <= 0 {
		return nil, &usageError{fmt.Errorf("--timeout must be positive, got %s", f.timeout)}
	}
	log, err := newLogger(*f.logLevel, "error")
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsConfig(f.tls)
	if err != nil {
		return nil, err
	}
	cfg := client.DefaultConfig()
	cfg.TLS = tlsCfg
	cfg.Servers = f.serverList()
	cfg.Consul = f.consulAddr
	if err := f.applyTransport(&cfg); err != nil {
		return nil, err
	}
	cfg.Timeout = f.timeout
	cfg.AttemptTimeout = min(cfg.AttemptTimeout, f.timeout)
	cfg.Logger = log
	if err := f.setupTracing(&cfg); err != nil {
		return nil, err
	}
	if cfg.Consul == "" {
		if err := cfg.Validate(); err != nil {
			return nil, &usageError{fmt.Errorf("--servers: %w", err)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := client.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", strings.Join(cfg.Servers, ","), err)
	}
	return c, nil
}

// opContext bounds one operation by --timeout.
func (f *clientFlags) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.timeout)
}

// serverList is --servers without blanks. With --consul-addr, the default
// --servers is dropped: the nodes come from Consul then.
func (f *clientFlags) serverList() []string {
	var out []string
	for _, s := range f.servers {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if f.consulAddr != "" && len(out) == 1 && out[0] == client.DefaultServer {
		return nil
	}
	if f.transport == string(client.TransportGRPC) && len(out) == 1 && out[0] == client.DefaultServer {
		// The default node's gRPC port, not its actor port.
		return []string{defaultGRPCServer}
	}
	return out
}

// defaultGRPCServer is where --transport grpc looks without --servers: a
// node with the default --grpc-addr.
const defaultGRPCServer = "127.0.0.1:7490"

// applyTransport sets cfg.Transport from --transport.
func (f *clientFlags) applyTransport(cfg *client.Config) error {
	switch client.Transport(f.transport) {
	case client.TransportActor, client.TransportGRPC:
		cfg.Transport = client.Transport(f.transport)
		return nil
	}
	return &usageError{fmt.Errorf("--transport must be %q or %q, got %q", client.TransportActor, client.TransportGRPC, f.transport)}
}
