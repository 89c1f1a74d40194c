package client

import (
	"context"
	"errors"
	"testing"

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

// closedClient is a Client with a router and sessions but no transport. It
// is closed, so failures start no background refresh.
func closedClient(servers ...string) *Client {
	cfg := Config{Servers: servers}
	cfg.setDefaults()
	c := &Client{
		cfg:      cfg,
		route:    newRouter(servers),
		sessions: make(map[string]*sessionSlot),
	}
	c.closeCtx, c.closeFn = context.WithCancel(context.Background())
	c.closeFn()
	return c
}

// The router's decisions are tested in routing_test.go; this checks that
// the client acts on them.
func TestFailedOverActsOnTheRoutersDecision(t *testing.T) {
	cases := []struct {
		name           string
		err            error
		wantDropped    bool
		wantRedirected bool
	}{
		{"a session the node forgot is dropped", errSessionLost, true, false},
		{"a lost connection drops the session", errEndpointLost, true, false},
		{"a node that cannot serve now keeps the session", errNodeUnavailable, false, false},
		{"a newly named leader is tried at once", &NotLeaderError{LeaderID: "n2", LeaderAddr: "h:2"}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := closedClient("h:1")
			s := &session{server: "h:1"}
			slot := newSessionSlot()
			slot.sess = s
			c.sessions["h:1"] = slot
			if got := c.failedOver("h:1", s, tc.err); got != tc.wantRedirected {
				t.Errorf("redirected %v, want %v", got, tc.wantRedirected)
			}
			if dropped := slot.sess == nil; dropped != tc.wantDropped {
				t.Errorf("session dropped %v, want %v", dropped, tc.wantDropped)
			}
		})
	}
}
