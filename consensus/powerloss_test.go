package consensus_test

import (
	"fmt"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
	"actorlog/segmentstore/faultfs"
)

// plNode is one raft server whose log store, log metadata and stable store
// live on a power-loss simulating file system, on a fixed address so that
// it can restart into the same cluster.
type plNode struct {
	id, addr string
	dir      string
	fs       *faultfs.FS
	sync     consensus.LogSync
	raft     *raft.Raft
	trans    *consensus.Transport
	fsm      *recordingFSM
	closer   interface{ Close() error }
}

func (n *plNode) start() {
	GinkgoHelper()
	cfg := consensus.LoopbackConfig()
	// Heartbeats wait behind the disk writes in raft's main loop (see
	// consensus.Transport), and these rounds run beside the other fault
	// suites under -race on two cores: loopback's 250 ms would measure
	// elections, not durability.
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, time.Second
	cfg.Logger = testLogger(n.id)
	// No snapshots: the recording FSM keeps nothing across a restart, so
	// every committed entry is replayed from the log and checked.
	cfg.SnapshotThreshold = 1 << 40
	cfg.SnapshotInterval = time.Hour
	logs, stable, closer, err := consensus.OpenStores(n.dir, consensus.StoreConfig{
		Kind: consensus.StoreSegmentstore, Logger: cfg.Logger, FS: n.fs, Sync: n.sync,
		SyncInterval: 20 * time.Millisecond, SegmentBytes: 64 << 10,
	})
	Expect(err).NotTo(HaveOccurred(), "%s must reopen its stores after a power loss", n.id)
	snaps, err := consensus.NewSnapshotStore(n.dir, cfg, n.fs)
	Expect(err).NotTo(HaveOccurred())
	addr := n.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// A restart takes the port the node had (raft's configuration names
	// it). While the node was down the kernel may have lent it to another
	// process's outgoing connection for a moment: wait for it to be free.
	var trans *consensus.Transport
	Eventually(func() (err error) {
		trans, err = consensus.NewTCPTransport(addr, nil, consensus.TransportConfig{Logger: cfg.Logger})
		return err
	}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
	n.addr, n.trans = string(trans.LocalAddr()), trans
	n.fsm = &recordingFSM{}
	n.raft, err = raft.NewRaft(consensus.RaftConfig(n.id, cfg), n.fsm, logs, stable, snaps, trans)
	Expect(err).NotTo(HaveOccurred())
	n.closer = closer
}

// powerOff cuts the node off from its peers and then its power: raft
// cannot be stopped at once in a test process, and it panics when a write
// fails, so it runs on for a moment writing into nothing (see
// faultfs.FS.VanishAfterPowerOff), and nobody hears from it again.
func (n *plNode) powerOff() faultfs.Stats {
	_ = n.trans.Close()
	return n.fs.PowerOff()
}

func (n *plNode) stopAndRestartDisk() {
	GinkgoHelper()
	_ = n.raft.Shutdown().Error()
	_ = n.closer.Close() // fails: the power is off
	Expect(n.fs.Restart()).To(Succeed())
}

var _ = Describe("A three-node raft cluster on segmentstore losing power", func() {
	// run puts the cluster through rounds of load and a power loss of every
	// node at random moments, and returns how many acknowledged commands
	// were lost in all.
	run := func(policy consensus.LogSync) (acked, lost int) {
		seed := GinkgoRandomSeed() + int64(policy)
		rng := rand.New(rand.NewSource(seed))
		nodes := make([]*plNode, 3)
		for i := range nodes {
			nodes[i] = &plNode{id: fmt.Sprintf("p%d", i+1), dir: GinkgoT().TempDir(), fs: faultfs.New(seed + int64(i)), sync: policy}
			nodes[i].fs.VanishAfterPowerOff()
			nodes[i].start()
		}
		DeferCleanup(func() {
			for _, n := range nodes {
				if n.raft != nil {
					_ = n.raft.Shutdown().Error()
					_ = n.closer.Close()
				}
			}
		})
		servers := make([]raft.Server, len(nodes))
		for i, n := range nodes {
			servers[i] = raft.Server{ID: raft.ServerID(n.id), Address: raft.ServerAddress(n.addr)}
		}
		Expect(nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()).To(Succeed())

		var ackedCmds []string // acknowledged commands, all rounds
		for round := 0; round < powerLossRounds; round++ {
			leader := waitLeader(nodes)
			// Load: a few writers apply unique commands to whoever leads.
			var (
				mu       sync.Mutex
				stop     atomic.Bool
				wg       sync.WaitGroup
				roundAck []string
			)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					tick := time.NewTicker(5 * time.Millisecond)
					defer tick.Stop()
					to := leader
					for i := 0; !stop.Load(); i++ {
						cmd := fmt.Sprintf("r%d-w%d-%d", round, w, i)
						if to.raft.Apply([]byte(cmd), 2*time.Second).Error() == nil {
							mu.Lock()
							roundAck = append(roundAck, cmd)
							mu.Unlock()
							continue
						}
						// Leadership moved: follow it, polling while
						// there is none.
						<-tick.C
						to = currentLeader(nodes, to)
					}
				}(w)
			}
			// Every node loses power at its own random moment.
			order := rng.Perm(len(nodes))
			Eventually(func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(roundAck)
			}, 30*time.Second).Should(BeNumerically(">=", 1+rng.Intn(200)))
			for _, i := range order {
				nodes[i].powerOff()
				d := time.Duration(rng.Intn(5)) * time.Millisecond
				t := time.Now()
				Eventually(func() bool { return time.Since(t) >= d }).Should(BeTrue())
			}
			stop.Store(true)
			wg.Wait()
			for _, n := range nodes {
				n.stopAndRestartDisk()
			}
			ackedCmds = append(ackedCmds, roundAck...)
			for _, n := range nodes {
				n.start()
			}
			// After a barrier on the new leader every committed entry is
			// applied there; the followers catch up.
			leader = waitLeader(nodes)
			Eventually(func() error { return waitLeader(nodes).raft.Barrier(5 * time.Second).Error() }, 30*time.Second, 100*time.Millisecond).Should(Succeed())
			leader = waitLeader(nodes)
			want := leader.fsm.Applied()
			for _, n := range nodes {
				Eventually(n.fsm.Applied, 30*time.Second, 50*time.Millisecond).Should(Equal(want), "round %d (seed %d): replicas differ", round, seed)
			}
			seen := make(map[string]int, len(want))
			for _, c := range want {
				seen[c]++
				Expect(seen[c]).To(Equal(1), "round %d: command %s applied twice", round, c)
			}
			lostNow := 0
			for _, c := range ackedCmds {
				if seen[c] == 0 {
					lostNow++
				}
			}
			if policy == consensus.LogSyncAlways {
				Expect(lostNow).To(BeZero(), "round %d (seed %d): acknowledged commands lost under --sync always", round, seed)
			}
			if policy == consensus.LogSyncAlways {
				lost = lostNow
			} else {
				lost += lostNow
			}
			// What is gone is gone: later rounds count only new losses.
			kept := ackedCmds[:0]
			for _, c := range ackedCmds {
				if seen[c] > 0 {
					kept = append(kept, c)
				}
			}
			acked += len(roundAck)
			if policy != consensus.LogSyncAlways {
				ackedCmds = kept
			}
			GinkgoWriter.Printf("round %d: %d acknowledged, %d lost in all\n", round, len(roundAck), lost)
		}
		return acked, lost
	}

	It("under --sync always loses no acknowledged command, keeps replicas identical and entries dense", func() {
		acked, lost := run(consensus.LogSyncAlways)
		AddReportEntry("raft power loss, sync always", ReportEntryVisibilityAlways, fmt.Sprintf("%d rounds, %d acknowledged, %d lost", powerLossRounds, acked, lost))
		Expect(lost).To(BeZero())
	})

	It("under --sync interval and none restarts every node cleanly, replicas identical", func() {
		for _, p := range []consensus.LogSync{consensus.LogSyncInterval, consensus.LogSyncNone} {
			acked, lost := run(p)
			AddReportEntry(fmt.Sprintf("raft power loss, sync %d", p), ReportEntryVisibilityAlways, fmt.Sprintf("%d rounds, %d acknowledged, %d lost", powerLossRounds, acked, lost))
			GinkgoWriter.Printf("sync %v: %d rounds, %d acknowledged, %d lost\n", p, powerLossRounds, acked, lost)
		}
	})
})

// currentLeader returns the node that leads now, or old when none does.
func currentLeader(nodes []*plNode, old *plNode) *plNode {
	for _, n := range nodes {
		if n.raft.State() == raft.Leader {
			return n
		}
	}
	return old
}

func waitLeader(nodes []*plNode) *plNode {
	GinkgoHelper()
	var leader *plNode
	Eventually(func() bool {
		for _, n := range nodes {
			if n.raft.State() == raft.Leader {
				leader = n
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond).Should(BeTrue(), "no leader")
	return leader
}

var _ = os.Getpid
