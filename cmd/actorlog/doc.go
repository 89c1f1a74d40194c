// Command actorlog is the single binary of the project.
//
//   - `actorlog agent` runs a node (package node): it prints exactly one line
//     to stdout when ready, "actorlog agent ready id=<id> actor=<addr>
//     http=<addr>", logs to stderr, and stops gracefully on SIGINT/SIGTERM.
//   - `actorlog produce` appends one record per stdin line and prints the
//     offsets, in input order, as they are acknowledged.
//   - `actorlog consume` prints records (raw lines, or --json with base64
//     values as in the HTTP API), to the end of the log or --follow.
//   - `actorlog servers` lists the cluster's servers, leader and health.
//   - `actorlog bench` measures produce and consume throughput and request
//     latency against running nodes.
//   - `actorlog health` checks a node's /healthz (or /readyz) and exits 0
//     when it passes: the container image's health check, which has no
//     shell. `actorlog --version` prints the version and commit that
//     `make build` and `make image` set at link time.
//   - `actorlog leave` takes a node out of its cluster for good (raft and
//     Consul) before it stops; with --if-scaled-down it does so only when
//     the Kubernetes StatefulSet scaled its pod away (the Helm chart's
//     preStop hook).
//
// The client commands use package client, share --servers and --timeout, and
// stay quiet on stderr unless --log-level asks otherwise. Every command has
// --help with examples and defaults.
//
// Exit status: 0 on success (and for consume --follow ended by a signal), 1
// when the operation failed (node unreachable, request rejected, I/O error),
// 2 for a usage error (bad flag or argument), when nothing was attempted.
package main
