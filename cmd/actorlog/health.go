package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"actorlog/node"
	"github.com/spf13/cobra"
)

// errUnhealthy is the failure of `actorlog health` when the node answered
// but not with 200.
var errUnhealthy = errors.New("node is not healthy")

// httpsHint is what Go's HTTP server answers to plain HTTP on a TLS port.
const httpsHint = "Client sent an HTTP request to an HTTPS server"

type healthOptions struct {
	addr    string
	ready   bool
	timeout time.Duration
}

func newHealthCommand() *cobra.Command {
	o := &healthOptions{}
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check a node's /healthz (or /readyz) and exit 0 when it passes",
		Long: `health asks the node at --http-addr for GET /healthz, prints the answer,
and exits 0 when the node is healthy (200), 1 when it is not or does not
answer within --timeout. --ready asks /readyz instead: healthy, a member of a
raft cluster, and a leader known.

It is the health check of the container image, which has no shell or curl:

  HEALTHCHECK CMD ["/actorlog", "health", "--http-addr", "127.0.0.1:7480"]

A node with TLS serves HTTPS; health notices (the node answers plain HTTP
with 400) and asks again over TLS without verifying the node's certificate,
as Kubernetes' HTTPS probes do: /healthz and /readyz need no client
certificate and carry nothing secret.`,
		Example: `  actorlog health
  actorlog health --http-addr 127.0.0.1:7481 --ready
  actorlog health --http-addr n1:7480 --timeout 1s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "http-addr", node.DefaultHTTPAddr, "host:port of the node's HTTP API")
	f.BoolVar(&o.ready, "ready", false, "check /readyz (in a cluster with a leader) instead of /healthz")
	f.DurationVar(&o.timeout, "timeout", 3*time.Second, "deadline of the check, the retry over TLS included")
	return cmd
}

func (o *healthOptions) run(ctx context.Context, out io.Writer) error {
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return &usageError{fmt.Errorf("--http-addr %q is not host:port: %w", o.addr, err)}
	}
	if o.timeout <= 0 {
		return &usageError{fmt.Errorf("--timeout must be positive, got %s", o.timeout)}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	path := "/healthz"
	if o.ready {
		path = "/readyz"
	}
	hc := &http.Client{Transport: &http.Transport{
		// Probing one's own node: no proxy, and no certificate check (see
		// the command's help).
		Proxy:             nil,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a probe, see above
		DisableKeepAlives: true,
	}}
	status, body, err := get(ctx, hc, "http://"+o.addr+path)
	if err == nil && status == http.StatusBadRequest && strings.Contains(body, httpsHint) {
		status, body, err = get(ctx, hc, "https://"+o.addr+path)
	}
	if err != nil {
		return fmt.Errorf("%s%s: %w", o.addr, path, err)
	}
	fmt.Fprintln(out, strings.TrimSpace(body))
	if status != http.StatusOK {
		return fmt.Errorf("%w: %s%s answered %d", errUnhealthy, o.addr, path, status)
	}
	return nil
}

func get(ctx context.Context, hc *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, string(b), nil
}
