package specs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"actorlog/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// docs/DESIGN.md, invariants 1 and 2, across three nodes, under each fsync
// policy. The specs share one cluster per policy and run in order: each
// leaves it settled, with every node holding the same log, and knows how
// long that log is.
var _ = clusterSpecs("interval")
var _ = clusterSpecs("always")
var _ = clusterSpecs("none")

func clusterSpecs(policy string) bool {
	return Describe("A three-node cluster with --sync "+policy, Ordered, func() {
		var (
			cluster *testCluster
			// next is the log's length after the previous spec.
			next uint64
		)

		BeforeAll(func() {
			cluster = startCluster(3, "--sync", policy)
		})

		It("replicates every record to every node at the same dense offsets, byte for byte", func() {
			c := clusterClient(cluster.actorAddrs(), nil)
			vals := uniqueValues("rep", 500)
			var offs []uint64
			for i := 0; i < len(vals); i += 50 {
				offs = append(offs, produceAll(c, vals[i:i+50])...)
			}
			for i, off := range offs {
				Expect(off).To(Equal(uint64(i)), "offsets are dense from 0")
			}
			next = uint64(len(vals))
			all := cluster.sameLogEverywhere(next)
			for i, v := range vals {
				Expect(all[i]).To(Equal(v))
			}
		})

		It("accepts a produce sent to a follower only, which forwards it to the leader", func() {
			f := cluster.followers()[0]

			By("posting to the follower's HTTP API")
			body, err := json.Marshal(map[string]any{"records": []map[string]any{{"value": []byte("via-follower-http")}}})
			Expect(err).NotTo(HaveOccurred())
			status, reply := httpJSON(http.MethodPost, "http://"+f.httpAddr+"/v1/records", body)
			Expect(status).To(Equal(http.StatusOK), "%v", reply)
			Expect(reply["offsets"]).To(Equal([]any{float64(next)}))
			next++

			By("producing through a client that knows the follower's address only")
			c := clusterClient([]string{f.actorAddr}, nil)
			offs := produceAll(c, uniqueValues("via-follower-client", 5))
			Expect(offs).To(Equal([]uint64{next, next + 1, next + 2, next + 3, next + 4}))
			next += 5

			all := cluster.sameLogEverywhere(next)
			Expect(string(all[next-6])).To(Equal("via-follower-http"))
		})

		It("serves a consistent read that sees every acknowledged write, from any node", func() {
			c := clusterClient(cluster.actorAddrs(), nil)
			followers := cluster.followers()
			for i := range 20 {
				v := fmt.Appendf(nil, "consistent-%02d", i)
				off := produceAll(c, [][]byte{v})[0]
				Expect(off).To(Equal(next))
				next++

				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res, err := c.Consume(ctx, off, client.ConsumeOptions{Consistent: true, MaxRecords: 1})
				cancel()
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Records).To(HaveLen(1))
				Expect(res.Records[0].Value).To(Equal(v))

				// Over HTTP on a follower, consistent=true must not be
				// answered from the follower's possibly stale log.
				f := followers[i%len(followers)]
				var page struct {
					Records []struct {
						Offset uint64 `json:"offset"`
						Value  []byte `json:"value"`
					} `json:"records"`
				}
				Expect(f.getJSON(fmt.Sprintf("/v1/records?offset=%d&max=1&consistent=true", off), &page)).To(Succeed())
				Expect(page.Records).To(HaveLen(1))
				Expect(page.Records[0].Value).To(Equal(v))
			}
			cluster.sameLogEverywhere(next)
		})

		It("keeps serving when a follower is killed, and the follower catches up after a restart", func() {
			c := clusterClient(cluster.actorAddrs(), nil)
			f := cluster.followers()[0]
			By("killing follower " + f.id + " with SIGKILL")
			f.kill9()

			vals := uniqueValues("follower-down", 300)
			for i := 0; i < len(vals); i += 30 {
				offs := produceAll(c, vals[i:i+30])
				Expect(offs[0]).To(Equal(next))
				next += uint64(len(offs))
			}

			By("restarting " + f.id + " on its data directory and addresses")
			f.start()
			cluster.waitSettled()
			all := cluster.sameLogEverywhere(next)
			Expect(all[next-1]).To(Equal(vals[len(vals)-1]))
		})

		It("elects a new leader when the leader is killed, and loses or duplicates no acknowledged record", func() {
			c := clusterClient(cluster.actorAddrs(), nil)
			old := cluster.leader()

			type ack struct {
				values  [][]byte
				offsets []uint64
				at      time.Time
			}
			var (
				mu     sync.Mutex
				acks   []ack
				failed []error
				wg     sync.WaitGroup
			)
			stop := make(chan struct{})
			ackedSince := func(t time.Time) int {
				mu.Lock()
				defer mu.Unlock()
				n := 0
				for _, a := range acks {
					if a.at.After(t) {
						n += len(a.values)
					}
				}
				return n
			}
			By("producing continuously from four goroutines")
			for w := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						vals := uniqueValues(fmt.Sprintf("failover-w%d-b%05d", w, i), 10)
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						offs, err := c.Produce(ctx, vals...)
						cancel()
						mu.Lock()
						if err != nil {
							failed = append(failed, err)
						} else {
							acks = append(acks, ack{values: vals, offsets: offs, at: time.Now()})
						}
						mu.Unlock()
					}
				})
			}
			DeferCleanup(func() {
				select {
				case <-stop:
				default:
					close(stop)
				}
				wg.Wait()
			})
			Eventually(func() int { return ackedSince(time.Time{}) }, 30*time.Second, 10*time.Millisecond).
				Should(BeNumerically(">=", 300))

			By("killing the leader " + old.id + " with SIGKILL")
			old.kill9()
			// From here on no ack can come from the old leader.
			killed := time.Now()
			Eventually(func() int { return ackedSince(killed) }, 60*time.Second, 10*time.Millisecond).
				Should(BeNumerically(">=", 300), "produce must continue through a new leader")
			close(stop)
			wg.Wait()
			Expect(failed).To(BeEmpty(), "every produce must succeed through the client's retries")

			var lastBefore, firstAfter time.Time
			for _, a := range acks {
				if !a.at.After(killed) && a.at.After(lastBefore) {
					lastBefore = a.at
				}
				if a.at.After(killed) && (firstAfter.IsZero() || a.at.Before(firstAfter)) {
					firstAfter = a.at
				}
			}
			newLeader := cluster.leader()
			Expect(newLeader).NotTo(BeIdenticalTo(old))
			fmt.Fprintf(GinkgoWriter, "failover: leader %s killed; last ack before the kill -> first ack after it: %s (kill -> first ack %s); new leader %s\n",
				old.id, firstAfter.Sub(lastBefore).Round(time.Millisecond), firstAfter.Sub(killed).Round(time.Millisecond), newLeader.id)
			AddReportEntry("failover time", firstAfter.Sub(lastBefore).Round(time.Millisecond).String())

			By("restarting " + old.id + " and checking every node's log")
			old.start()
			cluster.waitSettled()
			st, err := newLeader.status()
			Expect(err).NotTo(HaveOccurred())
			all := cluster.sameLogEverywhere(st.NextOffset)

			seen := make(map[string]uint64, len(all))
			for off, v := range all {
				if !bytes.HasPrefix(v, []byte("failover-")) {
					continue
				}
				prev, dup := seen[string(v)]
				Expect(dup).To(BeFalse(), "%q is at offsets %d and %d", v, prev, off)
				seen[string(v)] = uint64(off)
			}
			total := 0
			for _, a := range acks {
				for i, v := range a.values {
					off, ok := seen[string(v)]
					Expect(ok).To(BeTrue(), "acknowledged %q is lost", v)
					Expect(off).To(Equal(a.offsets[i]), "acknowledged %q moved", v)
					total++
				}
			}
			GinkgoWriter.Printf("failover: %d records acknowledged, all present once\n", total)
			next = st.NextOffset
		})

		It("replays a full restart of every node without losing or duplicating anything", func() {
			before := cluster.sameLogEverywhere(next)

			By("killing every node with SIGKILL")
			for _, nd := range cluster.nodes {
				nd.kill9()
			}
			By("restarting every node on its data directory")
			for _, nd := range cluster.nodes {
				nd.start()
			}
			cluster.waitSettled()
			after := cluster.sameLogEverywhere(next)
			Expect(slices.EqualFunc(before, after, bytes.Equal)).To(BeTrue(), "the log changed across the restart")

			c := clusterClient(cluster.actorAddrs(), nil)
			offs := produceAll(c, uniqueValues("after-full-restart", 3))
			Expect(offs).To(Equal([]uint64{next, next + 1, next + 2}))
			next += 3
			cluster.sameLogEverywhere(next)
		})
	})
}
