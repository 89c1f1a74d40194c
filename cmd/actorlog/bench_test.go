package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestHistBucketsAreContiguousAndTight(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 127, 255, 256, 257, 511, 512, 1 << 20, 1<<20 + 1, 1 << 40, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		i := histBucket(v)
		if i < prev {
			t.Fatalf("bucket of %d is %d, below the bucket %d of a smaller value", v, i, prev)
		}
		prev = i
		if hi := histBucketHigh(i); hi < v {
			t.Fatalf("value %d in bucket %d whose highest value is %d", v, i, hi)
		}
		if i > 0 && histBucketHigh(i-1) >= v {
			t.Fatalf("value %d fits bucket %d already (high %d)", v, i-1, histBucketHigh(i-1))
		}
	}
	for i := 1; i < histBucket(^uint64(0)); i++ {
		if histBucket(histBucketHigh(i-1)+1) != i {
			t.Fatalf("bucket %d does not start right after bucket %d", i, i-1)
		}
	}
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	var h latencyHistogram
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		// log-uniform from 10µs to 1s, the span of request latencies
		vals[i] = time.Duration(1e4 * float64(uint64(1)<<rng.IntN(17)) * (1 + rng.Float64()))
		h.record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := vals[int(q*float64(len(vals)))-1]
		got := h.quantile(q)
		if got < want || float64(got-want) > 0.01*float64(want) {
			t.Errorf("quantile %v: got %s, want %s within 1%%", q, got, want)
		}
	}
	if h.count() != uint64(len(vals)) || h.quantile(1) != vals[len(vals)-1] {
		t.Errorf("count %d, max %s; want %d, %s", h.count(), h.quantile(1), len(vals), vals[len(vals)-1])
	}
}

func TestHistogramEmptyAndSingle(t *testing.T) {
	var h latencyHistogram
	if h.quantile(0.99) != 0 || h.mean() != 0 {
		t.Fatal("an empty histogram reports non-zero")
	}
	h.record(1234567 * time.Nanosecond)
	for _, q := range []float64{0, 0.5, 0.999} {
		if got := h.quantile(q); got != 1234567*time.Nanosecond {
			t.Errorf("one value: quantile %v = %s", q, got)
		}
	}
}

func TestSplitRangeCoversEveryOffsetOnce(t *testing.T) {
	for _, tc := range []struct {
		from, n uint64
		parts   int
	}{{0, 10, 3}, {5, 2, 8}, {100, 1, 1}, {7, 1000, 4}} {
		parts := splitRange(tc.from, tc.n, tc.parts)
		at := tc.from
		for _, p := range parts {
			if p[0] != at || p[1] <= p[0] {
				t.Fatalf("%+v: parts %v are not contiguous and non-empty", tc, parts)
			}
			at = p[1]
		}
		if at != tc.from+tc.n {
			t.Fatalf("%+v: parts %v end at %d", tc, parts, at)
		}
	}
}

func TestClientCommandsTakeConsulAddr(t *testing.T) {
	for _, args := range [][]string{{"bench", "produce"}, {"bench", "consume"}, {"produce"}, {"consume"}, {"servers"}} {
		root := newRootCommand()
		root.SetArgs(append(args, "--consul-addr", "not-a-host-port", "--help"))
		root.SetOut(&bytes.Buffer{})
		if err := root.Execute(); err != nil {
			t.Errorf("%v --consul-addr: %v", args, err)
		}
	}
}

func TestBenchValidatesFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "produce", "--records", "0"},
		{"bench", "produce", "--batch", "0"},
		{"bench", "consume", "--inflight", "0"},
		{"bench", "--in-flight", "0"},
		{"bench", "--size", "-1"},
	} {
		root := newRootCommand()
		root.SetArgs(args)
		var ue *usageError
		if err := root.Execute(); !errors.As(err, &ue) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}

func TestBenchResultFormats(t *testing.T) {
	o := &benchOptions{batch: 50, inFlight: 8}
	o.servers = []string{" 127.0.0.1:7400 ", ""}
	var h latencyHistogram
	for i := range 100 {
		h.record(time.Duration(i+1) * time.Millisecond)
	}
	r := o.result("produce", 2*time.Second, 2000, 2000*100, &h)
	r.RecordBytes = 100
	// The CLI specs match this headline.
	if !regexp.MustCompile(`^produce: 2000 records of 100 B in 2s: 1000 records/s, 0.1 MB/s \(100 requests, 50 per request, 8 in flight\)\n`).MatchString(r.text()) {
		t.Errorf("headline: %q", r.text())
	}
	if !regexp.MustCompile(`request latency: p50 50\.\d+ms  p90 90\.\d+ms  p99 99\.\d+ms  p99.9 100ms  max 100ms\n$`).MatchString(r.text()) {
		t.Errorf("latency line: %q", r.text())
	}
	var buf bytes.Buffer
	o.json = true
	if err := o.print(&buf, r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, buf.String())
	}
	lat, _ := got["latency_us"].(map[string]any)
	p99, _ := lat["p99"].(float64)
	if got["records_per_s"] != 1000.0 || p99 < 99000 || p99 > 99990 || got["servers"].([]any)[0] != "127.0.0.1:7400" {
		t.Errorf("unexpected JSON: %s", buf.String())
	}
}
