package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// route says which nodes may serve an operation.
type route int

const (
	// routeAny: the node in use (the first configured server that
	// answers, moving on when it fails).
	routeAny route = iota
	// routeLeader: the leader when it is known and not suspect, otherwise
	// the node in use, which forwards to the leader.
	routeLeader
	// routeRead: round-robin over the members that are not the leader,
	// falling back to the leader and then to any node.
	routeRead
)

// suspectFor is how long a node whose connection failed is skipped by pick
// while other nodes remain: a node killed with -9 refuses connections in a
// millisecond, but each retry there still costs a backoff.
const suspectFor = 2 * time.Second

// router is the client's view of the cluster and every routing decision
// made from it: which node an attempt goes to, which node leads, how a
// failure moves the next attempt elsewhere. It only keeps state; it sends
// nothing, opens no connection and starts no goroutine, so the client
// (client.go) does the talking and acts on what the router decides.
//
// Its lock is innermost: no method calls out of the router while holding
// it, so the client may call the router with its own lock held.
type router struct {
	// configured are the servers of Config.Servers, which stay known
	// whatever a member list says, so the client can always start over
	// from them.
	configured []string
	// now is the clock of the suspect marks (time.Now; tests move it).
	now func() time.Time

	mu      sync.Mutex // guards everything below
	servers []string   // known node addresses: configured ones, then members learned
	current int        // index into servers of the node in use
	leader  string     // last known leader address, "" when unknown
	// newLeader is cancelled, and replaced, whenever a leader other than
	// the one known is learned: retries waiting in a backoff go at once,
	// and produce attempts sent elsewhere for want of a leader are
	// abandoned for the leader (see attemptContext).
	newLeader       context.Context
	cancelNewLeader context.CancelFunc
	// members is the cluster as a node last listed it (see learn); reads
	// go round-robin over its non-leaders, rr being the turn.
	members []Server
	rr      int
	// suspect holds nodes whose last attempt failed at the connection
	// level, until when they are skipped by pick (while others remain).
	suspect map[string]time.Time
	// dead marks nodes whose connection dropped, or that were never
	// contacted. Protoactor spends two seconds in a blocking retry on
	// every dial of a node that refuses connections, so until a plain TCP
	// dial succeeds again (Client.reachable) the client does not hand such
	// a node any request.
	dead map[string]bool
}

// newRouter returns a router that knows the configured servers only, with
// the first one in use and no leader known.
func newRouter(configured []string) *router {
	r := &router{
		configured: slices.Clone(configured),
		now:        time.Now,
		servers:    slices.Clone(configured),
		suspect:    make(map[string]time.Time),
		dead:       make(map[string]bool),
	}
	r.newLeader, r.cancelNewLeader = context.WithCancel(context.Background())
	// A node nobody has talked to yet is checked with a TCP dial first,
	// like one whose connection dropped: a wrong address or a node that is
	// down then fails in a millisecond with "connection refused" instead
	// of inside protoactor's two-second dial retry.
	for _, s := range r.servers {
		r.dead[s] = true
	}
	return r
}

// stop releases whatever waits on the new-leader signal: the client is
// closing.
func (r *router) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancelNewLeader()
}

// pick chooses the node for the next attempt of an operation routed by rt.
func (r *router) pick(rt route) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	switch rt {
	case routeLeader:
		if r.leader != "" && !r.suspectLocked(r.leader, now) {
			return r.leader
		}
	case routeRead:
		var followers []string
		for _, m := range r.members {
			if m.ActorAddr != "" && m.ActorAddr != r.leader && !r.suspectLocked(m.ActorAddr, now) {
				followers = append(followers, m.ActorAddr)
			}
		}
		if len(followers) > 0 {
			r.rr = (r.rr + 1) % len(followers)
			return followers[r.rr]
		}
		if r.leader != "" && !r.suspectLocked(r.leader, now) {
			return r.leader
		}
	}
	for i := range len(r.servers) {
		at := (r.current + i) % len(r.servers)
		if !r.suspectLocked(r.servers[at], now) {
			r.current = at
			return r.servers[at]
		}
	}
	// Every node is suspect: try the one in use anyway, rather than none.
	return r.servers[r.current]
}

// suspectLocked reports whether server is still skipped at now, and
// forgets a mark that has run out.
func (r *router) suspectLocked(server string, now time.Time) bool {
	until, ok := r.suspect[server]
	if ok && !now.Before(until) {
		delete(r.suspect, server)
		return false
	}
	return ok
}

// moveOnLocked makes the node after server the node in use, when server is
// the one in use.
func (r *router) moveOnLocked(server string) {
	if r.servers[r.current] == server {
		r.current = (r.current + 1) % len(r.servers)
	}
}

// addServerLocked adds an address to the known servers. A node nobody has
// talked to yet is checked with a TCP dial first: see newRouter.
func (r *router) addServerLocked(addr string) {
	if addr != "" && !slices.Contains(r.servers, addr) {
		r.servers = append(r.servers, addr)
		r.dead[addr] = true
	}
}

// addServers adds addresses found elsewhere (Consul) to the known servers,
// to be tried by the next refresh.
func (r *router) addServers(addrs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range addrs {
		r.addServerLocked(a)
	}
}

// succeeded records that server just served an attempt.
func (r *router) succeeded(server string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.suspect, server)
}

// failover is what the client does after a failed attempt, as the router
// decides it from the failure.
type failover struct {
	// redirected: the next attempt may go at once, without a backoff (the
	// node named a new leader, or the attempt was abandoned for one).
	redirected bool
	// dropSession: the session with the node is no good any more.
	dropSession bool
	// refresh: the member list is to be refreshed soon.
	refresh bool
}

// failed records that an attempt against server failed with err, so the
// next attempt goes somewhere more promising, and says what the client is
// to do about it.
func (r *router) failed(server string, err error) failover {
	r.mu.Lock()
	defer r.mu.Unlock()
	var nl *NotLeaderError
	switch {
	case errors.As(err, &nl) && nl.LeaderAddr != "":
		redirected := r.leader != nl.LeaderAddr
		r.setLeaderLocked(nl.LeaderAddr)
		r.addServerLocked(nl.LeaderAddr)
		// The leader may be a member this client has not heard of.
		return failover{redirected: redirected, refresh: true}
	case errors.As(err, &nl):
		// No leader known there: an election is under way.
		if r.leader == server {
			r.leader = ""
		}
		r.moveOnLocked(server)
		return failover{refresh: true}
	case errors.Is(err, errNewLeader):
		// Abandoned for the leader just learned: go there at once.
		return failover{redirected: true}
	case errors.Is(err, errSessionLost):
		// The node is up but forgot us (it restarted): a new session on
		// the same node is the cure.
		return failover{dropSession: true}
	case errors.Is(err, errNodeUnavailable):
		// The node answered, so the session is fine, but it cannot serve
		// now (no leader, leadership lost while committing, overload).
		r.moveOnLocked(server)
		return failover{refresh: true}
	default:
		// A timeout or a dead connection: skip the node for a while, try
		// another, and forget a leader that did not answer.
		r.suspect[server] = r.now().Add(suspectFor)
		if r.leader == server {
			r.leader = ""
		}
		r.moveOnLocked(server)
		return failover{dropSession: true, refresh: true}
	}
}

// setLeaderLocked records the leader's address ("" for none known), waking
// the retries that wait in a backoff when it is a new one.
func (r *router) setLeaderLocked(addr string) {
	// A leader listed by a node that has not yet noticed its death (it is
	// suspect here) is no reason to abandon anything.
	if addr != "" && addr != r.leader && !r.suspectLocked(addr, r.now()) {
		r.cancelNewLeader()
		r.newLeader, r.cancelNewLeader = context.WithCancel(context.Background())
	}
	r.leader = addr
}

// leaderAddr is the last known leader's address, "" when unknown.
func (r *router) leaderAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leader
}

// hasLiveLeader reports whether a leader is known and not suspect.
func (r *router) hasLiveLeader() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leader != "" && !r.suspectLocked(r.leader, r.now())
}

// leaderChanged is done when a leader other than the one known now is
// learned (or the router stops).
func (r *router) leaderChanged() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.newLeader
}

// attemptContext bounds one attempt of an operation routed by rt to server.
// An operation for the leader that goes elsewhere, because no leader is
// known, is abandoned when one is learned, with errNewLeader as the cause:
// a node forwarding to a leader that died may hold it for seconds, while
// the new leader answers at once. That is safe because every such
// operation is idempotent (produce requests are retried with the same
// producer id and sequence).
func (r *router) attemptContext(ctx context.Context, rt route, server string) (context.Context, func()) {
	if rt != routeLeader {
		return ctx, func() {}
	}
	r.mu.Lock()
	toLeader := r.leader != "" && server == r.leader
	newLeader := r.newLeader
	r.mu.Unlock()
	if toLeader {
		return ctx, func() {}
	}
	actx, cancel := context.WithCancelCause(ctx)
	stopAfter := context.AfterFunc(newLeader, func() { cancel(errNewLeader) })
	return actx, func() {
		stopAfter()
		cancel(nil)
	}
}

// refreshOrder is the order in which to ask nodes for the member list: the
// leader first, then the known servers from the one in use on, suspect
// ones last.
func (r *router) refreshOrder() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var order, later []string
	leaderFirst := r.leader != "" && !r.suspectLocked(r.leader, now)
	if leaderFirst {
		order = append(order, r.leader)
	}
	for i := range len(r.servers) {
		s := r.servers[(r.current+i)%len(r.servers)]
		switch {
		case leaderFirst && s == r.leader:
		case r.suspectLocked(s, now):
			later = append(later, s)
		default:
			order = append(order, s)
		}
	}
	return append(order, later...)
}

// learn takes a node's member list as the view of the cluster: the leader
// it marks (none during an election) and the members' addresses. The
// configured servers stay known whatever the list says; an empty list
// changes nothing.
func (r *router) learn(servers []Server) {
	if len(servers) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members = slices.Clone(servers)
	leader := ""
	for _, m := range servers {
		if m.IsLeader {
			leader = m.ActorAddr
		}
	}
	r.setLeaderLocked(leader)
	inUse := r.servers[r.current]
	known := slices.Clone(r.configured)
	for _, m := range servers {
		if m.ActorAddr != "" && !slices.Contains(known, m.ActorAddr) {
			known = append(known, m.ActorAddr)
			if !slices.Contains(r.servers, m.ActorAddr) {
				r.dead[m.ActorAddr] = true // not contacted yet: see newRouter
			}
		}
	}
	r.servers = known
	r.current = max(slices.Index(r.servers, inUse), 0)
}

// markDead records that the connection to addr dropped: it is dialled
// before it gets another request.
func (r *router) markDead(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead[addr] = true
}

// isDead reports whether addr must be dialled before it gets a request.
func (r *router) isDead(addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dead[addr]
}

// reached records that a dial of addr succeeded.
func (r *router) reached(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.dead, addr)
}
