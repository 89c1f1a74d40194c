// Package discovery registers an actorlog node with its local Consul agent,
// keeps its health check alive, watches the healthy members with blocking
// queries, and deregisters the node when it leaves. It talks to Consul only
// through hashicorp/consul/api.
//
// # What it owns
//
//   - Registrar: one node's registration. The node registers service
//     "actorlog" (Config.Service) with ID = node id, Address and Port = the
//     actor remote endpoint, and Meta node_id, raft_addr and http_addr.
//   - Watcher: a blocking-query watch of the service's instances, delivering
//     a snapshot of Members on each change.
//   - Members and LookupActorAddrs: one-shot queries for clients and for
//     `actorlog servers`.
//
// It never decides anything about raft membership: the membership actor
// reads the Watcher's snapshots and does the reconciling. It never writes to
// stdout; it logs state changes through the logrus entry it is given.
//
// # The health check: a TTL, kept alive by the owner
//
// A node registers one TTL check (ID CheckID(id)), not an HTTP check on
// /healthz. The reasons:
//
//   - The check says what the node itself knows. The membership actor
//     reports warning ("catching up") or critical ("cannot serve") with a
//     note through Registrar.UpdateTTL, which a liveness probe on /healthz
//     cannot tell apart from "alive".
//   - It works whatever the HTTP API's setup: an agent would need a client
//     certificate to probe /healthz under mutual TLS, and HTTP may be off.
//   - Death is still detected: the Registrar refreshes the check every
//     TTL/3 (DefaultTTL is 10 s), so a node that dies, freezes or loses its
//     agent turns critical within one TTL.
//
// Consul reaps a critical instance after DeregisterCriticalServiceAfter.
// Consul will not go below one minute, and its reaper runs every 30 s, so a
// dead node disappears 1 to 1.5 minutes after it turned critical. A node
// that leaves gracefully deregisters at once (Registrar.Close). A node that
// restarts in place sets Config.SkipLeaveOnClose so that the raft leader
// does not take the restart for a departure.
//
// # Agent outages and restarts
//
// The Registrar never gives up and never crashes. When a refresh fails it
// registers again: registering is idempotent, and a restarted agent (a dev
// agent, or one that lost its data dir) has forgotten the node. While the
// agent is unavailable it retries with exponential backoff between
// Config.MinBackoff and MaxBackoff, and logs once when the outage starts
// and once when it ends, with each attempt at debug only. State reports
// where it stands, for metrics and readiness.
//
// The Watcher follows Consul's blocking-query rules (see the Watcher type)
// and keeps its last snapshot while the agent is away. After a failure, and
// whenever a query would go out on a new connection, it starts over from
// index 0, so a restarted agent, whose index starts again from the bottom,
// does not leave it blocked on an index it will not reach. (Go's HTTP
// client silently replays a blocking query whose connection died, so a
// failure alone would not reveal every restart.)
//
// # Goroutines
//
// NewRegistrar and NewWatcher each start one goroutine, which owns every
// request that type makes. Registrar.Close and Watcher.Close stop it, wait
// for it, and are safe to call more than once. Members and LookupActorAddrs
// start nothing and keep no connections open.
//
// # Tests
//
// The specs run against a real Consul agent started by the consultest
// subpackage; they fail, never skip, when bin/consul is missing
// (`make consul` builds it).
package discovery
