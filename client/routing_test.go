package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// testClock is the router's clock in these tests, moved by hand so that
// suspect marks run out without waiting.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// newTestRouter returns a router over the configured servers whose clock
// only moves when the test moves it.
func newTestRouter(t *testing.T, configured ...string) (*router, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Unix(1_700_000_000, 0)}
	r := newRouter(configured)
	r.now = clk.now
	t.Cleanup(r.stop)
	return r, clk
}

// threeNodes is a member list with h:2 the leader.
func threeNodes() []Server {
	return []Server{
		{ID: "n1", ActorAddr: "h:1"},
		{ID: "n2", ActorAddr: "h:2", IsLeader: true},
		{ID: "n3", ActorAddr: "h:3"},
	}
}

// event is one thing that happens to a router before the checks of a case.
type event struct {
	learn   []Server      // a node's member list is learned
	fail    string        // an attempt against this node failed with err
	err     error         //
	ok      string        // an attempt against this node succeeded
	advance time.Duration // the clock moves on
}

func (e event) apply(r *router, clk *testClock) {
	switch {
	case e.learn != nil:
		r.learn(e.learn)
	case e.fail != "":
		r.failed(e.fail, e.err)
	case e.ok != "":
		r.succeeded(e.ok)
	}
	clk.t = clk.t.Add(e.advance)
}

func learned(list []Server) event           { return event{learn: list} }
func failed(server string, err error) event { return event{fail: server, err: err} }
func succeeded(server string) event         { return event{ok: server} }
func after(d time.Duration) event           { return event{advance: d} }

// pickWant is one pick and the node it must choose.
type pickWant struct {
	rt   route
	want string
}

func TestRouterPick(t *testing.T) {
	cases := []struct {
		name       string
		configured []string
		events     []event
		picks      []pickWant
	}{
		{
			name:       "with no leader known, produce goes to the node in use",
			configured: []string{"h:1", "h:2"},
			picks:      []pickWant{{routeLeader, "h:1"}, {routeRead, "h:1"}, {routeAny, "h:1"}},
		},
		{
			name:       "produce goes to the leader and reads take turns over the followers",
			configured: []string{"h:1"},
			events:     []event{learned(threeNodes())},
			picks: []pickWant{
				{routeLeader, "h:2"},
				{routeRead, "h:3"}, {routeRead, "h:1"}, {routeRead, "h:3"}, {routeRead, "h:1"},
				{routeAny, "h:1"},
			},
		},
		{
			name:       "a lone leader serves reads",
			configured: []string{"h:1"},
			events:     []event{learned([]Server{{ID: "n1", ActorAddr: "h:1", IsLeader: true}})},
			picks:      []pickWant{{routeRead, "h:1"}, {routeRead, "h:1"}, {routeLeader, "h:1"}},
		},
		{
			name:       "a newly named leader takes the produces",
			configured: []string{"h:1"},
			events:     []event{learned(threeNodes()), failed("h:2", &NotLeaderError{LeaderID: "n3", LeaderAddr: "h:3"})},
			picks:      []pickWant{{routeLeader, "h:3"}, {routeRead, "h:2"}, {routeRead, "h:1"}},
		},
		{
			name:       "a leader that does not answer is forgotten and skipped",
			configured: []string{"h:1"},
			events:     []event{learned(threeNodes()), failed("h:2", errEndpointLost)},
			picks: []pickWant{
				{routeLeader, "h:1"},
				{routeRead, "h:3"}, {routeRead, "h:1"}, {routeRead, "h:3"},
				{routeAny, "h:1"},
			},
		},
		{
			name:       "a suspect follower gets no reads",
			configured: []string{"h:1"},
			events:     []event{learned(threeNodes()), failed("h:3", errAttemptTimeout)},
			picks:      []pickWant{{routeRead, "h:1"}, {routeRead, "h:1"}, {routeLeader, "h:2"}},
		},
		{
			name:       "reads fall back to the leader when every follower is suspect",
			configured: []string{"h:1"},
			events:     []event{learned(threeNodes()), failed("h:1", errUnreachable), failed("h:3", errUnreachable)},
			picks:      []pickWant{{routeRead, "h:2"}, {routeRead, "h:2"}},
		},
		{
			name:       "a suspect node gets reads again once its mark runs out",
			configured: []string{"h:1"},
			events:     []event{learned(threeNodes()), failed("h:3", errAttemptTimeout), after(suspectFor)},
			picks:      []pickWant{{routeRead, "h:3"}, {routeRead, "h:1"}},
		},
		{
			name:       "a suspect node that served an attempt is no longer skipped",
			configured: []string{"h:1"},
			events:     []event{learned(threeNodes()), failed("h:3", errAttemptTimeout), succeeded("h:3")},
			picks:      []pickWant{{routeRead, "h:3"}, {routeRead, "h:1"}},
		},
		{
			name:       "the node in use moves on past a suspect one",
			configured: []string{"h:1", "h:2", "h:3"},
			events:     []event{failed("h:1", errUnreachable), failed("h:2", errUnreachable)},
			picks:      []pickWant{{routeAny, "h:3"}, {routeLeader, "h:3"}, {routeRead, "h:3"}},
		},
		{
			name:       "when every node is suspect the one in use is tried anyway",
			configured: []string{"h:1"},
			events:     []event{failed("h:1", errUnreachable)},
			picks:      []pickWant{{routeLeader, "h:1"}, {routeAny, "h:1"}},
		},
		{
			name:       "a node without a leader sends the next attempt elsewhere",
			configured: []string{"h:1", "h:2"},
			events:     []event{failed("h:1", &NotLeaderError{})},
			picks:      []pickWant{{routeAny, "h:2"}, {routeLeader, "h:2"}},
		},
		{
			name:       "a node that cannot serve now sends the next attempt elsewhere",
			configured: []string{"h:1", "h:2"},
			events:     []event{failed("h:1", errNodeUnavailable)},
			picks:      []pickWant{{routeAny, "h:2"}},
		},
		{
			name:       "a session the node forgot keeps the node in use",
			configured: []string{"h:1", "h:2"},
			events:     []event{failed("h:1", errSessionLost)},
			picks:      []pickWant{{routeAny, "h:1"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, clk := newTestRouter(t, tc.configured...)
			for _, e := range tc.events {
				e.apply(r, clk)
			}
			for i, p := range tc.picks {
				if got := r.pick(p.rt); got != p.want {
					t.Fatalf("pick %d (route %d): %s, want %s", i, p.rt, got, p.want)
				}
			}
		})
	}
}

func TestRouterFailed(t *testing.T) {
	cases := []struct {
		name        string
		events      []event // on a router over h:1 that learned threeNodes (h:2 leads)
		server      string
		err         error
		want        failover
		wantLeader  string
		wantInUse   string
		wantSuspect bool
	}{
		{
			name:       "NotLeader naming a new leader redirects at once",
			server:     "h:2",
			err:        &NotLeaderError{LeaderID: "n3", LeaderAddr: "h:3"},
			want:       failover{redirected: true, refresh: true},
			wantLeader: "h:3",
			wantInUse:  "h:1",
		},
		{
			name:       "NotLeader naming the known leader again waits like any retry",
			server:     "h:1",
			err:        &NotLeaderError{LeaderID: "n2", LeaderAddr: "h:2"},
			want:       failover{refresh: true},
			wantLeader: "h:2",
			wantInUse:  "h:1",
		},
		{
			name:       "NotLeader without a leader moves off the node in use",
			server:     "h:1",
			err:        &NotLeaderError{},
			want:       failover{refresh: true},
			wantLeader: "h:2",
			wantInUse:  "h:2",
		},
		{
			name:       "NotLeader without a leader from the leader forgets it",
			server:     "h:2",
			err:        &NotLeaderError{},
			want:       failover{refresh: true},
			wantLeader: "",
			wantInUse:  "h:1",
		},
		{
			name:       "an attempt abandoned for a new leader goes there at once",
			server:     "h:1",
			err:        errNewLeader,
			want:       failover{redirected: true},
			wantLeader: "h:2",
			wantInUse:  "h:1",
		},
		{
			name:       "a session the node forgot is dropped and the node kept",
			server:     "h:1",
			err:        errSessionLost,
			want:       failover{dropSession: true},
			wantLeader: "h:2",
			wantInUse:  "h:1",
		},
		{
			name:       "a node that cannot serve now is left, its session kept",
			server:     "h:1",
			err:        errNodeUnavailable,
			want:       failover{refresh: true},
			wantLeader: "h:2",
			wantInUse:  "h:2",
		},
		{
			name:        "a timeout makes the node suspect",
			server:      "h:1",
			err:         errAttemptTimeout,
			want:        failover{dropSession: true, refresh: true},
			wantLeader:  "h:2",
			wantInUse:   "h:2",
			wantSuspect: true,
		},
		{
			name:        "a lost connection to the leader forgets it",
			server:      "h:2",
			err:         errEndpointLost,
			want:        failover{dropSession: true, refresh: true},
			wantLeader:  "",
			wantInUse:   "h:1",
			wantSuspect: true,
		},
		{
			name:        "an error the router does not know counts as a lost connection",
			server:      "h:3",
			err:         errors.New("something else"),
			want:        failover{dropSession: true, refresh: true},
			wantLeader:  "h:2",
			wantInUse:   "h:1",
			wantSuspect: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, clk := newTestRouter(t, "h:1")
			r.learn(threeNodes())
			for _, e := range tc.events {
				e.apply(r, clk)
			}
			if got := r.failed(tc.server, tc.err); got != tc.want {
				t.Errorf("failover %+v, want %+v", got, tc.want)
			}
			if got := r.leaderAddr(); got != tc.wantLeader {
				t.Errorf("leader %q, want %q", got, tc.wantLeader)
			}
			if got := r.pick(routeAny); got != tc.wantInUse {
				t.Errorf("node in use %s, want %s", got, tc.wantInUse)
			}
			r.mu.Lock()
			suspect := r.suspectLocked(tc.server, clk.now())
			r.mu.Unlock()
			if suspect != tc.wantSuspect {
				t.Errorf("%s suspect %v, want %v", tc.server, suspect, tc.wantSuspect)
			}
		})
	}
}

func TestRouterLearn(t *testing.T) {
	cases := []struct {
		name        string
		configured  []string
		events      []event
		wantServers []string
		wantLeader  string
		wantInUse   string
		wantDead    []string
	}{
		{
			name:        "every configured server is dialled before its first request",
			configured:  []string{"h:1", "h:2"},
			wantServers: []string{"h:1", "h:2"},
			wantInUse:   "h:1",
			wantDead:    []string{"h:1", "h:2"},
		},
		{
			name:        "members are learned after the configured servers",
			configured:  []string{"h:1"},
			events:      []event{learned(threeNodes())},
			wantServers: []string{"h:1", "h:2", "h:3"},
			wantLeader:  "h:2",
			wantInUse:   "h:1",
			wantDead:    []string{"h:1", "h:2", "h:3"},
		},
		{
			name:        "configured servers stay and departed members go",
			configured:  []string{"seed:1", "h:1"},
			events:      []event{learned(threeNodes()), learned([]Server{{ID: "n9", ActorAddr: "h:9", IsLeader: true}})},
			wantServers: []string{"seed:1", "h:1", "h:9"},
			wantLeader:  "h:9",
			wantInUse:   "seed:1",
			wantDead:    []string{"seed:1", "h:1", "h:2", "h:3", "h:9"},
		},
		{
			name:        "an empty list changes nothing",
			configured:  []string{"h:1"},
			events:      []event{learned(threeNodes()), learned([]Server{})},
			wantServers: []string{"h:1", "h:2", "h:3"},
			wantLeader:  "h:2",
			wantInUse:   "h:1",
			wantDead:    []string{"h:1", "h:2", "h:3"},
		},
		{
			name:        "a list without a leader forgets it (an election)",
			configured:  []string{"h:1"},
			events:      []event{learned(threeNodes()), learned([]Server{{ID: "n1", ActorAddr: "h:1"}, {ID: "n3", ActorAddr: "h:3"}})},
			wantServers: []string{"h:1", "h:3"},
			wantLeader:  "",
			wantInUse:   "h:1",
			wantDead:    []string{"h:1", "h:2", "h:3"},
		},
		{
			name:        "members without an address are not servers",
			configured:  []string{"h:1"},
			events:      []event{learned([]Server{{ID: "n1", ActorAddr: "h:1", IsLeader: true}, {ID: "n2"}})},
			wantServers: []string{"h:1"},
			wantLeader:  "h:1",
			wantInUse:   "h:1",
			wantDead:    []string{"h:1"},
		},
		{
			name:       "the node in use stays in use while it is known",
			configured: []string{"a:1", "b:1"},
			events: []event{
				failed("a:1", errNodeUnavailable),
				learned([]Server{{ID: "c", ActorAddr: "c:1", IsLeader: true}}),
			},
			wantServers: []string{"a:1", "b:1", "c:1"},
			wantLeader:  "c:1",
			wantInUse:   "b:1",
			wantDead:    []string{"a:1", "b:1", "c:1"},
		},
		{
			name:       "a departed node in use gives way to the first configured one",
			configured: []string{"a:1"},
			events: []event{
				failed("a:1", &NotLeaderError{LeaderID: "x", LeaderAddr: "x:1"}),
				failed("a:1", errNodeUnavailable),
				learned([]Server{{ID: "y", ActorAddr: "y:1", IsLeader: true}}),
			},
			wantServers: []string{"a:1", "y:1"},
			wantLeader:  "y:1",
			wantInUse:   "a:1",
			wantDead:    []string{"a:1", "x:1", "y:1"},
		},
		{
			name:        "a leader named by NotLeader becomes a server",
			configured:  []string{"h:1"},
			events:      []event{failed("h:1", &NotLeaderError{LeaderID: "n9", LeaderAddr: "h:9"})},
			wantServers: []string{"h:1", "h:9"},
			wantLeader:  "h:9",
			wantInUse:   "h:1",
			wantDead:    []string{"h:1", "h:9"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, clk := newTestRouter(t, tc.configured...)
			for _, e := range tc.events {
				e.apply(r, clk)
			}
			r.mu.Lock()
			servers := slices.Clone(r.servers)
			var dead []string
			for addr, d := range r.dead {
				if d {
					dead = append(dead, addr)
				}
			}
			r.mu.Unlock()
			slices.Sort(dead)
			want := slices.Sorted(slices.Values(tc.wantDead))
			if !slices.Equal(servers, tc.wantServers) {
				t.Errorf("servers %v, want %v", servers, tc.wantServers)
			}
			if got := r.leaderAddr(); got != tc.wantLeader {
				t.Errorf("leader %q, want %q", got, tc.wantLeader)
			}
			if got := r.pick(routeAny); got != tc.wantInUse {
				t.Errorf("node in use %s, want %s", got, tc.wantInUse)
			}
			if !slices.Equal(dead, want) {
				t.Errorf("dead %v, want %v", dead, want)
			}
		})
	}
}

func TestRouterDeadMarks(t *testing.T) {
	r, _ := newTestRouter(t, "h:1")
	if !r.isDead("h:1") {
		t.Fatal("a configured server must be dialled before its first request")
	}
	r.reached("h:1")
	if r.isDead("h:1") {
		t.Fatal("a node that was reached is still marked dead")
	}
	r.learn(threeNodes())
	if r.isDead("h:1") {
		t.Fatal("learning the members marked a reached node dead again")
	}
	r.markDead("h:1")
	if !r.isDead("h:1") {
		t.Fatal("a lost connection did not mark the node dead")
	}
	r.addServers([]string{"h:1", "h:4"})
	r.mu.Lock()
	servers := slices.Clone(r.servers)
	r.mu.Unlock()
	if !slices.Equal(servers, []string{"h:1", "h:2", "h:3", "h:4"}) || !r.isDead("h:4") {
		t.Fatalf("servers %v after adding h:4 (dead %v)", servers, r.isDead("h:4"))
	}
}

func TestRouterRefreshOrder(t *testing.T) {
	cases := []struct {
		name           string
		events         []event // on a router over h:1, h:2, h:3
		want           []string
		wantLiveLeader bool
	}{
		{
			name: "with no leader known, from the node in use on",
			want: []string{"h:1", "h:2", "h:3"},
		},
		{
			name:           "the leader first",
			events:         []event{learned(threeNodes())},
			want:           []string{"h:2", "h:1", "h:3"},
			wantLiveLeader: true,
		},
		{
			name:           "suspect nodes last",
			events:         []event{learned(threeNodes()), failed("h:1", errAttemptTimeout)},
			want:           []string{"h:2", "h:3", "h:1"},
			wantLiveLeader: true,
		},
		{
			name: "a suspect leader is not first",
			events: []event{
				failed("h:3", errUnreachable),
				failed("h:1", &NotLeaderError{LeaderID: "n3", LeaderAddr: "h:3"}),
			},
			want: []string{"h:1", "h:2", "h:3"},
		},
		{
			name: "a suspect mark that ran out counts no more",
			events: []event{
				failed("h:3", errUnreachable),
				failed("h:1", &NotLeaderError{LeaderID: "n3", LeaderAddr: "h:3"}),
				after(suspectFor),
			},
			want:           []string{"h:3", "h:1", "h:2"},
			wantLiveLeader: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, clk := newTestRouter(t, "h:1", "h:2", "h:3")
			for _, e := range tc.events {
				e.apply(r, clk)
			}
			if got := r.refreshOrder(); !slices.Equal(got, tc.want) {
				t.Errorf("order %v, want %v", got, tc.want)
			}
			if got := r.hasLiveLeader(); got != tc.wantLiveLeader {
				t.Errorf("live leader %v, want %v", got, tc.wantLiveLeader)
			}
		})
	}
}

func TestRouterAttemptContext(t *testing.T) {
	cases := []struct {
		name          string
		events        []event // on a router over h:1 and h:2, before the attempt
		rt            route
		server        string
		then          func(r *router)
		wantSignal    bool // a new leader is signalled to retries in a backoff
		wantAbandoned bool
	}{
		{
			name:          "a produce sent elsewhere for want of a leader is abandoned when one is learned",
			rt:            routeLeader,
			server:        "h:1",
			then:          func(r *router) { r.learn(threeNodes()) },
			wantSignal:    true,
			wantAbandoned: true,
		},
		{
			name:          "it is abandoned when a node names a new leader",
			rt:            routeLeader,
			server:        "h:1",
			then:          func(r *router) { r.failed("h:2", &NotLeaderError{LeaderID: "n3", LeaderAddr: "h:3"}) },
			wantSignal:    true,
			wantAbandoned: true,
		},
		{
			name:       "a read is never abandoned",
			rt:         routeRead,
			server:     "h:1",
			then:       func(r *router) { r.learn(threeNodes()) },
			wantSignal: true,
		},
		{
			name:   "a produce at the leader is not abandoned when the same leader is listed again",
			events: []event{learned(threeNodes())},
			rt:     routeLeader,
			server: "h:2",
			then:   func(r *router) { r.learn(threeNodes()) },
		},
		{
			name:   "a produce elsewhere is not abandoned for a leader that is suspect here",
			events: []event{failed("h:2", errEndpointLost)},
			rt:     routeLeader,
			server: "h:1",
			then:   func(r *router) { r.learn(threeNodes()) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, clk := newTestRouter(t, "h:1", "h:2")
			for _, e := range tc.events {
				e.apply(r, clk)
			}
			changed := r.leaderChanged()
			actx, stop := r.attemptContext(context.Background(), tc.rt, tc.server)
			defer stop()
			tc.then(r)
			// The signal changes at once; the attempt's context follows
			// it on a goroutine of its own.
			if got := changed.Err() != nil; got != tc.wantSignal {
				t.Fatalf("new leader signalled %v, want %v", got, tc.wantSignal)
			}
			if !tc.wantAbandoned {
				if actx.Err() != nil {
					t.Fatalf("attempt abandoned: %v", context.Cause(actx))
				}
				return
			}
			select {
			case <-actx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the attempt was not abandoned")
			}
			if !errors.Is(context.Cause(actx), errNewLeader) {
				t.Fatalf("cause %v, want errNewLeader", context.Cause(actx))
			}
		})
	}
}

func TestRouterStopReleasesBackoffs(t *testing.T) {
	r, _ := newTestRouter(t, "h:1")
	changed := r.leaderChanged()
	r.stop()
	if changed.Err() == nil {
		t.Fatal("a retry waiting in a backoff is not released by stop")
	}
}
