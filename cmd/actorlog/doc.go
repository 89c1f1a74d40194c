// Command actorlog is the single binary of the project: `agent` runs a node,
// `produce`, `consume` and `servers` are shell clients, and `bench` measures
// throughput and latency.
package main
