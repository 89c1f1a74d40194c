package actors

import (
	"context"
	"errors"
	"sync"
	"time"

	"actorlog/consensus"
	"actorlog/discovery"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
)

// MembershipName is the membership actor's well-known name.
const MembershipName = "membership"

// Defaults of MembershipConfig.
const (
	// DefaultReconcileGrace is how long a member that Consul reports
	// critical (dead, frozen, or cut off from its agent) stays a voter
	// before the leader removes it. A restart, a long GC pause or a short
	// partition heals well within it, and a removed node that comes back
	// is added again once it passes.
	DefaultReconcileGrace = 30 * time.Second
	// DefaultLeaveDelay is how long a voter must be missing from Consul
	// (deregistered: it left) before the leader removes it. It covers a
	// Consul agent that restarted and forgot its services: every node
	// registers again within a TTL refresh plus a retry, well inside it.
	DefaultLeaveDelay = 10 * time.Second
	// DefaultReconcileInterval is how often the leader reconciles when no
	// Consul change prompts it, so that grace periods expire on time and a
	// failed change is tried again.
	DefaultReconcileInterval = 2 * time.Second
	// DefaultHealthInterval is how often the node's health is pushed to
	// its TTL check when it changes.
	DefaultHealthInterval = time.Second
)

// MembershipConfig configures the membership actor. The actor takes over
// Registrar and Watcher: it closes both when it stops (the Registrar
// deregisters the node then, unless it was told to skip the leave).
type MembershipConfig struct {
	// Raft is the node's raft server (the node owns its lifecycle).
	Raft *raft.Raft
	// FSM holds the member table, compared with what Consul publishes.
	FSM *consensus.FSM
	// RaftActor receives the JoinRequests that add members as voters.
	RaftActor *actor.PID
	// Self is this node's member entry.
	Self *messages.Member
	// Registrar keeps this node registered; Watcher follows every
	// instance of the service, whatever its status.
	Registrar *discovery.Registrar
	Watcher   *discovery.Watcher
	// Healthy reports whether the node can serve; its error becomes a
	// critical TTL status with the error as the note.
	Healthy func() error
	// BootstrapExpect, when positive and the node has no raft state, makes
	// the node wait until that many members pass in Consul; then the one
	// with the lowest id among the first BootstrapExpect (sorted by id)
	// bootstraps raft with all of them.
	BootstrapExpect int
	// HadState says the node found raft state at start: it never
	// bootstraps then.
	HadState bool
	// Grace: see DefaultReconcileGrace.
	Grace time.Duration
	// LeaveDelay: see DefaultLeaveDelay.
	LeaveDelay time.Duration
	// ReconcileInterval: see DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// HealthInterval: see DefaultHealthInterval.
	HealthInterval time.Duration
	// RequestTimeout bounds each raft change and each request to a peer.
	RequestTimeout time.Duration
	// VerifyPeer, when set, must pass before the leader adds a member
	// found in Consul as a voter, and before a --bootstrap-expect bootstrap
	// counts it; an error that wraps ErrPeerRejected leaves the member out
	// of the bootstrap for a while, any other is retried. With mutual TLS the node checks that the
	// member's raft address completes a handshake with a node certificate
	// of its CA, so that a node of another CA that registers in the same
	// Consul never becomes a voter that cannot be reached.
	// ctx ends when the actor stops.
	VerifyPeer func(ctx context.Context, m *messages.Member) error
	// Logger receives the actor's logs. Nil discards them.
	Logger *logrus.Entry
}

// NewMembershipProps returns the props of the membership actor; spawn it
// with the name MembershipName.
func NewMembershipProps(cfg MembershipConfig) *actor.Props {
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultReconcileGrace
	}
	if cfg.LeaveDelay <= 0 {
		cfg.LeaveDelay = DefaultLeaveDelay
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = DefaultReconcileInterval
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &membershipActor{cfg: cfg, log: cfg.Logger.WithField("actor", MembershipName)}
	})
}

// Local messages of the membership actor; they never cross the wire.
type (
	membersChanged struct{ members []discovery.Member }
	reconcileTick  struct{}
	changesDone    struct{ bootstrapRetry bool }
	// peersChecked reports the VerifyPeer results of bootstrap candidates.
	peersChecked struct{ passed, failed []string }
)

// peerCheckTTL is how long a VerifyPeer result for a bootstrap candidate
// is kept. A member that failed is left out of the bootstrap for that long
// and then checked again, so a node that comes back with the right
// certificate is counted without a restart of the others.
const peerCheckTTL = 30 * time.Second

// membershipActor registers the node (through its Registrar), reports its
// health to the TTL check, follows the members in Consul, and, on the
// leader, reconciles the raft configuration with them. It also performs
// the --bootstrap-expect bootstrap. Raft changes run on one goroutine of
// the actor at a time (busy), so two rounds never race.
type membershipActor struct {
	cfg  MembershipConfig
	log  *logrus.Entry
	root *actor.RootContext
	self *actor.PID

	members       []discovery.Member
	seen          bool                 // a snapshot has arrived
	criticalSince map[string]time.Time // voters seen unhealthy, since when
	missingSince  map[string]time.Time // voters not registered, since when
	busy          bool
	bootstrapped  bool // decided: bootstrapped, or found a cluster
	// peerPassed and peerFailed hold, per member id, when a bootstrap
	// candidate last passed or failed VerifyPeer.
	peerPassed, peerFailed map[string]time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

func (a *membershipActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.root, a.self = ctx.ActorSystem().Root, ctx.Self()
		a.criticalSince = map[string]time.Time{}
		a.missingSince = map[string]time.Time{}
		a.peerPassed, a.peerFailed = map[string]time.Time{}, map[string]time.Time{}
		a.stop = make(chan struct{})
		a.bootstrapped = a.cfg.HadState || a.cfg.BootstrapExpect <= 0
		a.goWatch()
		a.goTicks()
		a.goHealth()
	case *actor.Restarting:
		// A fresh instance takes over the Registrar and the Watcher.
		close(a.stop)
		a.wg.Wait()
	case *actor.Stopping:
		close(a.stop)
		a.wg.Wait()
		a.cfg.Watcher.Close()
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.RequestTimeout)
		if err := a.cfg.Registrar.Close(ctx); err != nil {
			a.log.WithError(err).Warn("could not deregister from Consul")
		}
		cancel()
	case membersChanged:
		a.members, a.seen = m.members, true
		a.step()
	case reconcileTick:
		a.step()
	case changesDone:
		a.busy = false
		if m.bootstrapRetry {
			a.bootstrapped = false
		}
	case peersChecked:
		a.busy = false
		now := time.Now()
		for _, id := range m.passed {
			a.peerPassed[id] = now
		}
		for _, id := range m.failed {
			a.peerFailed[id] = now
		}
		// Go on at once only with a verdict: a member that could not be
		// reached is tried again on the next tick, not in a tight loop.
		if len(m.passed)+len(m.failed) > 0 {
			a.step()
		}
	}
}

// goWatch forwards the Watcher's snapshots to the actor.
func (a *membershipActor) goWatch() {
	root, self, stop, updates := a.root, a.self, a.stop, a.cfg.Watcher.Updates()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			select {
			case <-stop:
				return
			case ms, ok := <-updates:
				if !ok {
					return
				}
				root.Send(self, membersChanged{ms})
			}
		}
	}()
}

func (a *membershipActor) goTicks() {
	root, self, stop, every := a.root, a.self, a.stop, a.cfg.ReconcileInterval
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				root.Send(self, reconcileTick{})
			}
		}
	}()
}

// LeaderlessWarning is how long a node that is in a cluster may know no
// raft leader before it reports warning: an election takes a second or
// two, a partition or a lost quorum longer. Its reads may then be stale
// and its writes fail, so clients looking for passing nodes go elsewhere.
const LeaderlessWarning = 5 * time.Second

// healthStatus is the TTL status of a node: critical when it cannot serve
// (healthErr), warning when it has known no raft leader for longer than
// LeaderlessWarning, else passing.
func healthStatus(healthErr error, leaderless time.Duration) (discovery.Status, string) {
	switch {
	case healthErr != nil:
		return discovery.StatusCritical, healthErr.Error()
	case leaderless > LeaderlessWarning:
		return discovery.StatusWarning, "no raft leader known for " + leaderless.Round(time.Second).String()
	}
	return discovery.StatusPassing, "serving"
}

// goHealth pushes the node's health to its TTL check whenever it changes.
// Healthy asks the log actor and may take a while, so it runs here rather
// than on the actor.
func (a *membershipActor) goHealth() {
	stop, every, reg, healthy, log, r := a.stop, a.cfg.HealthInterval, a.cfg.Registrar, a.cfg.Healthy, a.log, a.cfg.Raft
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		last := discovery.StatusPassing
		// lastLeader is when the node last knew a raft leader, or was in
		// no cluster yet (waiting to bootstrap or to be added is healthy).
		lastLeader := time.Now()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			var healthErr error
			if healthy != nil {
				healthErr = healthy()
			}
			inCluster := false
			if f := r.GetConfiguration(); f.Error() == nil {
				inCluster = len(f.Configuration().Servers) > 0
			}
			if _, id := r.LeaderWithID(); id != "" || !inCluster {
				lastLeader = time.Now()
			}
			status, note := healthStatus(healthErr, time.Since(lastLeader))
			if status == last {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := reg.UpdateTTL(ctx, status, note)
			cancel()
			if errors.Is(err, discovery.ErrClosed) {
				return
			}
			// The status is recorded even when the push failed: the
			// registrar pushes it once the agent is back.
			last = status
			log.WithFields(logrus.Fields{"status": status, "note": note}).Info("health reported to Consul")
		}
	}()
}

// step bootstraps when the time has come, or reconciles on the leader.
func (a *membershipActor) step() {
	if a.busy || !a.seen {
		return
	}
	if !a.bootstrapped {
		a.tryBootstrap()
		return
	}
	if a.cfg.Raft.State() != raft.Leader {
		clear(a.criticalSince)
		clear(a.missingSince)
		return
	}
	f := a.cfg.Raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	plan := planReconcile(a.cfg.Self.GetId(), a.members, f.Configuration().Servers, a.cfg.FSM.Member,
		since{a.criticalSince, a.missingSince}, time.Now(), a.cfg.Grace, a.cfg.LeaveDelay)
	if len(plan.add) == 0 && len(plan.remove) == 0 {
		return
	}
	a.busy = true
	r, root, self, raftPID, timeout, log, stop := a.cfg.Raft, a.root, a.self, a.cfg.RaftActor, a.cfg.RequestTimeout, a.log, a.stop
	verify := a.cfg.VerifyPeer
	a.async(func() {
		defer root.Send(self, changesDone{})
		ctx, cancel := stopContext(stop)
		defer cancel()
		for _, m := range plan.add {
			if verify != nil {
				if err := verify(ctx, m); errors.Is(err, ErrPeerRejected) {
					log.WithField("member", m.GetId()).WithError(err).Warn("not adding a member found in Consul: it fails the TLS check")
					continue
				} else if err != nil {
					log.WithField("member", m.GetId()).WithError(err).Info("could not check a member found in Consul; will retry")
					continue
				}
			}
			res, err := root.RequestFuture(raftPID, &messages.JoinRequest{Member: m}, timeout).Result()
			if _, ok := res.(*messages.JoinResponse); !ok || err != nil {
				log.WithFields(logrus.Fields{"member": m.GetId(), "reply": res}).WithError(err).Info("could not add a member; will retry")
				continue
			}
			log.WithField("member", m.GetId()).Info("added a member found in Consul as a non-voter; the leader promotes it once it has caught up")
		}
		for _, id := range plan.remove {
			if err := await(r.RemoveServer(raft.ServerID(id), 0, timeout), stop); err != nil {
				log.WithField("member", id).WithError(err).Info("could not remove a member; will retry")
				continue
			}
			log.WithField("member", id).Info("removed a member that left Consul or stayed critical past the grace period")
		}
	})
}

func (a *membershipActor) async(f func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
}

// tryBootstrap bootstraps raft with the first BootstrapExpect passing
// members, sorted by id, when this node is the first of them. Before it
// does, it asks each of them for its raft configuration: when any already
// has one, a cluster exists and this node waits to be added instead.
//
// With VerifyPeer set (mutual TLS), every node first checks the candidates
// and leaves out those that fail (a node of another CA registered in the
// same Consul): such a member could never be reached, so bootstrapping
// with it would make a voter that only costs quorum. Each node checks for
// itself, because the one that bootstraps is chosen among the members that
// pass.
func (a *membershipActor) tryBootstrap() {
	n := a.cfg.BootstrapExpect
	now := time.Now()
	var cands []discovery.Member
	for _, m := range a.members {
		if failed, ok := a.peerFailed[m.ID]; ok && now.Sub(failed) < peerCheckTTL {
			continue
		}
		if m.Status == discovery.StatusPassing && m.RaftAddr != "" {
			cands = append(cands, m)
		}
	}
	if f := a.cfg.Raft.GetConfiguration(); f.Error() == nil && len(f.Configuration().Servers) > 0 {
		a.bootstrapped = true // added to a cluster meanwhile
		return
	}
	if len(cands) < n {
		return
	}
	cands = cands[:n]
	selfID := a.cfg.Self.GetId()
	if a.checkPeers(cands, selfID, now) {
		return // checking; step runs again with the results
	}
	if cands[0].ID != selfID {
		return // the first one bootstraps; this node is added by the leader
	}
	a.busy, a.bootstrapped = true, true
	r, root, self, timeout, log, stop := a.cfg.Raft, a.root, a.self, a.cfg.RequestTimeout, a.log, a.stop
	a.async(func() {
		retry := false
		defer func() { root.Send(self, changesDone{bootstrapRetry: retry}) }()
		var servers []raft.Server
		for _, m := range cands {
			if m.ID != selfID {
				res, err := root.RequestFuture(actor.NewPID(m.ActorAddr, RaftName), &messages.ServersRequest{}, timeout).Result()
				sr, ok := res.(*messages.ServersResponse)
				if err != nil || !ok {
					log.WithField("peer", m.ID).WithError(err).Info("bootstrap: a peer did not say whether it has a cluster; retrying")
					retry = true
					return
				}
				if len(sr.GetServers()) > 0 {
					log.WithField("peer", m.ID).Info("bootstrap: a cluster exists already; waiting to be added")
					return
				}
			}
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.RaftAddr)})
		}
		ids := make([]string, len(servers))
		for i, s := range servers {
			ids[i] = string(s.ID)
		}
		log.WithField("servers", ids).Info("bootstrap: the expected members are registered; bootstrapping raft with all of them")
		if err := await(r.BootstrapCluster(raft.Configuration{Servers: servers}), stop); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			log.WithError(err).Warn("bootstrap failed; retrying")
			retry = true
		}
	})
}

// stopContext is a context that ends when stop is closed or cancel is
// called, so that a check in flight does not hold up the actor's stop.
func stopContext(stop <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// checkPeers starts VerifyPeer on the candidates other than this node
// whose last result has expired, and reports whether it did. The results
// arrive as peersChecked.
func (a *membershipActor) checkPeers(cands []discovery.Member, selfID string, now time.Time) bool {
	verify := a.cfg.VerifyPeer
	if verify == nil {
		return false
	}
	var todo []*messages.Member
	for _, m := range cands {
		if passed, ok := a.peerPassed[m.ID]; m.ID == selfID || (ok && now.Sub(passed) < peerCheckTTL) {
			continue
		}
		todo = append(todo, &messages.Member{Id: m.ID, ActorAddress: m.ActorAddr, RaftAddress: m.RaftAddr, HttpAddress: m.HTTPAddr, GrpcAddress: m.GRPCAddr})
	}
	if len(todo) == 0 {
		return false
	}
	a.busy = true
	root, self, log, stop := a.root, a.self, a.log, a.stop
	a.async(func() {
		var res peersChecked
		defer func() { root.Send(self, res) }()
		ctx, cancel := stopContext(stop)
		defer cancel()
		for _, m := range todo {
			switch err := verify(ctx, m); {
			case err == nil:
				res.passed = append(res.passed, m.GetId())
			case errors.Is(err, ErrPeerRejected):
				log.WithField("member", m.GetId()).WithError(err).Warn("bootstrap: leaving out a registered member that fails the TLS check")
				res.failed = append(res.failed, m.GetId())
			default:
				// Not reachable yet: neither counted nor left out; the
				// next reconcile tick checks it again.
				log.WithField("member", m.GetId()).WithError(err).Info("bootstrap: could not check a registered member yet")
			}
		}
	})
	return true
}

// since tracks since when voters have been unhealthy (critical) and
// missing from Consul (missing).
type since struct{ critical, missing map[string]time.Time }

// overdue records id as in its state since now unless it already was, and
// reports whether it has been so for d.
func overdue(m map[string]time.Time, id string, now time.Time, d time.Duration) bool {
	t, ok := m[id]
	if !ok {
		m[id] = now
		t = now
	}
	return now.Sub(t) >= d
}

// alive reports whether a member with this status is kept as a voter:
// passing, or warning (it runs and reports, but knows no leader).
func alive(s discovery.Status) bool {
	return s == discovery.StatusPassing || s == discovery.StatusWarning
}

// reconcilePlan is what one round changes in the raft configuration.
type reconcilePlan struct {
	add    []*messages.Member
	remove []string
}

// planReconcile compares Consul's members (every status) with the raft
// configuration, the way Consul's autopilot does:
//
//   - a passing member that is not in the configuration at its published
//     raft address, or whose member entry differs from what it published,
//     is (re)added: a new one as a non-voter, which the leader promotes
//     once it has caught up and stayed healthy (RaftConfig.MemberStatus),
//     so a registration that cannot serve never costs quorum;
//   - an id registered twice with different addresses is neither added
//     nor moved (a rogue registration reusing a member's id);
//   - a voter that is no longer registered (it left) is removed once it
//     has been missing for leaveDelay;
//   - a voter that is registered but critical (or in maintenance) is
//     removed once it has been so for grace; st tracks since when (it is
//     updated); a warning voter is alive and kept;
//   - the leader (self) is never removed, at most one voter is removed per
//     round, and nothing is removed unless a majority of the current voters
//     pass (or warn) in Consul: a Consul agent that restarted and forgot everyone
//     must not empty the cluster.
func planReconcile(selfID string, members []discovery.Member, servers []raft.Server,
	member func(string) (*messages.Member, bool), st since, now time.Time, grace, leaveDelay time.Duration,
) reconcilePlan {
	var p reconcilePlan
	byID := make(map[string]discovery.Member, len(members))
	// An id registered twice with different addresses is ambiguous: one
	// of them is a rogue (or a stale copy). Neither is added or moved,
	// so nobody takes over a member's id by registering it.
	ambiguous := map[string]bool{}
	for _, m := range members {
		if prev, ok := byID[m.ID]; ok && (prev.RaftAddr != m.RaftAddr || prev.ActorAddr != m.ActorAddr) {
			ambiguous[m.ID] = true
		}
		if prev, ok := byID[m.ID]; !ok || alive(m.Status) && !alive(prev.Status) {
			byID[m.ID] = m
		}
	}
	serverAt := make(map[string]string)
	voterAt := make(map[string]string)
	voters, passingVoters := 0, 0
	for _, s := range servers {
		serverAt[string(s.ID)] = string(s.Address)
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		voterAt[string(s.ID)] = string(s.Address)
		if m, ok := byID[string(s.ID)]; ok && alive(m.Status) {
			passingVoters++
		}
	}
	for _, m := range members {
		if m.ID == selfID || m.Status != discovery.StatusPassing || m.RaftAddr == "" || ambiguous[m.ID] {
			continue
		}
		want := &messages.Member{Id: m.ID, ActorAddress: m.ActorAddr, RaftAddress: m.RaftAddr, HttpAddress: m.HTTPAddr, GrpcAddress: m.GRPCAddr}
		have, ok := member(m.ID)
		if serverAt[m.ID] != m.RaftAddr || !ok || !proto.Equal(have, want) {
			p.add = append(p.add, want)
		}
	}
	for _, m := range []map[string]time.Time{st.critical, st.missing} {
		for id := range m {
			if _, ok := serverAt[id]; !ok {
				delete(m, id)
			}
		}
	}
	canRemove := passingVoters > voters/2
	for _, s := range servers {
		id := string(s.ID)
		if id == selfID {
			continue
		}
		m, registered := byID[id]
		var due bool
		switch {
		case !registered:
			delete(st.critical, id)
			due = overdue(st.missing, id, now, leaveDelay)
		case alive(m.Status):
			delete(st.critical, id)
			delete(st.missing, id)
		default:
			delete(st.missing, id)
			due = overdue(st.critical, id, now, grace)
		}
		if due && canRemove && len(p.remove) == 0 {
			p.remove = append(p.remove, id)
		}
	}
	return p
}
