// Package specs holds the black-box Ginkgo specs of actorlog: they build the
// real binary, start real node processes (and a real Consul agent) on
// 127.0.0.1 with ports from the kernel and temporary data directories, and
// drive them through the CLI, the Go client and the HTTP API.
//
// The binary is $ACTORLOG_BIN when set (make test builds it once), otherwise
// gexec builds it once per run. Agents are started with
// `--actor-addr 127.0.0.1:0 --http-addr 127.0.0.1:0`; a spec waits for the
// agent's ready line and reads the bound addresses from it. Every process a
// spec starts is killed in its cleanup; agent output goes to GinkgoWriter
// (shown for failed specs, or with -ginkgo.v).
//
// The single-node contract:
//
//   - roundtrip_test.go: 100,000 records through the CLI and 100,000 binary
//     values through the client read back byte for byte, through both.
//   - crash_test.go: kill -9 in the middle of a produce; after a restart on
//     the same data every acknowledged offset holds its value and offsets
//     continue densely (docs/DESIGN.md, invariant 1), for each fsync policy.
//   - supervision_test.go: crashes injected into the segment actor while
//     clients produce and consume; the node keeps serving, loses no
//     acknowledged record and no call outlives its deadline.
//   - badinput_test.go: oversized records, negative and future offsets,
//     malformed JSON and malformed protoactor batches change nothing and
//     leave the node up (docs/DESIGN.md, invariant 5).
//   - streaming_test.go: a subscriber that stops reading holds the node back
//     by its credit; the node's resident memory stays bounded.
//
// Clients in one spec process share a logger on purpose: clients with equal
// transport settings share one protoactor remote (see package client).
package specs
