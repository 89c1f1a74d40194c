// Package consultest starts a real Consul agent (`consul agent -dev`) for
// tests and specs, the way the project's specs need it: on 127.0.0.1 only,
// on ports chosen by the kernel, with DNS, gRPC and the WAN pool switched
// off, and with its output sent to a writer the caller chooses (GinkgoWriter
// in the specs).
//
// It owns the agent process and nothing else. It never mocks Consul and never
// skips: when the binary is missing it fails with a message that says how to
// build it (`make consul`). The binary is found through, in order,
// Options.Binary, the CONSUL_BIN environment variable (set by `make test`)
// and bin/consul at the root of the module that contains the working
// directory (what `go test` uses when run by hand).
//
// A dev agent keeps its state in memory, so Restart brings back an empty
// agent on the same ports: exactly what a node sees when its local agent is
// restarted and has forgotten every registration.
//
// Typical use in a Ginkgo suite:
//
//	agent, err := consultest.Start(ctx, consultest.Options{LogOutput: GinkgoWriter})
//	Expect(err).NotTo(HaveOccurred())
//	DeferCleanup(agent.Stop)
//	cfg.ConsulAddr = agent.Addr()
package consultest
