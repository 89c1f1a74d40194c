package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func healthServer(t *testing.T, tlsOn bool, status int, body string) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(r.URL.Path + " " + body + "\n"))
	})
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestHealthExitsByStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tls    bool
		ready  bool
		status int
		want   error
	}{
		{"healthy", false, false, http.StatusOK, nil},
		{"unhealthy", false, false, http.StatusServiceUnavailable, errUnhealthy},
		{"healthy over TLS", true, false, http.StatusOK, nil},
		{"unhealthy over TLS", true, false, http.StatusServiceUnavailable, errUnhealthy},
		{"ready", false, true, http.StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := healthServer(t, tc.tls, tc.status, "body")
			var out bytes.Buffer
			o := &healthOptions{addr: addr, ready: tc.ready, timeout: 5 * time.Second}
			err := o.run(context.Background(), &out)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			path := "/healthz"
			if tc.ready {
				path = "/readyz"
			}
			if !strings.Contains(out.String(), path+" body") {
				t.Fatalf("printed %q, want the node's answer from %s", out.String(), path)
			}
		})
	}
}

func TestHealthFailsWhenNothingAnswers(t *testing.T) {
	// Port 1 on loopback: nothing listens there, the dial is refused.
	o := &healthOptions{addr: "127.0.0.1:1", timeout: 2 * time.Second}
	if err := o.run(context.Background(), &bytes.Buffer{}); err == nil || errors.Is(err, errUnhealthy) {
		t.Fatalf("want a connection error, got %v", err)
	}
	o.addr = "no-port"
	var ue *usageError
	if err := o.run(context.Background(), &bytes.Buffer{}); !errors.As(err, &ue) {
		t.Fatalf("want a usage error for a bad address, got %v", err)
	}
}

func TestVersionNamesVersionAndCommit(t *testing.T) {
	oldV, oldC := version, commit
	t.Cleanup(func() { version, commit = oldV, oldC })
	version, commit = "v9.8.7", "0123abc"
	got := versionString()
	if !strings.HasPrefix(got, "actorlog v9.8.7 (commit 0123abc, go") {
		t.Fatalf("versionString() = %q", got)
	}
	var out bytes.Buffer
	root := newRootCommand()
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != got {
		t.Fatalf("--version printed %q, want %q", out.String(), got)
	}
}
