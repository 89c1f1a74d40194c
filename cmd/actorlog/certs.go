package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"actorlog/authz"
	"actorlog/certs"
	"github.com/spf13/cobra"
)

type certsOptions struct {
	dir     string
	nodes   []string
	count   int
	clients []string
	hosts   []string
	force   bool
}

func newCertsCommand() *cobra.Command {
	o := &certsOptions{}
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Write a development CA, node and client certificates, and a sample policy",
		Long: `certs writes everything mutual TLS needs for development and tests into --dir:

  ca.pem, ca-key.pem            a new certificate authority (ECDSA P-256)
  <node>.pem, <node>-key.pem    one node certificate per --node (subject OU "node")
  <client>.pem, <client>-key.pem one client certificate per --clients name
  policy.csv                    a sample --acl-policy: "root" may produce, consume
                                and administer; any other identity nothing

The certificate's Common Name is the identity: the node id for nodes, the
name for clients. Keys are written with mode 0600. Every certificate may both
serve and dial (clients serve the listener nodes dial replies back to).
actorlog verifies peers by CA, not host name; --hosts only serves other TLS
clients such as curl.

An existing CA in --dir is reused to issue the certificates, so more nodes or
clients can be added later; certificate files that exist are kept. --force
makes a new CA and rewrites every file (peers holding the old ones stop
trusting and being trusted).`,
		Example: `  actorlog certs --dir certs-dev
  actorlog certs --dir certs-dev --nodes 5 --clients root,nobody,reader
  actorlog certs --dir certs-dev --node n4      # one more node, same CA
  actorlog agent --id n1 --data-dir data/n1 --bootstrap \
      --tls-cert certs-dev/n1.pem --tls-key certs-dev/n1-key.pem --tls-ca certs-dev/ca.pem --acl-policy certs-dev/policy.csv
  actorlog produce --tls-cert certs-dev/root.pem --tls-key certs-dev/root-key.pem --tls-ca certs-dev/ca.pem`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.OutOrStdout(), cmd.Flags().Changed("node"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "directory to write into (created when missing); required")
	f.IntVar(&o.count, "nodes", 3, "number of node certificates, named n1..nN like 'make run' names its nodes (ignored with --node)")
	f.StringSliceVar(&o.nodes, "node", nil, "node ids to issue certificates for, instead of --nodes (repeat or comma separate)")
	f.StringSliceVar(&o.clients, "clients", []string{"root", "nobody"}, "client identities to issue certificates for")
	f.StringSliceVar(&o.hosts, "hosts", []string{"127.0.0.1", "localhost"}, "DNS names and IPs put in the node certificates (for curl; actorlog does not check them)")
	f.BoolVar(&o.force, "force", false, "make a new CA and overwrite every file")
	return cmd
}

func (o *certsOptions) run(out io.Writer, namedNodes bool) error {
	if o.dir == "" {
		return &usageError{errors.New("--dir is required")}
	}
	nodes := o.nodes
	if !namedNodes {
		if o.count < 0 {
			return &usageError{fmt.Errorf("--nodes must not be negative, got %d", o.count)}
		}
		nodes = nil
		for i := 1; i <= o.count; i++ {
			nodes = append(nodes, fmt.Sprintf("n%d", i))
		}
	}
	seen := map[string]bool{"ca": true, "policy": true}
	for _, name := range append(append([]string{}, nodes...), o.clients...) {
		if name == "" || strings.ContainsAny(name, `/\`) || seen[name] {
			return &usageError{fmt.Errorf("name %q: names must be distinct, non-empty, without slashes, and not ca or policy", name)}
		}
		seen[name] = true
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	path := func(name, suffix string) string { return filepath.Join(o.dir, name+suffix) }

	caCert, caKey := path("ca", ".pem"), path("ca", "-key.pem")
	var ca *certs.KeyPair
	_, statErr := os.Stat(caCert)
	switch {
	case statErr == nil && !o.force:
		var err error
		if ca, err = certs.ReadKeyPair(caCert, caKey); err != nil {
			return fmt.Errorf("reusing the CA in %s (--force makes a new one): %w", o.dir, err)
		}
		fmt.Fprintf(out, "using the existing CA %s\n", caCert)
	default:
		var err error
		if ca, err = certs.NewCA("actorlog development CA"); err != nil {
			return err
		}
		if err := ca.WriteFiles(caCert, caKey, o.force); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s\n", caCert)
	}

	issue := func(name string, node bool) error {
		cert, key := path(name, ".pem"), path(name, "-key.pem")
		if _, err := os.Stat(cert); err == nil && !o.force {
			// A kept certificate must still belong to the CA in use: one
			// left from a CA that was removed would be refused by every
			// peer, and only at run time.
			kp, err := certs.ReadKeyPair(cert, key)
			if err != nil {
				return fmt.Errorf("keeping %s (--force reissues it): %w", cert, err)
			}
			if err := kp.Cert.CheckSignatureFrom(ca.Cert); err != nil {
				return fmt.Errorf("%s was not signed by the CA %s; --force makes a new CA and reissues every certificate", cert, caCert)
			}
			fmt.Fprintf(out, "kept %s\n", cert)
			return nil
		}
		opts := certs.Options{CommonName: name, Node: node}
		if node {
			opts.Hosts = o.hosts
		}
		kp, err := certs.Issue(ca, opts)
		if err != nil {
			return err
		}
		if err := kp.WriteFiles(cert, key, true); err != nil {
			return err
		}
		kind := "client"
		if node {
			kind = "node"
		}
		fmt.Fprintf(out, "wrote %s (%s %q)\n", cert, kind, name)
		return nil
	}
	for _, n := range nodes {
		if err := issue(n, true); err != nil {
			return err
		}
	}
	for _, c := range o.clients {
		if err := issue(c, false); err != nil {
			return err
		}
	}

	policy := path("policy", ".csv")
	if _, err := os.Stat(policy); err == nil && !o.force {
		fmt.Fprintf(out, "kept %s\n", policy)
		return nil
	}
	text := "# actorlog authorisation policy: p, <identity or *>, <action or *>\n" +
		"# actions: " + strings.Join(authz.Actions, ", ") + ". Anything not granted is refused.\n"
	for _, a := range authz.Actions {
		text += "p, root, " + a + "\n"
	}
	if err := os.WriteFile(policy, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", policy)
	return nil
}
