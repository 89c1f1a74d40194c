package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"actorlog/certs"
	"actorlog/node"
	"github.com/spf13/cobra"
)

// errLeaveFailed is the failure of `actorlog leave` when the node answered
// but did not leave.
var errLeaveFailed = errors.New("the node did not leave")

// defaultLeaveTimeout is `actorlog leave --timeout`: the node's own
// default, so that the same flag value works in a preStop hook sized by
// the Helm chart.
const defaultLeaveTimeout = node.DefaultLeaveTimeout

type leaveOptions struct {
	addr    string
	timeout time.Duration
	tls     certs.Files
	// ifScaledDown names the StatefulSet whose scale-down alone makes the
	// node leave (a preStop hook); pod is this pod's name.
	ifScaledDown string
	pod          string
	// scaleCheck builds the check (inClusterScaleCheck; tests replace it).
	scaleCheck func(statefulSet, pod string) (*scaleDownCheck, error)
}

func newLeaveCommand() *cobra.Command {
	o := &leaveOptions{scaleCheck: inClusterScaleCheck}
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Take a node out of its cluster for good (raft and Consul), then stop it",
		Long: `leave asks the node at --http-addr (POST /v1/leave) to leave its cluster for
good, as before scaling a cluster down:

  1. a leader hands leadership over to another voter first;
  2. the leader checks that the node may go: it refuses to remove the only
     voter, and a voter whose removal would leave fewer than a majority of the
     remaining voters answering (exit 1, "last_voter" or "no_quorum");
  3. the node records in its data directory that it left, deregisters from
     Consul, and the leader removes it from the raft configuration;
  4. the node stops, and its agent exits 0.

A later start of the same --data-dir refuses to run ("this data directory left
its cluster") unless the agent is given --rejoin: it then drops its stale copy
of the log and joins as a new member, a non-voter that the leader promotes once
it has caught up.

In a preStop hook of a StatefulSet, --if-scaled-down <statefulset> makes leave
act only when the pod is being scaled away: it asks the Kubernetes API (with
the pod's service account, which needs "get" on that StatefulSet) for the
desired replicas, and leaves only when the pod's ordinal (from --pod, default
$POD_NAME) is at or above them. A rolling update, an eviction or a node drain
ends pods below that count: then it prints why and exits 0 without leaving. A
StatefulSet scaled to zero or being deleted is no scale-down either. When the
API cannot be asked it exits 1 and leaves nothing.

With TLS the request needs a certificate whose identity holds the admin grant
(or a node certificate): pass --tls-cert, --tls-key and --tls-ca. Everything
must finish within --timeout; a node that cannot find a leader in that time
answers "no_leader" and stays a member.`,
		Example: `  actorlog leave --http-addr 127.0.0.1:7481
  actorlog leave --if-scaled-down log-actorlog          # preStop hook of the Helm chart
  actorlog leave --http-addr n2:7480 --tls-cert root.pem --tls-key root-key.pem --tls-ca ca.pem`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "http-addr", node.DefaultHTTPAddr, "host:port of the HTTP API of the node that leaves")
	f.DurationVar(&o.timeout, "timeout", defaultLeaveTimeout, "deadline of the whole leave (the --if-scaled-down check, hand-over, checks, removal); the answer is awaited 5 s longer")
	f.StringVar(&o.ifScaledDown, "if-scaled-down", "", "leave only when this pod is being scaled away from the named StatefulSet (see above); otherwise exit 0")
	f.StringVar(&o.pod, "pod", "", "this pod's name, for --if-scaled-down (default $POD_NAME)")
	registerTLSFlags(cmd, &o.tls, "PEM client certificate with the admin grant (or a node certificate); with --tls-key and --tls-ca the request goes over HTTPS")
	return cmd
}

func (o *leaveOptions) run(ctx context.Context, out io.Writer) error {
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return &usageError{fmt.Errorf("--http-addr %q is not host:port: %w", o.addr, err)}
	}
	if o.timeout <= 0 {
		return &usageError{fmt.Errorf("--timeout must be positive, got %s", o.timeout)}
	}
	tlsCfg, err := tlsConfig(o.tls)
	if err != nil {
		return err
	}
	// One deadline for everything, the scale check included, so that a
	// preStop hook ends within --timeout (plus the wait for the answer).
	deadline := time.Now().Add(o.timeout)
	if o.ifScaledDown != "" {
		leave, err := o.scaledDown(ctx, deadline)
		if err != nil || !leave {
			return err
		}
	}
	remaining := time.Until(deadline).Round(time.Millisecond)
	if remaining < time.Second {
		return fmt.Errorf("%w: --timeout %s spent before the node was asked", errLeaveFailed, o.timeout)
	}
	scheme := "http://"
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if tlsCfg != nil {
		scheme = "https://"
		tr.TLSClientConfig = tlsCfg
	}
	// The node bounds the leave by ?timeout=; the request waits a little
	// longer for its answer.
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(5*time.Second))
	defer cancel()
	url := scheme + o.addr + "/v1/leave?timeout=" + remaining.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return &usageError{err}
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("%s/v1/leave: %w", o.addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("%s/v1/leave: %w", o.addr, err)
	}
	text := strings.TrimSpace(string(body))
	if resp.StatusCode == http.StatusBadRequest && strings.Contains(text, httpsHint) {
		return &usageError{fmt.Errorf("%s serves HTTPS: pass --tls-cert, --tls-key and --tls-ca", o.addr)}
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%w: %s (%s): %s", errLeaveFailed, o.addr, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("%w: %s answered %d: %s", errLeaveFailed, o.addr, resp.StatusCode, text)
	}
	fmt.Fprintln(out, text)
	return nil
}

// scaleCheckTimeout bounds the --if-scaled-down question to the API
// server, within --timeout: one GET.
const scaleCheckTimeout = 10 * time.Second

// scaledDown runs the --if-scaled-down check, within scaleCheckTimeout and
// the deadline, and says on stderr what it found.
func (o *leaveOptions) scaledDown(ctx context.Context, deadline time.Time) (bool, error) {
	check, err := o.scaleCheck(o.ifScaledDown, o.pod)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, scaleCheckTimeout)
	defer cancelT()
	leave, why, err := check.scaledDown(ctx)
	if err != nil {
		return false, err
	}
	if leave {
		fmt.Fprintln(os.Stderr, why+": leaving the cluster")
	} else {
		fmt.Fprintln(os.Stderr, why+": not leaving")
	}
	return leave, nil
}
