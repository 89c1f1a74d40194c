package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// apiServer answers GET of StatefulSet "log-actorlog" in namespace
// "streams" with status and body, over TLS, and counts the requests that
// carried the token.
func apiServer(t *testing.T, status int, body string, authorised *atomic.Int32) *scaleDownCheck {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/apps/v1/namespaces/streams/statefulsets/log-actorlog" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") == "Bearer sa-token" {
			authorised.Add(1)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	return &scaleDownCheck{apiURL: srv.URL, token: "sa-token", ca: pool, namespace: "streams", statefulSet: "log-actorlog"}
}

func TestScaleDownCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pod    string
		status int
		body   string
		leave  bool
		fails  bool
	}{
		{"the highest ordinal after 3 -> 2", "log-actorlog-2", 200, `{"spec":{"replicas":2}}`, true, false},
		{"two pods after 5 -> 3", "log-actorlog-4", 200, `{"spec":{"replicas":3}}`, true, false},
		{"a rolling restart", "log-actorlog-2", 200, `{"spec":{"replicas":3}}`, false, false},
		{"a lower ordinal during a scale-down", "log-actorlog-1", 200, `{"spec":{"replicas":2}}`, false, false},
		{"scaled to zero", "log-actorlog-0", 200, `{"spec":{"replicas":0}}`, false, false},
		{"release deleted", "log-actorlog-2", 404, `{"kind":"Status"}`, false, false},
		{"StatefulSet being deleted", "log-actorlog-2", 200, `{"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"replicas":1}}`, false, false},
		{"no RBAC grant", "log-actorlog-2", 403, `{"kind":"Status","reason":"Forbidden"}`, false, true},
		{"a pod of another StatefulSet", "other-2", 200, `{"spec":{"replicas":1}}`, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var auth atomic.Int32
			c := apiServer(t, tc.status, tc.body, &auth)
			c.pod = tc.pod
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			leave, why, err := c.scaledDown(ctx)
			if tc.fails {
				if !errors.Is(err, errScaleCheck) {
					t.Fatalf("err %v, want errScaleCheck", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if leave != tc.leave || why == "" {
				t.Fatalf("leave %v (%q), want %v", leave, why, tc.leave)
			}
			if auth.Load() != 1 {
				t.Fatalf("%d requests carried the service account token, want 1", auth.Load())
			}
		})
	}
}

// A pod that stays never reaches the node: nothing listens at --http-addr
// here, and the command still succeeds.
func TestLeaveIfScaledDownStaysWithoutAskingTheNode(t *testing.T) {
	var auth atomic.Int32
	check := apiServer(t, 200, `{"spec":{"replicas":3}}`, &auth)
	o := &leaveOptions{addr: "127.0.0.1:1", timeout: 5 * time.Second, ifScaledDown: "log-actorlog", pod: "log-actorlog-1",
		scaleCheck: func(sts, pod string) (*scaleDownCheck, error) {
			check.pod = pod
			return check, nil
		}}
	var out bytes.Buffer
	if err := o.run(context.Background(), &out); err != nil {
		t.Fatalf("a pod below the replicas must not leave and not fail: %v", err)
	}
	if auth.Load() != 1 {
		t.Fatalf("the API server was asked %d times, want 1", auth.Load())
	}
	// Scaled away: now it must ask the node, which does not answer.
	check2 := apiServer(t, 200, `{"spec":{"replicas":1}}`, &auth)
	o.scaleCheck = func(sts, pod string) (*scaleDownCheck, error) {
		check2.pod = pod
		return check2, nil
	}
	err := o.run(context.Background(), &out)
	if err == nil || !strings.Contains(err.Error(), "/v1/leave") {
		t.Fatalf("a pod scaled away must ask its node to leave: %v", err)
	}
}
