package node

import (
	"net/http"
	"strconv"
	"time"

	"actorlog/actors"
	"actorlog/messages"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsNamespace prefixes every metric the node exports.
const metricsNamespace = "actorlog"

// scrapeTimeout bounds the questions a scrape asks the actors, so that a
// busy or stuck actor makes a metric go missing rather than the scrape hang.
const scrapeTimeout = time.Second

// metrics is a node's Prometheus registry. Each node has its own, never the
// global one, so that nodes in one process (tests) do not collide.
//
// The request paths only touch atomics: the sessions' counters and the
// histograms below. Everything else is read at scrape time by collector.
type metrics struct {
	reg      *prometheus.Registry
	handler  http.Handler
	sessions actors.SessionCounters

	produceSeconds prometheus.Observer
	consumeSeconds prometheus.Observer
}

var (
	descProduceRequests = prometheus.NewDesc(metricsNamespace+"_produce_requests_total",
		"Produce requests accepted by the node's sessions (HTTP and actor clients).", nil, nil)
	descProduceRecords = prometheus.NewDesc(metricsNamespace+"_produce_records_total",
		"Records in the produce requests accepted by the node's sessions.", nil, nil)
	descConsumeRequests = prometheus.NewDesc(metricsNamespace+"_consume_requests_total",
		"Consume requests accepted by the node's sessions (HTTP and actor clients).", nil, nil)
	descRemoteRequests = prometheus.NewDesc(metricsNamespace+"_remote_requests_total",
		"Client requests that reached the node over the actor remote, by kind.", []string{"kind"}, nil)
	descRaftState = prometheus.NewDesc(metricsNamespace+"_raft_state",
		"1 for the raft state the node is in, 0 for the others.", []string{"state"}, nil)
	descRaftTerm = prometheus.NewDesc(metricsNamespace+"_raft_term",
		"The node's current raft term.", nil, nil)
	descRaftCommit = prometheus.NewDesc(metricsNamespace+"_raft_commit_index",
		"The highest raft index the node knows to be committed.", nil, nil)
	descRaftApplied = prometheus.NewDesc(metricsNamespace+"_raft_applied_index",
		"The highest raft index applied to the node's log.", nil, nil)
	descRaftLeader = prometheus.NewDesc(metricsNamespace+"_raft_leader_known",
		"1 when the node knows a raft leader.", nil, nil)
	descSegments = prometheus.NewDesc(metricsNamespace+"_log_segments",
		"Segments in the node's log.", nil, nil)
	descLogBytes = prometheus.NewDesc(metricsNamespace+"_log_size_bytes",
		"Bytes of the node's log on disk.", nil, nil)
	descLogNextOffset = prometheus.NewDesc(metricsNamespace+"_log_next_offset",
		"The offset the next record written to the log gets.", nil, nil)
	descRestarts = prometheus.NewDesc(metricsNamespace+"_actor_restarts_total",
		"Actor restarts after a crash, by actor kind (segment, or a top-level actor's name).", []string{"actor"}, nil)
	descSessions = prometheus.NewDesc(metricsNamespace+"_sessions",
		"Client sessions open on the node.", nil, nil)
	descSubscriptions = prometheus.NewDesc(metricsNamespace+"_subscriptions",
		"Subscriptions running on the node.", nil, nil)
	descConsul = prometheus.NewDesc(metricsNamespace+"_consul_registration",
		"1 for the node's Consul registration state, 0 for the others.", []string{"state"}, nil)
	descChecks = prometheus.NewDesc(metricsNamespace+"_replica_checks_total",
		"Checksum checks of this replica against the leader, by result: match, mismatch, or unknown (no checksum of that checkpoint here).", []string{"result"}, nil)
	descDivergences = prometheus.NewDesc(metricsNamespace+"_replica_divergences_total",
		"Times this replica found its records differ from the leader's (a repair in progress counts the divergence it repairs).", nil, nil)
	descRepairs = prometheus.NewDesc(metricsNamespace+"_replica_repairs_total",
		"Repairs of this replica that finished: its log was rebuilt from the leader and verified.", nil, nil)
	descDiskWrites = prometheus.NewDesc(metricsNamespace+"_disk_write_bytes_total",
		"Bytes the node has written to disk since it started, by what they hold: records (the record log), raft (raft's log), snapshots (raft snapshots), state (the FSM's state files). Divided by the records acknowledged, the write amplification.", []string{"log"}, nil)
	descDamaged = prometheus.NewDesc(metricsNamespace+"_replica_damaged_records_total",
		"Damaged records (a CRC mismatch) this replica found in its record log, by a read or by the scrubber; each starts a repair from a peer.", nil, nil)
	descRepairing = prometheus.NewDesc(metricsNamespace+"_replica_repairing",
		"1 while this replica is being repaired after a divergence (reads of the records in question are refused).", nil, nil)
)

var (
	raftStates   = []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown}
	consulStates = []string{ConsulOff, ConsulStarting, ConsulRegistered, ConsulUnavailable}
)

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	// Latency as the HTTP API sees it; a consume's wait is included.
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 16)
	produce := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: metricsNamespace,
		Name: "http_produce_duration_seconds", Help: "Time to answer an HTTP produce request.", Buckets: buckets})
	consume := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: metricsNamespace,
		Name: "http_consume_duration_seconds", Help: "Time to answer an HTTP consume request, its wait included.", Buckets: buckets})
	m.produceSeconds, m.consumeSeconds = produce, consume
	m.reg.MustRegister(produce, consume, collector{n: n, m: m},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// collector reads the node's state at scrape time.
type collector struct {
	n *Node
	m *metrics
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descProduceRequests, descProduceRecords, descConsumeRequests, descRemoteRequests,
		descRaftState, descRaftTerm, descRaftCommit, descRaftApplied, descRaftLeader,
		descSegments, descLogBytes, descLogNextOffset, descRestarts, descSessions, descSubscriptions, descConsul,
		descChecks, descDivergences, descRepairs, descRepairing, descDiskWrites, descDamaged} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	n, s := c.n, &c.m.sessions
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	boolean := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	counter(descProduceRequests, s.ProduceRequests.Load())
	counter(descProduceRecords, s.ProduceRecords.Load())
	counter(descConsumeRequests, s.ConsumeRequests.Load())
	gauge(descSubscriptions, float64(s.Subscriptions.Load()))
	if n.guard != nil {
		counter(descRemoteRequests, n.guard.produces.Load(), "produce")
		counter(descRemoteRequests, n.guard.consumes.Load(), "consume")
	}

	if n.raft != nil {
		state := n.raft.State()
		for _, st := range raftStates {
			gauge(descRaftState, boolean(st == state), st.String())
		}
		term, _ := strconv.ParseUint(n.raft.Stats()["term"], 10, 64)
		gauge(descRaftTerm, float64(term))
		gauge(descRaftCommit, float64(n.raft.CommitIndex()))
		gauge(descRaftApplied, float64(n.raft.AppliedIndex()))
		addr, _ := n.raft.LeaderWithID()
		gauge(descRaftLeader, boolean(addr != ""))
	}
	if n.fsm != nil {
		cs := n.fsm.CheckStats()
		counter(descChecks, cs.Matched, "match")
		counter(descChecks, cs.Mismatched, "mismatch")
		counter(descChecks, cs.Unknown, "unknown")
	}
	counter(descDivergences, n.repair.diverged.Load())
	counter(descRepairs, n.repair.repaired.Load())
	counter(descDamaged, n.repair.damaged.Load())
	gauge(descRepairing, boolean(n.repair.inProgress()))

	counter(descDiskWrites, n.disk.records.Load(), "records")
	counter(descDiskWrites, n.disk.raft.Load(), "raft")
	counter(descDiskWrites, n.disk.snapshots.Load(), "snapshots")
	counter(descDiskWrites, n.disk.state.Load(), "state")

	restarts := n.sup.Restarts()
	for name, v := range restarts {
		counter(descRestarts, v, name)
	}
	res, err := n.sys.Root.RequestFuture(n.logPID, &messages.LogStatusRequest{}, scrapeTimeout).Result()
	if st, ok := res.(*messages.LogStatus); ok && err == nil {
		gauge(descSegments, float64(st.GetSegments()))
		gauge(descLogBytes, float64(st.GetSizeBytes()))
		gauge(descLogNextOffset, float64(st.GetNextOffset()))
		counter(descRestarts, st.GetSegmentRestarts(), "segment")
	}
	if n.sessions != nil {
		res, err := n.sys.Root.RequestFuture(n.sessions, &messages.SessionsStatusRequest{}, scrapeTimeout).Result()
		if st, ok := res.(*messages.SessionsStatus); ok && err == nil {
			gauge(descSessions, float64(st.GetSessions()))
		}
	}
	consul := n.ConsulState()
	for _, st := range consulStates {
		gauge(descConsul, boolean(st == consul), st)
	}
}
