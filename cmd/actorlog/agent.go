package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"actorlog/certs"
	"actorlog/node"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// stopTimeout bounds a graceful shutdown; past it the process exits anyway
// and the next start recovers from the files.
const stopTimeout = 30 * time.Second

type agentOptions struct {
	cfg        node.Config
	consul     bool
	consulAddr string
	sync       string
	logFormat  string
	tls        certs.Files
	logLevel   *string
	trace      traceFlags
	heartbeat  time.Duration
}

func newAgentCommand(logLevel *string) *cobra.Command {
	def := node.DefaultConfig()
	o := &agentOptions{cfg: def, sync: def.Storage.Sync.String(), logLevel: logLevel}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an actorlog node",
		Long: `agent runs one actorlog node: it opens (or recovers) the log in --data-dir,
serves clients on --actor-addr (protoactor remote, used by the Go client and the
CLI), the HTTP JSON API on --http-addr and the gRPC Log service (for clients
in any language, messages/log.proto) on --grpc-addr, and runs until SIGINT or
SIGTERM, when it shuts down gracefully.

When it is ready it prints exactly one line to standard output:

  actorlog agent ready id=<id> actor=<host:port> http=<host:port> raft=<host:port> grpc=<host:port>

with the addresses it actually listens on (use port 0 to let the kernel pick).
The line comes once the node listens, before joining a cluster completes.
Logs go to standard error.

Writes go through Raft. A node with no raft state (a new --data-dir) needs
--bootstrap to start a new single-voter cluster, or --join with the actor
addresses of existing members, which it asks (retrying with backoff) to add it
as a voter. With neither it waits until some member adds it. A node that has
raft state ignores --bootstrap and rejoins the cluster it records.

Discovery through Consul is on when --consul-addr or --bootstrap-expect is
given (or --consul=true, for the default agent address 127.0.0.1:8500), and off
otherwise; --consul=false turns it off whatever else is set. With discovery the
node registers as service "actorlog" (ID = --id, address = the actor endpoint,
meta raft_addr, http_addr, node_id) with a TTL check that a membership actor
keeps passing while the node is healthy (critical when it cannot serve,
warning when it has known no raft leader for 5 s), and
deregisters on a graceful stop. The raft leader adds every passing member as a
voter, removes a member that deregistered (after 10 s), and one that stayed
critical for --reconcile-grace; it never removes itself, nor anything while fewer than
a majority of the voters pass. --bootstrap-expect N makes nodes with no raft
state wait until N nodes pass in Consul; then the lowest id among the first N
bootstraps raft with all N, and the others are added by it. GET /v1/status
reports "consul": off, starting, registered or unavailable.

A node leaves its cluster for good with 'actorlog leave' (POST /v1/leave): it
hands leadership over, deregisters from Consul, has the leader remove it from
raft, and stops; the agent then exits 0. A --data-dir that left refuses to
start again unless --rejoin is given, which drops its stale copy of the log and
joins it as a new member (promoted to voter once it has caught up).

Every record is handed to the operating system before it is acknowledged, so
an acknowledged record survives kill -9 of the agent whatever --sync says.
--sync decides what survives a power loss: "always" fsyncs the raft log on a
majority before a record commits (in data format 2 the record log, which then
holds only references into the raft log, is fsynced every --sync-interval and
rebuilt from the raft log after a power loss; in format 1 every node also
fsyncs its record log before it answers); "interval" (the default) fsyncs both
logs every --sync-interval,
and "none" leaves it to the operating system: with these two, a power loss can
take acknowledged records of the last interval, and when it hits a node that
then loses its leadership, replicas can disagree about them.

Mutual TLS is on when --tls-cert, --tls-key and --tls-ca are given (all three,
or none). It covers the actor remote (clients, other nodes, and the
connections the node dials back to clients), the raft transport and the HTTP
API. The certificate must be a node certificate (subject OU "node", as
'actorlog certs' makes them); peers must present a certificate of the same CA,
and plaintext peers are refused (the node logs why). Over HTTP, /healthz,
/readyz and /metrics answer without a client certificate; every other endpoint
needs one.

With TLS, --acl-policy names the authorisation policy: lines
"p, <identity or *>, <produce|consume|admin|*>", where the identity is a client
certificate's Common Name. Anything not granted is refused with Unauthorized
(HTTP 403). With TLS and no policy every client identity is refused (node
certificates are always allowed) and the node warns at start. WITHOUT TLS
THERE IS NO AUTHORISATION: anyone who reaches the ports may do anything.

Tracing (OpenTelemetry) is off by default. --trace-exporter otlp sends spans
to a collector over OTLP/HTTP at --trace-otlp-endpoint; --trace-exporter stdout
writes them as JSON to standard output, after the ready line (for development).
A request that arrives with a trace context follows its caller's sampling
decision; others are sampled at --trace-sample-ratio.

--enable-fault-injection is off by default and is for tests only: it adds
POST /debug/fault/segment-crash to the HTTP API, which makes the active segment
actor panic so its supervisor restarts it. Never enable it in production.`,
		Example: `  actorlog agent --id n1 --data-dir ./data/n1 --bootstrap
  actorlog agent --id n2 --data-dir ./data/n2 --actor-addr 127.0.0.1:7401 --http-addr 127.0.0.1:7481 --raft-addr 127.0.0.1:7471 --grpc-addr 127.0.0.1:7491 --join 127.0.0.1:7400
  actorlog agent --id n1 --data-dir /var/lib/actorlog --actor-addr 0.0.0.0:7400 --http-addr 0.0.0.0:7480
  actorlog agent --id n1 --data-dir ./data/n1 --consul-addr 127.0.0.1:8500 --bootstrap-expect 3
  actorlog agent --id t1 --data-dir /tmp/t1 --actor-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --sync always
  actorlog agent --id n1 --data-dir ./data/n1 --bootstrap --tls-cert certs-dev/n1.pem --tls-key certs-dev/n1-key.pem --tls-ca certs-dev/ca.pem --acl-policy certs-dev/policy.csv
  actorlog agent --id n1 --data-dir ./data/n1 --bootstrap --trace-exporter otlp --trace-otlp-endpoint localhost:4318`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := cmd.Flags()
			on := flags.Changed("consul-addr") || o.cfg.BootstrapExpect > 0
			if flags.Changed("consul") {
				on = o.consul
			}
			if on {
				o.cfg.ConsulAddr = o.consulAddr
			}
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cfg.ID, "id", def.ID, "node id, unique in the cluster")
	f.StringVar(&o.cfg.DataDir, "data-dir", def.DataDir, "directory of the node's log (created when missing)")
	f.IntVar(&o.cfg.DataFormat, "data-format", def.DataFormat, "data directory format for new records: 1 writes each record twice (in the raft log and the record log); 2 writes it once, in the raft log, and the record log refers to it. A format 1 directory moves up to 2; never down (docs/DESIGN.md, \"Data directory formats\")")
	f.StringVar(&o.cfg.ActorAddr, "actor-addr", def.ActorAddr, "host:port of the actor remote that clients connect to")
	f.StringVar(&o.cfg.AdvertisedActorAddr, "advertise-actor-addr", def.AdvertisedActorAddr, "address clients should use for --actor-addr when it differs (NAT, containers); empty: the bound one")
	f.StringVar(&o.cfg.RaftAddr, "raft-addr", def.RaftAddr, "host:port of the raft transport (port 0: the kernel picks, and the bound port is advertised)")
	f.StringVar(&o.cfg.AdvertisedRaftAddr, "advertise-raft-addr", "", "address other nodes dial for raft when it differs from --raft-addr: a name that stays the same across restarts (a StatefulSet pod's DNS name, a Compose service); empty: the bound one, which must not be 0.0.0.0")
	f.BoolVar(&o.cfg.Bootstrap, "bootstrap", false, "bootstrap a new single-voter cluster when the node has no raft state (ignored when it has)")
	f.StringSliceVar(&o.cfg.Join, "join", nil, "actor addresses (host:port[,host:port...]) of existing members to ask for being added as a voter")
	f.BoolVar(&o.consul, "consul", false, "register in Consul and reconcile raft with it (on by default when --consul-addr or --bootstrap-expect is given; --consul=false turns it off)")
	f.StringVar(&o.consulAddr, "consul-addr", "127.0.0.1:8500", "host:port of the local Consul agent's HTTP API")
	f.IntVar(&o.cfg.BootstrapExpect, "bootstrap-expect", 0, "with no raft state, wait until this many nodes pass in Consul, then the lowest id among them bootstraps raft with all (0: off)")
	f.BoolVar(&o.cfg.Rejoin, "rejoin", false, "start a --data-dir that left its cluster ('actorlog leave') again: drop its raft log and record log and join as a new member (without it such a directory refuses to start)")
	f.DurationVar(&o.cfg.ReconcileGrace, "reconcile-grace", def.ReconcileGrace, "how long the raft leader keeps a voter that Consul reports critical before removing it")
	f.DurationVar(&o.heartbeat, "raft-heartbeat-timeout", def.Raft.HeartbeatTimeout, `how long a follower waits without hearing from the leader before it starts
an election; also the election timeout and the leader's lease. Heartbeats wait
behind the follower's disk writes, so raise it on a disk whose fsyncs can take
this long`)
	f.Uint64Var(&o.cfg.Raft.SnapshotThreshold, "raft-snapshot-threshold", def.Raft.SnapshotThreshold, "raft entries since the last snapshot that make raft take a new one")
	f.DurationVar(&o.cfg.Raft.SnapshotInterval, "raft-snapshot-interval", def.Raft.SnapshotInterval, "how often raft checks --raft-snapshot-threshold")
	f.Uint64Var(&o.cfg.Raft.TrailingLogs, "raft-trailing-logs", def.Raft.TrailingLogs, "raft entries kept after a snapshot, so a follower that lags less catches up without one")
	f.IntVar(&o.cfg.RaftStore.SegmentBytes, "raft-segment-bytes", node.DefaultRaftSegmentBytes, "size of one raft log segment file: the raft log (which holds the records' bytes in data format 2) gives disk space back a segment at a time once retention and raft's snapshots no longer need it")
	f.StringVar(&o.cfg.HTTPAddr, "http-addr", def.HTTPAddr, "host:port of the HTTP JSON API and /healthz")
	f.StringVar(&o.cfg.GRPCAddr, "grpc-addr", def.GRPCAddr, "host:port of the gRPC Log service (actorlog.v1.Log; reflection and grpc.health.v1 too), with the same TLS and policy as --actor-addr")
	f.StringVar(&o.cfg.AdvertisedGRPCAddr, "advertise-grpc-addr", def.AdvertisedGRPCAddr, "address gRPC clients should use for --grpc-addr when it differs (NAT, containers); empty: the bound one")
	f.Uint64Var(&o.cfg.Storage.MaxStoreBytes, "segment-bytes", def.Storage.MaxStoreBytes, "roll over to a new segment once its store file reaches this size")
	f.Uint64Var(&o.cfg.Storage.MaxIndexBytes, "index-bytes", def.Storage.MaxIndexBytes, "roll over to a new segment once its index reaches this size")
	f.StringVar(&o.sync, "sync", o.sync, "fsync policy: none, interval or always")
	f.DurationVar(&o.cfg.Storage.SyncInterval, "sync-interval", def.Storage.SyncInterval, "fsync period of the raft log and the record log with --sync interval")
	f.Uint64Var(&o.cfg.Storage.RetentionBytes, "retention-bytes", def.Storage.RetentionBytes, "delete the oldest segments once the log is larger than this (0: keep all)")
	f.DurationVar(&o.cfg.Storage.RetentionAge, "retention-age", def.Storage.RetentionAge, "delete segments whose newest record is older than this (0: keep all)")
	f.Uint32Var(&o.cfg.MaxRecordBytes, "max-record-bytes", def.MaxRecordBytes, "largest record value accepted")
	f.Uint32Var(&o.cfg.MaxBatchBytes, "max-batch-bytes", def.MaxBatchBytes, "largest produce request accepted (at most 48 MiB: every node stores what any node accepted)")
	f.DurationVar(&o.cfg.RequestTimeout, "request-timeout", def.RequestTimeout, "deadline of a request inside the node")
	f.DurationVar(&o.cfg.MaxWait, "max-wait", def.MaxWait, "longest long poll a consume request may ask for")
	f.DurationVar(&o.cfg.SessionIdleTimeout, "session-idle-timeout", def.SessionIdleTimeout, "end a client's session after this long without a request or a subscription")
	f.DurationVar(&o.cfg.StabilizationTime, "stabilization-time", def.StabilizationTime, "how long a new member must stay caught up and healthy before the leader makes it a voter")
	f.IntVar(&o.cfg.MaxSessionsPerIdentity, "max-sessions-per-identity", def.MaxSessionsPerIdentity, "most sessions one client identity (certificate) may hold on this node")
	f.IntVar(&o.cfg.MaxConnsPerPeer, "max-conns-per-peer", def.MaxConnsPerPeer, "most connections one peer host may hold on the actor port")
	registerTLSFlags(cmd, &o.tls,
		"PEM node certificate (subject OU \"node\", as 'actorlog certs' makes). With --tls-key and --tls-ca it turns mutual TLS on for the remote, raft and HTTP")
	f.StringVar(&o.cfg.ACLPolicy, "acl-policy", "", `authorisation policy file (needs TLS): lines "p, <identity or *>, <produce|consume|admin|*>";
with TLS and no policy, every client identity is refused`)
	f.BoolVar(&o.cfg.FaultInjection, "enable-fault-injection", false, "TESTS ONLY: serve POST /debug/fault/segment-crash and /debug/fault/diverge (off by default)")
	f.DurationVar(&o.cfg.ChecksumInterval, "checksum-interval", def.ChecksumInterval, `how often the leader has every replica compare the checksum of its
records with the leader's; a replica that differs refuses reads of them and
rebuilds its log from the leader (negative: off)`)
	f.DurationVar(&o.cfg.ScrubInterval, "scrub-interval", def.ScrubInterval, `how often the scrubber re-reads the next 256 KiB of sealed segments,
checking every record's CRC; a replica with a damaged record refuses to serve
it and rebuilds its log from a peer (negative: off)`)
	f.BoolVar(&o.cfg.UnsafeRaftHeartbeatFastPath, "unsafe-raft-heartbeat-fast-path", false, `UNSAFE, for reproducing a raft bug only: answer raft heartbeats outside
raft's main loop, as hashicorp/raft does by default, which can make replicas
diverge after a leader pause (docs/DESIGN.md)`)
	f.StringVar(&o.cfg.PprofAddr, "pprof-addr", "", "serve Go runtime profiles (net/http/pprof) under /debug/pprof/ on this host:port; off when empty (the default)")
	f.StringVar(&o.logFormat, "log-format", "", `log format on stderr: text or json
(default text when stderr is a terminal, json otherwise)`)
	o.trace.register(f)
	return cmd
}

func (o *agentOptions) run(ctx context.Context, out io.Writer) error {
	log, err := newLogger(*o.logLevel, "info")
	if err != nil {
		return err
	}
	format := o.logFormat
	if format == "" {
		format = "json"
		if stderrIsTerminal() {
			format = "text"
		}
	}
	switch format {
	case "text":
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return &usageError{fmt.Errorf("--log-format must be text or json, got %q", o.logFormat)}
	}
	sync, err := node.ParseSyncPolicy(o.sync)
	if err != nil {
		return &usageError{fmt.Errorf("--sync: %w", err)}
	}
	cfg := o.cfg
	if o.heartbeat <= 0 {
		return &usageError{fmt.Errorf("--raft-heartbeat-timeout must be positive, got %s", o.heartbeat)}
	}
	cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout, cfg.Raft.LeaderLeaseTimeout = o.heartbeat, o.heartbeat, o.heartbeat
	if cfg.TLS, err = tlsConfig(o.tls); err != nil {
		return err
	}
	cfg.Storage.Sync = sync
	cfg.Logger = log
	if cfg.Tracing, err = o.trace.config(); err != nil {
		return err
	}
	if cfg.DataDir == "" {
		return &usageError{errors.New("--data-dir is required")}
	}

	n, err := node.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("starting node %s: %w", cfg.ID, err)
	}
	// Exactly one line on stdout: scripts and specs wait for it.
	fmt.Fprintf(out, "actorlog agent ready id=%s actor=%s http=%s raft=%s grpc=%s\n", cfg.ID, n.ActorAddr(), n.HTTPAddr(), n.RaftAddr(), n.GRPCAddr())
	if f, ok := out.(*os.File); ok {
		_ = f.Sync()
	}

	for {
		var died, restart bool
		select {
		case <-ctx.Done():
			log.Info("signal received, stopping")
		case <-n.Done():
			if n.Left() {
				// actorlog leave: the node stops once it is out.
				log.Info("left the cluster; stopped")
				return nil
			}
			died = true
			log.Error("node stopped by itself")
		case <-n.RestartRequested():
			// A diverged replica restarts to drop its logs and rebuild
			// them from the leader (docs/DESIGN.md).
			restart = true
			log.Warn("restarting the node to rebuild its log")
		}
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		err := n.Stop(stopCtx)
		cancel()
		if err != nil && !restart {
			return fmt.Errorf("stopping node %s: %w", cfg.ID, err)
		}
		if died {
			return fmt.Errorf("node %s stopped unexpectedly", cfg.ID)
		}
		if !restart {
			log.Info("stopped")
			return nil
		}
		cfg = n.RestartConfig()
		if n, err = node.Start(ctx, cfg); err != nil {
			return fmt.Errorf("restarting node %s: %w", cfg.ID, err)
		}
		log.WithFields(logrus.Fields{"actor": n.ActorAddr(), "http": n.HTTPAddr(), "raft": n.RaftAddr()}).Info("node restarted")
	}
}

// stderrIsTerminal reports whether standard error is a terminal (a
// character device), where people rather than collectors read the logs.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
