package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"actorlog/client"
)

// diskMetric is the counter each node keeps of the bytes it writes to
// disk, labelled by log.
const diskMetric = "actorlog_disk_write_bytes_total"

// diskScrapeTimeout bounds one node's /metrics scrape.
const diskScrapeTimeout = 5 * time.Second

// nodeDiskWrites is what one node wrote to disk during a produce run.
type nodeDiskWrites struct {
	ID    string `json:"id"`
	Bytes uint64 `json:"bytes"`
	// PerRecord is Bytes divided by the records the run had acknowledged:
	// the write amplification, in bytes written per record.
	PerRecord float64 `json:"bytes_per_record"`
	// ByLog splits Bytes by what was written (records, raft, snapshots,
	// state), as bytes per record.
	ByLog map[string]float64 `json:"by_log"`
}

// diskSample is every node's counters at one moment, by node id.
type diskSample map[string]map[string]uint64

// sampleDisk scrapes the disk-write counters of every node the client
// knows. A node that cannot be scraped is left out; an error is returned
// only when none could be.
func sampleDisk(ctx context.Context, c *client.Client, tlsCfg *tls.Config) (diskSample, error) {
	sctx, cancel := context.WithTimeout(ctx, diskScrapeTimeout)
	defer cancel()
	servers, err := c.Servers(sctx)
	if err != nil {
		return nil, fmt.Errorf("list the servers: %w", err)
	}
	hc := &http.Client{Timeout: diskScrapeTimeout}
	scheme := "http"
	if tlsCfg != nil {
		hc.Transport = &http.Transport{TLSClientConfig: tlsCfg}
		scheme = "https"
	}
	var (
		mu      sync.Mutex
		out     = diskSample{}
		lastErr error
		wg      sync.WaitGroup
	)
	for _, s := range servers {
		if s.HTTPAddr == "" {
			continue
		}
		wg.Go(func() {
			v, err := scrapeDisk(sctx, hc, scheme+"://"+s.HTTPAddr+"/metrics")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				lastErr = fmt.Errorf("node %s: %w", s.ID, err)
				return
			}
			out[s.ID] = v
		})
	}
	wg.Wait()
	if len(out) == 0 {
		if lastErr == nil {
			lastErr = fmt.Errorf("no node announced an HTTP address")
		}
		return nil, lastErr
	}
	return out, nil
}

// scrapeDisk reads the disk-write series of one node's /metrics.
func scrapeDisk(ctx context.Context, hc *http.Client, url string) (map[string]uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, diskMetric+`{log="`)
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad value in %q", url, line)
		}
		out[name] = uint64(f)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no %s (a node older than this client?)", url, diskMetric)
	}
	return out, nil
}

// diskWrites turns two samples into bytes per acknowledged record, node
// by node, sorted by id. Nodes missing from either sample are left out.
func diskWrites(before, after diskSample, records int64) []nodeDiskWrites {
	var out []nodeDiskWrites
	for id, a := range after {
		b, ok := before[id]
		if !ok || records <= 0 {
			continue
		}
		n := nodeDiskWrites{ID: id, ByLog: map[string]float64{}}
		for log, v := range a {
			d := v - min(v, b[log])
			n.Bytes += d
			n.ByLog[log] = float64(d) / float64(records)
		}
		n.PerRecord = float64(n.Bytes) / float64(records)
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// diskText is the report's line about disk writes.
func diskText(nodes []nodeDiskWrites, recordBytes int, note string) string {
	if note != "" {
		return "  disk writes: not measured (" + note + ")\n"
	}
	var b strings.Builder
	b.WriteString("  disk writes per acknowledged record:")
	logs := []string{"records", "raft", "snapshots", "state"}
	for i, n := range nodes {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s %.0f B", n.ID, n.PerRecord)
		if recordBytes > 0 {
			fmt.Fprintf(&b, " (%.2f× the value", n.PerRecord/float64(recordBytes))
			for _, l := range logs {
				if v := n.ByLog[l]; v >= 0.5 {
					fmt.Fprintf(&b, ", %s %.0f", l, v)
				}
			}
			b.WriteString(")")
		}
	}
	b.WriteString("\n")
	return b.String()
}

// settleWait and settleMax: after the last acknowledgement, followers may
// still be appending what they committed. settledDisk samples until two
// samples settleWait apart agree, for at most settleMax.
const (
	settleWait = 250 * time.Millisecond
	settleMax  = 5 * time.Second
)

func settledDisk(ctx context.Context, c *client.Client, tlsCfg *tls.Config) (diskSample, error) {
	prev, err := sampleDisk(ctx, c, tlsCfg)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(settleMax)
	t := time.NewTicker(settleWait)
	defer t.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return prev, nil
		case <-t.C:
		}
		cur, err := sampleDisk(ctx, c, tlsCfg)
		if err != nil {
			return nil, err
		}
		if sameSample(prev, cur) {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

func sameSample(a, b diskSample) bool {
	return maps.EqualFunc(a, b, maps.Equal)
}
