package specs

import (
	"context"
	"encoding/binary"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("A slow subscriber", func() {
	It("holds the node back by its credit instead of making it buffer without bound", func() {
		const (
			buffer     = 16
			recordSize = 1 << 10
			records    = 200_000 // 200 MiB of values
			batch      = 500
			// If the node queued what the subscriber does not read, its
			// memory would grow by about the data produced. Allow far
			// less than that for heaps, caches and mmapped indexes.
			allowedGrowth = 96 << 20
		)
		node := startAgent("slow1", GinkgoT().TempDir())
		sub := newClient(node)
		producer := newClient(node)

		value := func(i uint64) []byte {
			v := make([]byte, recordSize)
			binary.BigEndian.PutUint64(v, i)
			return v
		}

		By("subscribing with a small buffer and not reading")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := sub.Subscribe(ctx, 0, client.SubscribeOptions{Buffer: buffer})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)

		// Warm the node up so the baseline includes its steady-state heap.
		vals := make([][]byte, batch)
		for i := range vals {
			vals[i] = value(uint64(i))
		}
		_, err = producer.Produce(ctx, vals...)
		Expect(err).NotTo(HaveOccurred())
		baseline, err := vmRSS(node.pid())
		Expect(err).NotTo(HaveOccurred())
		bound := baseline + allowedGrowth
		GinkgoWriter.Printf("agent VmRSS baseline %d MiB, bound %d MiB\n", baseline>>20, bound>>20)

		By("producing 200 MiB while watching the node's memory")
		done := make(chan error, 1)
		go func() {
			defer GinkgoRecover()
			pctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			for n := uint64(batch); n < records; n += batch {
				for i := range vals {
					vals[i] = value(n + uint64(i))
				}
				if _, err := producer.Produce(pctx, vals...); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		peak := baseline
		Eventually(func() bool {
			rss, err := vmRSS(node.pid())
			Expect(err).NotTo(HaveOccurred())
			peak = max(peak, rss)
			Expect(rss).To(BeNumerically("<", bound), "agent VmRSS %d MiB", rss>>20)
			select {
			case err := <-done:
				Expect(err).NotTo(HaveOccurred())
				return true
			default:
				return false
			}
		}, 3*time.Minute, 50*time.Millisecond).Should(BeTrue())
		Consistently(func() uint64 {
			rss, err := vmRSS(node.pid())
			Expect(err).NotTo(HaveOccurred())
			peak = max(peak, rss)
			return rss
		}, 2*time.Second, 50*time.Millisecond).Should(BeNumerically("<", bound))
		GinkgoWriter.Printf("agent VmRSS peak %d MiB\n", peak>>20)

		By("having received no more than the credit it granted")
		Expect(s.Buffered()).To(BeNumerically("<=", buffer))
		Expect(s.Received()).To(BeNumerically("<=", buffer))

		By("getting every record, in order, once it reads again")
		rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
		defer rcancel()
		for i := uint64(0); i < 20_000; i++ {
			r, err := s.Next(rctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Offset).To(Equal(i))
			Expect(binary.BigEndian.Uint64(r.Value)).To(Equal(i))
		}
	})
})
