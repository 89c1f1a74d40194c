//go:build faults

package specs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The leader-pause stress run (make faults runs a short one, make
// stress-pauses a long one): a 3-node cluster under continuous writes (nine
// HTTP writers) and consistent reads (three readers), whose
// leader is paused (SIGSTOP for 2-5 s, then SIGCONT) again and again. After
// each pause the writers stop, the replicas converge, and every offset
// written since the previous round is compared across replicas; at the end
// every acknowledged record is checked to be present exactly once, at the
// offset it was acknowledged with.
//
// The checksum checker is off here, so that only raft decides what the
// replicas hold: with --unsafe-raft-heartbeat-fast-path (FAULTS_UNSAFE_FAST_PATH=1)
// the run reproduces hashicorp/raft issue 695, and fails.
//
// Environment: FAULTS_PAUSES (default 8), FAULTS_SEED (default: random,
// printed), FAULTS_WRITERS (clients, default 12, a quarter of them
// readers), FAULTS_SYNC (the agents' --sync, default interval),
// FAULTS_UNSAFE_FAST_PATH=1.
var _ = Describe("Leader pauses under writes", Label("faults"), func() {
	It("leave every replica identical and every acknowledged record in place exactly once", func() {
		pauses := envInt("FAULTS_PAUSES", 8)
		seed := uint64(envInt("FAULTS_SEED", int(time.Now().UnixNano()%1e9)))
		GinkgoWriter.Printf("leader pause stress: %d pauses, seed %d\n", pauses, seed)
		AddReportEntry("seed", seed)
		rng := rand.New(rand.NewPCG(seed, seed))

		writers := envInt("FAULTS_WRITERS", 12)
		extra := []string{"--checksum-interval", "-1s", "--request-timeout", "3s", "--sync", envString("FAULTS_SYNC", "interval")}
		if os.Getenv("FAULTS_UNSAFE_FAST_PATH") == "1" {
			extra = append(extra, "--unsafe-raft-heartbeat-fast-path")
		}
		c := startCluster(3, extra...)
		w := startHTTPWriters(c, writers)
		DeferCleanup(func() { w.stop() })

		checked := uint64(0)
		var diverged []string
		for round := range pauses {
			w.resume()
			// Let the writers load the leader before pausing it.
			before := w.acked()
			Eventually(w.acked, 30*time.Second, 20*time.Millisecond).Should(BeNumerically(">=", before+50))
			leader := c.leader()
			pause := time.Duration(2000+rng.IntN(3000)) * time.Millisecond
			GinkgoWriter.Printf("round %d: pausing leader %s for %s\n", round, leader.id, pause)
			Expect(leader.session.Command.Process.Signal(syscall.SIGSTOP)).To(Succeed())
			paused := time.Now()
			// The writers keep writing to the other nodes meanwhile.
			Eventually(func() time.Duration { return time.Since(paused) }, pause+time.Second, 10*time.Millisecond).Should(BeNumerically(">=", pause))
			Expect(leader.session.Command.Process.Signal(syscall.SIGCONT)).To(Succeed())

			// Converge: writers stop, every node reaches the same end.
			w.hold()
			c.waitSettled()
			next, bad := c.converge()
			if bad == "" {
				bad = c.compareFrom(checked, next)
			}
			if bad != "" {
				diverged = append(diverged, fmt.Sprintf("round %d: %s", round, bad))
				GinkgoWriter.Printf("round %d: REPLICAS DIVERGED: %s\n", round, bad)
				// A diverged cluster stays diverged: go on with a new one,
				// so the run measures a rate.
				w.stop()
				for _, nd := range c.nodes {
					nd.session.Kill().Wait(10 * time.Second)
				}
				c = startCluster(3, extra...)
				w = startHTTPWriters(c, writers)
				checked = 0
				continue
			}
			checked = next
		}
		w.resume()
		w.stop()
		GinkgoWriter.Printf("leader pause stress: %d pauses, %d diverged, seed %d\n", pauses, len(diverged), seed)
		Expect(diverged).To(BeEmpty(), "seed %d: replicas diverged after %d of %d leader pauses", seed, len(diverged), pauses)
		w.checkAcked(c)
	})
})

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// converge waits until every running node reports the same next offset
// and returns it; nodes that still disagree after 30 s have diverged, which
// it describes.
func (c *testCluster) converge() (uint64, string) {
	GinkgoHelper()
	var next uint64
	same := func() error {
		var want *nodeStatus
		for _, nd := range c.running() {
			st, err := nd.status()
			if err != nil {
				return err
			}
			if want == nil {
				want = &st
				continue
			}
			if st.NextOffset != want.NextOffset {
				return fmt.Errorf("%s at next offset %d, %s at %d", nd.id, st.NextOffset, want.ID, want.NextOffset)
			}
		}
		next = want.NextOffset
		return nil
	}
	// Within 30 s the nodes agree, or they have diverged for good.
	if err := InterceptGomegaFailure(func() {
		Eventually(same, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	}); err != nil {
		if err := same(); err != nil {
			return 0, "next offsets differ for good: " + err.Error()
		}
	}
	return next, ""
}

// commonNext is converge for a cluster that must not have diverged.
func (c *testCluster) commonNext() uint64 {
	GinkgoHelper()
	next, bad := c.converge()
	Expect(bad).To(BeEmpty())
	return next
}

// compareFrom reads [from, next) from every node and describes the first
// difference ("" when they agree).
func (c *testCluster) compareFrom(from, next uint64) string {
	GinkgoHelper()
	var want [][]byte
	var wantID string
	for _, nd := range c.running() {
		got := nd.readRange(from, next)
		if want == nil {
			want, wantID = got, nd.id
			continue
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				return fmt.Sprintf("offset %d: %s has %q, %s has %q", from+uint64(i), nd.id, got[i], wantID, want[i])
			}
		}
	}
	return ""
}

// readRange reads the node's own log over HTTP from from to next.
func (nd *clusterNode) readRange(from, next uint64) [][]byte {
	GinkgoHelper()
	var page struct {
		Records []struct {
			Offset uint64 `json:"offset"`
			Value  []byte `json:"value"`
		} `json:"records"`
	}
	out := make([][]byte, 0, next-from)
	for off := from; off < next; {
		Expect(nd.getJSON(fmt.Sprintf("/v1/records?offset=%d&max=5000&max_bytes=%d", off, 4<<20), &page)).To(Succeed())
		Expect(page.Records).NotTo(BeEmpty(), "%s: nothing at offset %d below %d", nd.id, off, next)
		for _, r := range page.Records {
			if off >= next {
				break
			}
			Expect(r.Offset).To(Equal(off), "%s: offsets must be dense", nd.id)
			out = append(out, r.Value)
			off++
		}
	}
	return out
}

// httpWriters append unique records over HTTP to every node in turn and
// remember the offset each acknowledged record got.
type httpWriters struct {
	c      *testCluster
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	held   bool
	cond   *sync.Cond
	busy   int
	offset map[string]uint64 // value -> acknowledged offset
}

func startHTTPWriters(c *testCluster, n int) *httpWriters {
	ctx, cancel := context.WithCancel(context.Background())
	w := &httpWriters{c: c, cancel: cancel, offset: map[string]uint64{}, held: true}
	w.cond = sync.NewCond(&w.mu)
	hc := &http.Client{Timeout: 3 * time.Second}
	for g := range n {
		w.wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer w.wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				if !w.enter(ctx) {
					return
				}
				nd := c.nodes[(g+seq)%len(c.nodes)]
				if g%4 == 3 {
					// A quarter of the clients read consistently instead:
					// each read is a raft barrier, which the leader queues
					// beside the appends.
					resp, err := hc.Get("http://" + nd.httpAddr + "/v1/records?offset=0&max=1&consistent=true")
					if err == nil {
						resp.Body.Close()
					}
					w.leave()
					continue
				}
				value := fmt.Sprintf("w%d-%d", g, seq)
				body, _ := json.Marshal(map[string]any{"records": []map[string]any{{"value": []byte(value)}}})
				resp, err := hc.Post("http://"+nd.httpAddr+"/v1/records", "application/json", bytes.NewReader(body))
				if err == nil {
					var out struct {
						Offsets []uint64 `json:"offsets"`
					}
					if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&out) == nil && len(out.Offsets) == 1 {
						w.mu.Lock()
						w.offset[value] = out.Offsets[0]
						w.mu.Unlock()
					}
					resp.Body.Close()
				}
				w.leave()
			}
		}()
	}
	return w
}

// enter waits while the writers are held; false once they stop.
func (w *httpWriters) enter(ctx context.Context) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.held && ctx.Err() == nil {
		w.cond.Wait()
	}
	if ctx.Err() != nil {
		return false
	}
	w.busy++
	return true
}

func (w *httpWriters) leave() {
	w.mu.Lock()
	w.busy--
	w.cond.Broadcast()
	w.mu.Unlock()
}

// hold stops new writes and waits for those in flight.
func (w *httpWriters) hold() {
	w.mu.Lock()
	w.held = true
	for w.busy > 0 {
		w.cond.Wait()
	}
	w.mu.Unlock()
}

func (w *httpWriters) resume() {
	w.mu.Lock()
	w.held = false
	w.cond.Broadcast()
	w.mu.Unlock()
}

func (w *httpWriters) acked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.offset)
}

func (w *httpWriters) stop() {
	w.cancel()
	w.mu.Lock()
	w.cond.Broadcast()
	w.mu.Unlock()
	w.wg.Wait()
}

// checkAcked checks that every acknowledged record is at its offset on
// every node, and that no value appears twice.
func (w *httpWriters) checkAcked(c *testCluster) {
	GinkgoHelper()
	next := c.commonNext()
	for _, nd := range c.running() {
		log := nd.readRange(0, next)
		seen := map[string]uint64{}
		for off, v := range log {
			if prev, dup := seen[string(v)]; dup {
				Fail(fmt.Sprintf("%s: %q at offsets %d and %d", nd.id, v, prev, off))
			}
			seen[string(v)] = uint64(off)
		}
		w.mu.Lock()
		for v, off := range w.offset {
			Expect(off).To(BeNumerically("<", next), "%s: acknowledged %q at %d past the end %d", nd.id, v, off, next)
			Expect(string(log[off])).To(Equal(v), "%s: offset %d", nd.id, off)
		}
		w.mu.Unlock()
	}
}
