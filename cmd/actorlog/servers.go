package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"actorlog/client"
	"github.com/spf13/cobra"
)

func newServersCommand(logLevel *string) *cobra.Command {
	o := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "servers",
		Short: "List the servers of the cluster, with the leader and their health",
		Long: `servers asks a node for the members of its cluster and prints one line per
server: its id, actor (client) address, HTTP address, raft address, whether it
is the leader, and its health.

With --consul-addr the nodes are found through Consul, and HEALTH is the
status of each node's registration there (passing, warning, critical). A node
Consul does not know, or any node without --consul-addr, is probed through its
GET /healthz instead, which prints "passing" or "critical".`,
		Example: `  actorlog servers
  actorlog servers --servers 10.0.0.1:7400 --timeout 2s
  actorlog servers --consul-addr 127.0.0.1:8500`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := o.connect(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			opCtx, cancel := o.opContext(ctx)
			defer cancel()
			servers, err := c.Servers(opCtx)
			if err != nil {
				return fmt.Errorf("servers: %w", err)
			}
			if o.consulAddr != "" {
				// Consul's view of each node; a node it does not know
				// is probed below like one run without discovery.
				if health, err := client.ConsulHealth(opCtx, o.consulAddr, ""); err == nil {
					for i := range servers {
						servers[i].Health = health[servers[i].ID]
					}
				}
			}
			return printServers(opCtx, cmd.OutOrStdout(), servers)
		},
	}
	o.register(cmd, logLevel)
	return cmd
}

func printServers(ctx context.Context, out io.Writer, servers []client.Server) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACTOR\tHTTP\tRAFT\tGRPC\tLEADER\tHEALTH")
	for _, s := range servers {
		health := s.Health
		if health == "" {
			health = probeHealth(ctx, s.HTTPAddr)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", s.ID, dash(s.ActorAddr), dash(s.HTTPAddr), dash(s.RaftAddr), dash(s.GRPCAddr), s.IsLeader, health)
	}
	return tw.Flush()
}

// probeHealth asks a node's /healthz directly, for nodes that run without
// discovery and so report no health of their own.
func probeHealth(ctx context.Context, httpAddr string) string {
	if httpAddr == "" {
		return "unknown"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/healthz", nil)
	if err != nil {
		return "unknown"
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "critical"
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return "passing"
	}
	return "critical"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
