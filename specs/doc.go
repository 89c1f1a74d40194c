// Package specs holds the black-box Ginkgo specs of actorlog: they build the
// real binary, start real node processes (and a real Consul agent) on
// 127.0.0.1 with ports from the kernel and temporary data directories, and
// drive them through the CLI, the Go client and the HTTP API.
package specs
