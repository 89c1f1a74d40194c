package client_test

import (
	"context"
	"time"

	"actorlog/client"
	"actorlog/discovery"
	"actorlog/discovery/consultest"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("A client that finds the nodes in Consul", func() {
	It("finds them at start, and looks again when no node it knows answers", func(sctx SpecContext) {
		agent, err := consultest.Start(sctx, consultest.Options{LogOutput: GinkgoWriter, LogLevel: "warn"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agent.Stop)
		lookup := func() ([]string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return discovery.LookupActorAddrs(ctx, agent.Addr(), "")
		}

		a := startNode(GinkgoT().TempDir(), "", "--consul-addr", agent.Addr())
		Eventually(lookup, 20*time.Second).Should(Equal([]string{a.actorAddr}))
		c := newClient(client.Config{Consul: agent.Addr()})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = c.Produce(ctx, []byte("to a"))
		Expect(err).NotTo(HaveOccurred())

		// a leaves (and deregisters); b takes its place at another address.
		a.Stop()
		b := startNode(GinkgoT().TempDir(), "", "--consul-addr", agent.Addr())
		Eventually(lookup, 20*time.Second).Should(Equal([]string{b.actorAddr}))
		offs, err := c.Produce(ctx, []byte("to b"))
		Expect(err).NotTo(HaveOccurred())
		Expect(offs).To(Equal([]uint64{0}), "b is a new single-node cluster")
	}, NodeTimeout(2*time.Minute))
})
