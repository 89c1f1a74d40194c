//go:build faults

package specs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The network-partition fault suite (make faults): a real 3-node and a real
// 5-node cluster, each node in its own network namespace with its own
// address (netns_faults_test.go), discovering each other through a real
// Consul agent. Clients append unique records and make consistent reads
// over HTTP the whole time, recording when each operation was sent, when it
// returned and what it returned, while a nemesis isolates the leader,
// isolates a follower, splits the cluster into a majority and a minority,
// flaps a link, pauses nodes (SIGSTOP/SIGCONT) and kills them (SIGKILL,
// then a restart). Each fault is healed before the next. At the end the
// history must show:
//
//   - every acknowledged record in the log exactly once, at its offset,
//     and no record whose append was refused for sure;
//   - every replica holding the same bytes at every offset;
//   - appends and consistent reads linearizable (porcupine, against the
//     model in partition_model_faults_test.go);
//   - no operation sent to a minority-side node and answered while it was
//     cut off acknowledged; probes of the minority get a typed error (not_leader,
//     unavailable or timeout) within partProbeBound.
//
// It also measures the time from cutting the leader off until a node of
// the majority reports itself leader of a newer term (reported as p50 and
// max; docs/BENCHMARKS.md).
//
// Timers: the clients pace their operations with a ticker (the rate is a
// parameter of the workload: it keeps the history small enough for the
// linearizability checker), and the flapping link is toggled by a timer
// (the flapping is the fault under test). Everything the spec waits for is
// an Eventually or a Consistently.
//
// Environment: FAULTS_SEED (default: random; printed, and printed again
// with the history when a spec fails), FAULTS_PARTITION_ROUNDS (times the
// whole sequence of faults runs per cluster, default 1),
// FAULTS_LEADER_ISOLATIONS (times the leader is cut off per round, default
// 2), FAULTS_OP_INTERVAL (pause of each client between operations in
// milliseconds, default 25). The default run takes about 70 s after the
// build.
var _ = Describe("Network partitions", Label("faults"), Ordered, ContinueOnFailure, func() {
	var elections []electionSample

	AfterAll(func() {
		if len(elections) > 0 {
			AddReportEntry("time to a new leader after the leader is cut off", electionSummary(elections), ReportEntryVisibilityAlways)
		}
	})

	It("keep a 3-node cluster linearizable through leader and follower isolation, flapping, pauses and kills", func() {
		r := newPartRun("a", 3, 6)
		for range partEnvInt("FAULTS_PARTITION_ROUNDS", 1) {
			for range partEnvInt("FAULTS_LEADER_ISOLATIONS", 2) {
				r.isolateLeader()
			}
			r.isolateFollower()
			r.flap(r.pick(r.nodes))
			r.pause(r.leaderNode())
			r.kill(r.pick(r.nodes))
		}
		r.finish()
		elections = append(elections, r.elections...)
	})

	It("keep a 5-node cluster linearizable through majority/minority splits, leader isolation, flapping, pauses and kills", func() {
		r := newPartRun("b", 5, 5)
		for range partEnvInt("FAULTS_PARTITION_ROUNDS", 1) {
			r.split()
			for range partEnvInt("FAULTS_LEADER_ISOLATIONS", 2) {
				r.isolateLeader()
			}
			r.flap(r.leaderNode())
			r.pause(r.pick(r.followers()))
			r.kill(r.pickN(r.nodes, 2)...)
		}
		r.finish()
		elections = append(elections, r.elections...)
	})
})

const (
	// partRequestTimeout is the nodes' --request-timeout: short, so that a
	// request that cannot reach a leader ends soon with a typed error.
	partRequestTimeout = 2 * time.Second
	// partProbeBound is how soon a minority-side node must answer a probe:
	// its request timeout, plus room for a loaded machine.
	partProbeBound = partRequestTimeout + 2*time.Second
	// partClientTimeout bounds one HTTP request of the clients; past it the
	// outcome of an append is unknown.
	partClientTimeout = 6 * time.Second
)

func partEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

type electionSample struct {
	cluster string
	d       time.Duration
}

func electionSummary(s []electionSample) string {
	ds := make([]time.Duration, len(s))
	for i, e := range s {
		ds[i] = e.d
	}
	slices.Sort(ds)
	return fmt.Sprintf("%d samples: p50 %s, max %s (all: %v)", len(ds),
		ds[(len(ds)-1)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), ds)
}

// ---------------------------------------------------------------------------
// A run: one cluster, its clients, the nemesis and the checks.

type partRun struct {
	name      string
	seed      uint64
	rng       *rand.Rand
	lab       *netLab
	c         *testCluster
	nodes     []*labNode
	h         *partHistory
	probe     *http.Client
	probeID   int
	stop      context.CancelFunc
	wg        sync.WaitGroup
	elections []electionSample
	began     time.Time
}

func newPartRun(lab string, n, clients int) *partRun {
	GinkgoHelper()
	seed := uint64(partEnvInt("FAULTS_SEED", int(time.Now().UnixNano()%1e9)))
	r := &partRun{name: fmt.Sprintf("%d nodes", n), seed: seed, rng: rand.New(rand.NewPCG(seed, uint64(n))),
		began: time.Now()}
	GinkgoWriter.Printf("network partitions, %d nodes: seed %d\n", n, seed)
	AddReportEntry("seed", seed)
	r.lab = newNetLab(lab, n)
	r.lab.startConsul()
	r.c, r.nodes = r.lab.startLabCluster(n, "--request-timeout", partRequestTimeout.String())
	r.h = &partHistory{start: time.Now()}
	DeferCleanup(func() {
		r.stopClients()
		if CurrentSpecReport().Failed() {
			r.printHistory()
		}
	})
	r.probe = &http.Client{Timeout: partClientTimeout, Transport: &http.Transport{}}
	r.probeID = clients
	r.startClients(clients, time.Duration(partEnvInt("FAULTS_OP_INTERVAL", 25))*time.Millisecond)
	// Let the workload get going before the first fault.
	Eventually(func() int { return r.h.ackedSince(0, r.nodes) }, 60*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", 50))
	return r
}

// printHistory writes the seed and the whole history to GinkgoWriter and
// to a file that outlives the spec.
func (r *partRun) printHistory() {
	var b bytes.Buffer
	fmt.Fprintf(&b, "network partitions, %s: seed %d (FAULTS_SEED=%d reproduces the nemesis' choices)\n", r.name, r.seed, r.seed)
	r.h.dump(&b)
	path := filepath.Join(os.TempDir(), fmt.Sprintf("actorlog-partitions-%s-seed%d.history", strings.ReplaceAll(r.name, " ", ""), r.seed))
	if err := os.WriteFile(path, b.Bytes(), 0o644); err == nil {
		GinkgoWriter.Printf("history written to %s\n", path)
	}
	GinkgoWriter.Write(b.Bytes())
}

// startClients starts n clients, client i bound to node i mod N. Each
// appends unique values and makes consistent reads near the end of the
// log, one operation at a time, every interval.
func (r *partRun) startClients(n int, interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	for i := range n {
		nd := r.nodes[i%len(r.nodes)].clusterNode
		rng := rand.New(rand.NewPCG(r.seed, uint64(1000+i)))
		hc := &http.Client{Timeout: partClientTimeout, Transport: &http.Transport{}}
		r.wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer r.wg.Done()
			defer hc.CloseIdleConnections()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for seq := 0; ; seq++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if rng.IntN(10) < 6 {
					r.h.appendOp(hc, i, nd, fmt.Sprintf("%s-c%d-%d", r.lab.name[len(r.lab.name)-1:], i, seq))
					continue
				}
				known := r.h.known.Load()
				off := known
				switch rng.IntN(3) {
				case 0:
					off -= min(known, uint64(1+rng.IntN(8)))
				case 1:
					off = rng.Uint64N(known + 1)
				}
				r.h.readOp(hc, i, nd, off, 8)
			}
		}()
	}
}

func (r *partRun) stopClients() {
	if r.stop != nil {
		r.stop()
		r.wg.Wait()
		r.stop = nil
	}
}

func (r *partRun) pick(nodes []*labNode) *labNode { return nodes[r.rng.IntN(len(nodes))] }

func (r *partRun) pickN(nodes []*labNode, n int) []*labNode {
	s := slices.Clone(nodes)
	r.rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s[:n]
}

func (r *partRun) byID(id string) *labNode {
	for _, nd := range r.nodes {
		if nd.id == id {
			return nd
		}
	}
	return nil
}

func (r *partRun) leaderNode() *labNode { return r.byID(r.c.leader().id) }

func (r *partRun) followers() []*labNode {
	l := r.leaderNode()
	var out []*labNode
	for _, nd := range r.nodes {
		if nd != l {
			out = append(out, nd)
		}
	}
	return out
}

func others(all, some []*labNode) []*labNode {
	var out []*labNode
	for _, nd := range all {
		if !slices.Contains(some, nd) {
			out = append(out, nd)
		}
	}
	return out
}

func ids(nodes []*labNode) []string {
	out := make([]string, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.id
	}
	return out
}

// cut separates minority from the rest and opens a window; it returns the
// window and the time the cut was complete.
func (r *partRun) cut(what string, minority []*labNode) *cutWindow {
	GinkgoHelper()
	rest := others(r.nodes, minority)
	for _, nd := range minority {
		nd.cutFrom(rest...)
	}
	w := &cutWindow{what: what, minority: map[string]bool{}, from: r.h.now()}
	for _, nd := range minority {
		w.minority[nd.id] = true
	}
	r.h.mu.Lock()
	r.h.windows = append(r.h.windows, w)
	r.h.mu.Unlock()
	return w
}

// healAll closes the window and removes every rule.
func (r *partRun) healAll(w *cutWindow) {
	GinkgoHelper()
	if w != nil {
		r.h.mu.Lock()
		w.to = r.h.now()
		r.h.mu.Unlock()
	}
	for _, nd := range r.nodes {
		nd.heal()
	}
}

// afterFault waits until the cluster has one leader again and every node
// is back, and until writes commit through every node.
func (r *partRun) afterFault() {
	GinkgoHelper()
	r.c.waitSettled()
	t := r.h.now()
	for _, nd := range r.nodes {
		Eventually(func() int { return r.h.ackedSince(t, []*labNode{nd}) }, 60*time.Second, 50*time.Millisecond).
			Should(BeNumerically(">=", 3), func() string {
				return fmt.Sprintf("%s: writes through %s after the fault healed (%s)", r.name, nd.id, r.diagnose(nd))
			})
	}
}

// diagnose tells what a node that does not serve writes still does: its
// status, and a local (not consistent) read, which stays inside the node.
func (r *partRun) diagnose(nd *labNode) string {
	st, err := nd.status()
	out := fmt.Sprintf("status %+v (%v)", st, err)
	resp, err := r.probe.Get(fmt.Sprintf("http://%s/v1/records?offset=0&max=1", nd.httpAddr))
	if err != nil {
		return out + fmt.Sprintf("; local read: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return out + fmt.Sprintf("; local read: %s %s", resp.Status, raw)
}

// progress waits until n writes sent through the given nodes after t
// commit: the rest of the cluster works on while the fault lasts, and the
// fault lasts that long.
func (r *partRun) progress(t int64, nodes []*labNode, n int) {
	GinkgoHelper()
	Eventually(func() int { return r.h.ackedSince(t, nodes) }, 60*time.Second, 50*time.Millisecond).
		Should(BeNumerically(">=", n), "%s: writes through %v during the fault", r.name, ids(nodes))
}

// newLeaderAmong waits until a node of nodes reports itself leader of a
// term after term, and returns how long that took since t0.
func (r *partRun) newLeaderAmong(nodes []*labNode, term uint64, t0 time.Time) time.Duration {
	GinkgoHelper()
	var took time.Duration
	Eventually(func() error {
		for _, nd := range nodes {
			st, err := nd.status()
			if err == nil && st.State == "Leader" && st.Term > term {
				took = time.Since(t0)
				return nil
			}
		}
		return fmt.Errorf("no leader of a term after %d among %v", term, ids(nodes))
	}, 60*time.Second, 10*time.Millisecond).Should(Succeed())
	return took
}

// checkMinority probes every node of the minority: once it has noticed
// that it is cut off it refuses for sure, and every answer, before that
// too, is a typed error within partProbeBound; never an acknowledgement.
func (r *partRun) checkMinority(w *cutWindow, minority []*labNode) {
	GinkgoHelper()
	probe := func(nd *labNode) (*partOp, *partOp) {
		a := r.h.appendOp(r.probe, r.probeID, nd.clusterNode, fmt.Sprintf("probe-%s-%d", nd.id, r.h.seq.Add(1)))
		rd := r.h.readOp(r.probe, r.probeID, nd.clusterNode, r.h.known.Load(), 8)
		return a, rd
	}
	typed := func(op *partOp) error {
		switch {
		case op.status == opOK:
			return fmt.Errorf("%s, cut off, acknowledged: %s", op.node, op)
		case op.code != "not_leader" && op.code != "unavailable" && op.code != "timeout":
			return fmt.Errorf("%s, cut off, did not answer with a typed error: %s", op.node, op)
		case op.latency() > partProbeBound:
			return fmt.Errorf("%s, cut off, took %s (more than %s) to answer: %s", op.node, op.latency(), partProbeBound, op)
		}
		return nil
	}
	for _, nd := range minority {
		Eventually(func() error {
			a, rd := probe(nd)
			if err := errors.Join(typed(a), typed(rd)); err != nil {
				return StopTrying(err.Error())
			}
			if a.status != opRefused {
				return fmt.Errorf("%s: the append is not refused for sure yet: %s", nd.id, a)
			}
			return nil
		}, 30*time.Second, 20*time.Millisecond).Should(Succeed())
		GinkgoWriter.Printf("%s: %s refuses for sure %.3fs after the cut\n", r.name, nd.id, float64(r.h.now()-w.from)/1e9)
	}
	Consistently(func() error {
		var errs []error
		for _, nd := range minority {
			a, rd := probe(nd)
			errs = append(errs, typed(a), typed(rd))
		}
		return errors.Join(errs...)
	}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
}

// isolateLeader cuts the leader off from every other node and measures the
// time until one of them leads.
func (r *partRun) isolateLeader() {
	GinkgoHelper()
	l := r.leaderNode()
	st, err := l.status()
	Expect(err).NotTo(HaveOccurred())
	By(fmt.Sprintf("%s: isolating the leader %s (term %d)", r.name, l.id, st.Term))
	w := r.cut("isolate leader "+l.id, []*labNode{l})
	t0 := time.Now()
	rest := others(r.nodes, []*labNode{l})
	took := r.newLeaderAmong(rest, st.Term, t0)
	r.elections = append(r.elections, electionSample{r.name, took})
	GinkgoWriter.Printf("%s: new leader %.3fs after %s was cut off\n", r.name, took.Seconds(), l.id)
	r.checkMinority(w, []*labNode{l})
	r.progress(w.from, rest, 20)
	r.healAll(w)
	r.afterFault()
}

func (r *partRun) isolateFollower() {
	GinkgoHelper()
	f := r.pick(r.followers())
	By(fmt.Sprintf("%s: isolating the follower %s", r.name, f.id))
	w := r.cut("isolate follower "+f.id, []*labNode{f})
	rest := others(r.nodes, []*labNode{f})
	r.checkMinority(w, []*labNode{f})
	r.progress(w.from, rest, 20)
	r.healAll(w)
	r.afterFault()
}

// split cuts the cluster into a minority holding the leader and a majority.
func (r *partRun) split() {
	GinkgoHelper()
	l := r.leaderNode()
	st, err := l.status()
	Expect(err).NotTo(HaveOccurred())
	minority := append([]*labNode{l}, r.pickN(others(r.nodes, []*labNode{l}), (len(r.nodes)-1)/2-1)...)
	majority := others(r.nodes, minority)
	By(fmt.Sprintf("%s: splitting %v (with the leader) from %v", r.name, ids(minority), ids(majority)))
	w := r.cut(fmt.Sprintf("split %v | %v", ids(minority), ids(majority)), minority)
	t0 := time.Now()
	// Not an election sample: the leader is cut off with a follower here.
	took := r.newLeaderAmong(majority, st.Term, t0)
	GinkgoWriter.Printf("%s: new leader %.3fs after the split\n", r.name, took.Seconds())
	r.checkMinority(w, minority)
	r.progress(w.from, majority, 20)
	r.healAll(w)
	r.afterFault()
}

// flap cuts nd off and heals it again and again, on a timer of random
// periods between 200 ms and 1 s: the link's instability is the fault.
func (r *partRun) flap(nd *labNode) {
	GinkgoHelper()
	toggles := 12
	periods := make([]time.Duration, toggles)
	for i := range periods {
		periods[i] = time.Duration(200+r.rng.IntN(800)) * time.Millisecond
	}
	By(fmt.Sprintf("%s: flapping the link of %s (%d toggles)", r.name, nd.id, toggles))
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		var w *cutWindow
		for i, p := range periods {
			if i%2 == 0 {
				w = r.cut("flap "+nd.id, []*labNode{nd})
			} else {
				r.healAll(w)
				w = nil
			}
			t := time.NewTimer(p)
			<-t.C
		}
		r.healAll(w)
	}()
	Eventually(done, time.Minute).Should(BeClosed())
	r.afterFault()
}

// pause stops the nodes with SIGSTOP until the others have made progress
// (and elected a new leader, if the leader was among them), then resumes
// them.
func (r *partRun) pause(nodes ...*labNode) {
	GinkgoHelper()
	l := r.leaderNode()
	st, err := l.status()
	Expect(err).NotTo(HaveOccurred())
	By(fmt.Sprintf("%s: pausing %v", r.name, ids(nodes)))
	t := r.h.now()
	t0 := time.Now()
	for _, nd := range nodes {
		Expect(nd.session.Command.Process.Signal(syscall.SIGSTOP)).To(Succeed())
	}
	rest := others(r.nodes, nodes)
	if slices.Contains(nodes, l) {
		took := r.newLeaderAmong(rest, st.Term, t0)
		GinkgoWriter.Printf("%s: new leader %.3fs after the leader %s was paused\n", r.name, took.Seconds(), l.id)
	}
	r.progress(t, rest, 150)
	for _, nd := range nodes {
		Expect(nd.session.Command.Process.Signal(syscall.SIGCONT)).To(Succeed())
	}
	r.afterFault()
}

// kill kills the nodes with SIGKILL, waits for the others to make
// progress, and restarts them on their data.
func (r *partRun) kill(nodes ...*labNode) {
	GinkgoHelper()
	By(fmt.Sprintf("%s: killing %v", r.name, ids(nodes)))
	t := r.h.now()
	for _, nd := range nodes {
		nd.kill9()
	}
	r.progress(t, others(r.nodes, nodes), 150)
	for _, nd := range nodes {
		nd.start()
	}
	r.afterFault()
}

// finish stops the clients, writes one last record through the leader,
// and checks the history.
func (r *partRun) finish() {
	GinkgoHelper()
	r.stopClients()
	r.c.waitSettled()
	var last *partOp
	leader := r.leaderNode()
	Eventually(func() error {
		last = r.h.appendOp(r.probe, r.probeID, leader.clusterNode, fmt.Sprintf("final-%s-%d", r.lab.name, r.h.seq.Add(1)))
		if last.status != opOK {
			return fmt.Errorf("final append: %s", last)
		}
		return nil
	}, 60*time.Second, 100*time.Millisecond).Should(Succeed())
	end := last.ackOffset + 1
	log := r.c.sameLogEverywhere(end)
	values := make([]string, len(log))
	at := map[string]uint64{}
	for off, v := range log {
		values[off] = string(v)
		prev, dup := at[string(v)]
		Expect(dup).To(BeFalse(), "seed %d: %q at offsets %d and %d", r.seed, v, prev, off)
		at[string(v)] = uint64(off)
	}
	ops := r.h.snapshot()
	var acked, refused, unknown, reads, failedReads int
	var minorityAnswers []time.Duration
	for _, op := range ops {
		switch {
		case op.append && op.status == opOK:
			acked++
			Expect(op.ackOffset).To(BeNumerically("<", end), "seed %d: acknowledged past the end: %s", r.seed, op)
			Expect(values[op.ackOffset]).To(Equal(op.value), "seed %d: acknowledged record not at its offset: %s", r.seed, op)
		case op.append && op.status == opRefused:
			refused++
			_, in := at[op.value]
			Expect(in).To(BeFalse(), "seed %d: a refused append is in the log at offset %d: %s", r.seed, at[op.value], op)
		case op.append:
			unknown++
		case op.status == opOK:
			reads++
		default:
			failedReads++
		}
		Expect(op.bad).To(BeEmpty(), "seed %d: %s", r.seed, op)
		for _, w := range r.h.windows {
			// Sent and answered while the node was cut off. (One sent then
			// but answered after the heal may well have committed.)
			if w.minority[op.node] && op.call > w.from && (w.to == 0 || op.ret < w.to) {
				Expect(op.status).NotTo(Equal(opOK), "seed %d: %s was cut off (%s) and acknowledged %s", r.seed, op.node, w.what, op)
				minorityAnswers = append(minorityAnswers, op.latency())
			}
		}
	}
	GinkgoWriter.Printf("%s: %d records; appends %d acknowledged, %d refused, %d unknown; %d consistent reads, %d failed\n",
		r.name, end, acked, refused, unknown, reads, failedReads)

	// Linearizability: every operation with an outcome, and the final
	// read of the whole log.
	var history []porcupine.Operation
	never := r.h.now() + int64(time.Hour)
	for _, op := range ops {
		in := linInput{append: op.append, value: op.value, offset: op.offset}
		switch {
		case op.append && op.status == opOK:
			history = append(history, porcupine.Operation{ClientId: op.client, Input: in, Call: op.call,
				Output: linOutput{offset: op.ackOffset}, Return: op.ret})
		case op.append && op.status == opUnknown:
			// Values are unique, so the final log tells what became of an
			// append with no answer: at offset o, it took effect there
			// (at some time after it was sent); absent, it never did,
			// and leaving it out is the same as placing it after the
			// final read. Either way the checker need not guess, which
			// keeps its search linear in the length of the history.
			if off, ok := at[op.value]; ok {
				history = append(history, porcupine.Operation{ClientId: op.client, Input: in, Call: op.call,
					Output: linOutput{offset: off}, Return: never})
			}
		case !op.append && op.status == opOK:
			history = append(history, porcupine.Operation{ClientId: op.client, Input: in, Call: op.call,
				Output: linOutput{records: op.records, end: op.end, oor: op.oor}, Return: op.ret})
		}
	}
	t := r.h.now()
	history = append(history, porcupine.Operation{ClientId: r.probeID, Input: linInput{full: true},
		Call: t, Output: linOutput{records: values, end: end}, Return: t + 1})
	started := time.Now()
	res, info := porcupine.CheckOperationsVerbose(logModel, history, 2*time.Minute)
	GinkgoWriter.Printf("%s: porcupine checked %d operations in %s: %s\n", r.name, len(history), time.Since(started).Round(time.Millisecond), res)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("actorlog-partitions-%s-seed%d.html", strings.ReplaceAll(r.name, " ", ""), r.seed))
		if err := porcupine.VisualizePath(logModel, info, path); err == nil {
			GinkgoWriter.Printf("porcupine visualisation written to %s\n", path)
		}
	}
	Expect(res).To(Equal(porcupine.Ok), "seed %d: the history of %d operations is not linearizable (or the check timed out)", r.seed, len(history))

	summary := fmt.Sprintf("%d operations in %s; %d records; appends %d acknowledged, %d refused, %d unknown; %d consistent reads",
		len(ops), time.Since(r.began).Round(time.Second), end, acked, refused, unknown, reads)
	if len(r.elections) > 0 {
		summary += "; new leader after the leader was cut off: " + electionSummary(r.elections)
	}
	if len(minorityAnswers) > 0 {
		slices.Sort(minorityAnswers)
		summary += fmt.Sprintf("; %d answers of cut-off nodes, p50 %s, max %s", len(minorityAnswers),
			minorityAnswers[(len(minorityAnswers)-1)/2].Round(time.Millisecond), minorityAnswers[len(minorityAnswers)-1].Round(time.Millisecond))
	}
	AddReportEntry(r.name, summary, ReportEntryVisibilityAlways)
}
