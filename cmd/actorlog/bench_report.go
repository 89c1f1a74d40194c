package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchResult is the outcome of one bench phase. Its JSON form is what
// --json prints; scripts depend on the field names.
type benchResult struct {
	Mode string `json:"mode"` // "produce" or "consume"
	// Servers are the nodes named on the command line.
	Servers []string `json:"servers"`
	Records int64    `json:"records"`
	// RecordBytes is --size for produce; consume counts what it read.
	RecordBytes int     `json:"record_bytes,omitempty"`
	Bytes       int64   `json:"bytes"`
	Batch       int     `json:"batch"`
	InFlight    int     `json:"inflight"`
	Requests    uint64  `json:"requests"`
	FirstOffset uint64  `json:"first_offset"`
	Elapsed     float64 `json:"elapsed_s"`
	RecordsPerS float64 `json:"records_per_s"`
	MBPerS      float64 `json:"mb_per_s"` // 10^6 bytes of values per second
	// Latency is per request, in microseconds.
	Latency latencySummary `json:"latency_us"`
	// DiskWrites (produce only) is what every node wrote to disk per
	// acknowledged record during the run: the write amplification.
	DiskWrites []nodeDiskWrites `json:"disk_writes,omitempty"`
	// diskNote says why DiskWrites is missing from a produce run.
	diskNote string
}

// latencySummary holds request latencies in microseconds.
type latencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func (o *benchOptions) result(mode string, elapsed time.Duration, records, bytes int64, h *latencyHistogram) *benchResult {
	secs := max(elapsed.Seconds(), 1e-9)
	return &benchResult{
		Mode:        mode,
		Servers:     trimServers(o.servers),
		Records:     records,
		Bytes:       bytes,
		Batch:       o.batch,
		InFlight:    o.inFlight,
		Requests:    h.count(),
		Elapsed:     elapsed.Seconds(),
		RecordsPerS: float64(records) / secs,
		MBPerS:      float64(bytes) / secs / 1e6,
		Latency: latencySummary{
			P50:  micros(h.quantile(0.50)),
			P90:  micros(h.quantile(0.90)),
			P99:  micros(h.quantile(0.99)),
			P999: micros(h.quantile(0.999)),
			Max:  micros(h.max),
			Mean: micros(h.mean()),
		},
	}
}

// print writes r as text, or as JSON with --json.
func (o *benchOptions) print(out io.Writer, r *benchResult) error {
	if o.json {
		return writeJSON(out, r)
	}
	_, err := io.WriteString(out, r.text())
	return err
}

// text is the human form of r: a headline (which the CLI specs match), then
// the latency of one request.
func (r *benchResult) text() string {
	var b strings.Builder
	elapsed := time.Duration(r.Elapsed * float64(time.Second)).Round(time.Millisecond)
	switch r.Mode {
	case "produce":
		fmt.Fprintf(&b, "produce: %d records of %d B in %s: %.0f records/s, %.1f MB/s (%d requests, %d per request, %d in flight)\n",
			r.Records, r.RecordBytes, elapsed, r.RecordsPerS, r.MBPerS, r.Requests, r.Batch, r.InFlight)
	default:
		fmt.Fprintf(&b, "consume: %d records in %s: %.0f records/s, %.1f MB/s (%d requests, up to %d per request, %d in flight, from offset %d)\n",
			r.Records, elapsed, r.RecordsPerS, r.MBPerS, r.Requests, r.Batch, r.InFlight, r.FirstOffset)
	}
	us := func(v float64) time.Duration {
		d := time.Duration(v * 1e3)
		switch {
		case d >= 10*time.Millisecond:
			return d.Round(100 * time.Microsecond)
		case d >= time.Millisecond:
			return d.Round(10 * time.Microsecond)
		}
		return d.Round(time.Microsecond)
	}
	l := r.Latency
	fmt.Fprintf(&b, "  request latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max))
	if r.Mode == "produce" && (len(r.DiskWrites) > 0 || r.diskNote != "") {
		b.WriteString(diskText(r.DiskWrites, r.RecordBytes, r.diskNote))
	}
	return b.String()
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func trimServers(servers []string) []string {
	var out []string
	for _, s := range servers {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// startProgress prints done/total once a second to w while a phase runs,
// when w is a terminal or --progress asks for it. The returned stop ends
// the printing, clears a terminal's progress line and waits for the
// goroutine; it must be called once.
func (o *benchOptions) startProgress(ctx context.Context, w io.Writer, label string, total int64, done *atomic.Int64) (stop func()) {
	tty := isTerminal(w)
	if !tty && !o.progress {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		start, last, lastAt := time.Now(), int64(0), time.Now()
		for {
			select {
			case <-quit:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				n := done.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				line := fmt.Sprintf("%s: %d/%d records (%.0f%%) after %s, %.0f records/s in the last second",
					label, n, total, 100*float64(n)/float64(total), now.Sub(start).Round(time.Second), rate)
				if tty {
					fmt.Fprintf(w, "\r\033[K%s", line)
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}
