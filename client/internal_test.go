package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
)

func TestSplitRespectsBytesAndRecords(t *testing.T) {
	values := make([][]byte, 10)
	for i := range values {
		values[i] = make([]byte, 100)
	}
	per := recordWireBytes(values[0])
	cases := []struct {
		name       string
		maxBytes   int
		maxRecords int
		want       []int
	}{
		{"all fit", 1 << 20, 1000, []int{10}},
		{"record cap", 1 << 20, 3, []int{3, 3, 3, 1}},
		{"byte cap", requestOverheadBytes + 4*per, 1000, []int{4, 4, 2}},
		{"value larger than the cap goes alone", 10, 1000, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := split(values, tc.maxBytes, tc.maxRecords)
			var sizes []int
			total := 0
			for _, b := range got {
				sizes = append(sizes, len(b))
				total += len(b)
			}
			if total != len(values) || len(sizes) != len(tc.want) {
				t.Fatalf("split sizes %v, want %v", sizes, tc.want)
			}
			for i := range sizes {
				if sizes[i] != tc.want[i] {
					t.Fatalf("split sizes %v, want %v", sizes, tc.want)
				}
			}
		})
	}
}

func TestReplyErrorMapsEveryTypedReply(t *testing.T) {
	var oor *OffsetOutOfRangeError
	if err := replyError(&messages.OffsetOutOfRange{Offset: 5, LowOffset: 1, NextOffset: 4}); !errors.As(err, &oor) || oor.Next != 4 || oor.Low != 1 || oor.Offset != 5 {
		t.Fatalf("OffsetOutOfRange: %v", err)
	}
	var inv *InvalidRequestError
	if err := replyError(&messages.InvalidRequest{Reason: "r", Field: "f"}); !errors.As(err, &inv) || inv.Field != "f" || retryable(err) {
		t.Fatalf("InvalidRequest: %v", err)
	}
	var nl *NotLeaderError
	if err := replyError(&messages.NotLeader{LeaderId: "n2", LeaderActorAddress: "h:1"}); !errors.As(err, &nl) || nl.LeaderAddr != "h:1" || !retryable(err) {
		t.Fatalf("NotLeader: %v", err)
	}
	if err := replyError(&messages.Unavailable{Reason: "busy"}); !errors.Is(err, ErrUnavailable) || !retryable(err) {
		t.Fatalf("Unavailable: %v", err)
	}
	if err := replyError(&messages.Unauthorized{Identity: "x", Action: "produce"}); !errors.Is(err, ErrUnauthorized) || retryable(err) {
		t.Fatalf("Unauthorized: %v", err)
	}
	if err := replyError(&actor.DeadLetterResponse{}); !errors.Is(err, errSessionLost) || !retryable(err) {
		t.Fatalf("DeadLetterResponse: %v", err)
	}
	if err := replyError(&messages.ProduceResponse{}); err != nil {
		t.Fatalf("a normal reply is not an error: %v", err)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	cases := map[string]func(*Config){
		"Servers":         func(c *Config) { c.Servers = nil },
		"Servers[1]":      func(c *Config) { c.Servers = []string{"127.0.0.1:1", "nohostport"} },
		"ListenAddr":      func(c *Config) { c.ListenAddr = "x" },
		"MaxInFlight":     func(c *Config) { c.MaxInFlight = -1 },
		"MaxBackoff":      func(c *Config) { c.MinBackoff, c.MaxBackoff = 2, 1 },
		"MaxMessageBytes": func(c *Config) { c.MaxMessageBytes = 10 },
	}
	for field, mutate := range cases {
		c := DefaultConfig()
		mutate(&c)
		var inv *InvalidRequestError
		if err := c.Validate(); !errors.As(err, &inv) || inv.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig is invalid: %v", err)
	}
}

// routingClient is a Client with no transport, for the routing decisions
// alone. It is closed, so failures start no background refresh.
func routingClient(servers ...string) *Client {
	cfg := Config{Servers: servers}
	cfg.setDefaults()
	c := &Client{
		cfg:      cfg,
		servers:  append([]string(nil), servers...),
		sessions: make(map[string]*sessionSlot),
		dead:     make(map[string]bool),
		suspect:  make(map[string]time.Time),
	}
	c.newLeader, c.cancelNewLeader = context.WithCancel(context.Background())
	c.closeCtx, c.closeFn = context.WithCancel(context.Background())
	c.closeFn()
	return c
}

func threeNodes() []Server {
	return []Server{
		{ID: "n1", ActorAddr: "h:1"},
		{ID: "n2", ActorAddr: "h:2", IsLeader: true},
		{ID: "n3", ActorAddr: "h:3"},
	}
}

func TestRoutingSendsProduceToTheLeaderAndSpreadsReads(t *testing.T) {
	c := routingClient("h:1")
	c.learn(threeNodes())
	if got := c.pick(routeLeader); got != "h:2" {
		t.Fatalf("produce goes to %s, want the leader h:2", got)
	}
	seen := map[string]int{}
	for range 10 {
		seen[c.pick(routeRead)]++
	}
	if seen["h:1"] != 5 || seen["h:3"] != 5 {
		t.Fatalf("reads went to %v, want h:1 and h:3 in turn", seen)
	}
	if got := c.pick(routeAny); got != "h:1" {
		t.Fatalf("the node in use is %s, want h:1", got)
	}
	if !slices.Equal(c.servers, []string{"h:1", "h:2", "h:3"}) {
		t.Fatalf("servers %v: members are learned, the configured one first", c.servers)
	}
}

func TestRoutingReadsFromTheLeaderWhenItIsAlone(t *testing.T) {
	c := routingClient("h:1")
	c.learn([]Server{{ID: "n1", ActorAddr: "h:1", IsLeader: true}})
	for range 3 {
		if got := c.pick(routeRead); got != "h:1" {
			t.Fatalf("read goes to %s, want h:1", got)
		}
	}
}

func TestRoutingFollowsNotLeaderAndSkipsALostLeader(t *testing.T) {
	c := routingClient("h:1")
	c.learn(threeNodes())

	if !c.failedOver("h:2", nil, &NotLeaderError{LeaderID: "n3", LeaderAddr: "h:3"}) {
		t.Fatal("a newly named leader must be tried at once")
	}
	if got := c.pick(routeLeader); got != "h:3" {
		t.Fatalf("produce goes to %s after NotLeader, want h:3", got)
	}
	if c.failedOver("h:1", nil, &NotLeaderError{LeaderID: "n3", LeaderAddr: "h:3"}) {
		t.Fatal("the same leader named again is retried with backoff")
	}

	// The leader dies: it is forgotten and skipped, and produce goes to a
	// live node, which forwards.
	c.failedOver("h:3", nil, errEndpointLost)
	if c.leader != "" {
		t.Fatalf("leader %q kept after its connection was lost", c.leader)
	}
	for range 5 {
		if got := c.pick(routeLeader); got == "h:3" {
			t.Fatal("a suspect node was picked while others are live")
		}
		if got := c.pick(routeRead); got == "h:3" {
			t.Fatal("a suspect node was picked for a read while others are live")
		}
	}

	// A node that has no leader either sends the next attempt elsewhere.
	inUse := c.pick(routeAny)
	c.failedOver(inUse, nil, &NotLeaderError{})
	if got := c.pick(routeAny); got == inUse {
		t.Fatalf("still on %s after it knew no leader", got)
	}
}

func TestRoutingTriesASuspectNodeWhenNoOtherIsLeft(t *testing.T) {
	c := routingClient("h:1")
	c.failedOver("h:1", nil, errUnreachable)
	if got := c.pick(routeLeader); got != "h:1" {
		t.Fatalf("pick %q, want the only node", got)
	}
}

func TestRoutingKeepsTheConfiguredServers(t *testing.T) {
	c := routingClient("seed:1", "h:1")
	c.learn(threeNodes())
	c.learn([]Server{{ID: "n9", ActorAddr: "h:9", IsLeader: true}})
	if !slices.Equal(c.servers, []string{"seed:1", "h:1", "h:9"}) {
		t.Fatalf("servers %v: configured ones stay, departed members go", c.servers)
	}
	if got := c.pick(routeLeader); got != "h:9" {
		t.Fatalf("produce goes to %s, want h:9", got)
	}
	c.learn(nil)
	if c.leader != "h:9" {
		t.Fatal("an empty list must not wipe what is known")
	}
}

func TestRoutingAbandonsAnAttemptElsewhereWhenALeaderIsLearned(t *testing.T) {
	c := routingClient("h:1", "h:2")
	ctx, stop := c.attemptContext(context.Background(), routeLeader, c.pick(routeLeader))
	defer stop()
	toLeader, stopLeader := c.attemptContext(context.Background(), routeRead, "h:1")
	defer stopLeader()

	c.learn(threeNodes())
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the attempt sent for want of a leader was not abandoned")
	}
	if !errors.Is(context.Cause(ctx), errNewLeader) {
		t.Fatalf("cause %v, want errNewLeader", context.Cause(ctx))
	}
	if toLeader.Err() != nil {
		t.Fatal("a read must not be abandoned")
	}
	ctx2, stop2 := c.attemptContext(context.Background(), routeLeader, c.pick(routeLeader))
	defer stop2()
	c.learn(threeNodes()) // the same leader again
	if ctx2.Err() != nil {
		t.Fatal("an attempt at the leader was abandoned when the same leader was listed again")
	}
}
