package specs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("A crash of the segment actor", func() {
	It("is restarted by its supervisor while the node keeps serving, losing nothing and hanging nothing", func() {
		node := startAgent("sup1", GinkgoT().TempDir(), "--enable-fault-injection")
		producer := newClient(node)
		consumer := newClient(node)

		const opDeadline = 10 * time.Second
		// Every call gets opDeadline; one that takes much longer hung.
		const hangBound = opDeadline + 3*time.Second

		var (
			mu       sync.Mutex
			acked    = map[uint64][]byte{}
			failures []error
			slowest  time.Duration
			stop     = make(chan struct{})
			wg       sync.WaitGroup
			produced atomic.Int64
			consumed atomic.Int64
		)
		track := func(d time.Duration) {
			mu.Lock()
			slowest = max(slowest, d)
			mu.Unlock()
		}

		By("producing and consuming continuously")
		wg.Add(2)
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				vals := make([][]byte, 20)
				for j := range vals {
					vals[j] = fmt.Appendf(nil, "sup-%d-%d", i, j)
				}
				ctx, cancel := context.WithTimeout(context.Background(), opDeadline)
				t := time.Now()
				offs, err := producer.Produce(ctx, vals...)
				track(time.Since(t))
				cancel()
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					for j, o := range offs {
						acked[o] = vals[j]
					}
					produced.Add(int64(len(offs)))
				}
				mu.Unlock()
			}
		}()
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			next := uint64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), opDeadline)
				t := time.Now()
				res, err := consumer.Consume(ctx, next, client.ConsumeOptions{MaxRecords: 500, Wait: 200 * time.Millisecond})
				track(time.Since(t))
				cancel()
				if err == nil && len(res.Records) > 0 {
					next = res.Records[len(res.Records)-1].Offset + 1
					consumed.Add(int64(len(res.Records)))
				}
			}
		}()

		By("injecting crashes into the segment actor: at once, and in the middle of an append")
		for _, mode := range []string{"now", "after-append", "now"} {
			before := produced.Load()
			Eventually(produced.Load, 20*time.Second, 10*time.Millisecond).Should(BeNumerically(">", before+500))
			resp, err := http.Post(node.url("/debug/fault/segment-crash?mode="+mode), "application/json", nil)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(BeNumerically("<", 300))
		}

		By("seeing produce and consume make progress after the last crash")
		p, cn := produced.Load(), consumed.Load()
		Eventually(produced.Load, 20*time.Second, 10*time.Millisecond).Should(BeNumerically(">", p+500))
		Eventually(consumed.Load, 20*time.Second, 10*time.Millisecond).Should(BeNumerically(">", cn+500))
		close(stop)
		wg.Wait()
		Expect(node.session).NotTo(gexec.Exit(), "the node must survive the crashes")
		Expect(node.healthy()).To(Succeed())

		mu.Lock()
		defer mu.Unlock()
		GinkgoWriter.Printf("acknowledged %d records; %d produce calls failed; slowest call %s\n", len(acked), len(failures), slowest)
		Expect(slowest).To(BeNumerically("<", hangBound), "a request hung")
		for _, err := range failures {
			// A failure is allowed only as a clean error in time, never
			// as a rejection of a valid request.
			var inv *client.InvalidRequestError
			Expect(errors.As(err, &inv)).To(BeFalse(), "valid request rejected: %v", err)
		}

		By("finding every acknowledged record, densely, after the crashes")
		all := readAll(newClient(node))
		for off, v := range acked {
			Expect(off).To(BeNumerically("<", len(all)))
			Expect(all[off]).To(Equal(v), "offset %d", off)
		}
	})
})
