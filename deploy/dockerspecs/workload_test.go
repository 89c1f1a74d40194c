package dockerspecs

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
)

// producer appends unique records from this host with the real CLI, chunk
// after chunk, and remembers the offset of every record the cluster
// acknowledged. A failed chunk is not retried: its unacknowledged lines may
// or may not be in the log, but never twice.
type producer struct {
	s    *stack
	tag  string
	stop context.CancelFunc
	done chan struct{}

	mu    sync.Mutex
	acked map[string]uint64
	fails int
}

// produce runs `actorlog produce` once with lines; it returns the offsets
// printed (those acknowledged, in input order) and the command's error.
func produce(s *stack, lines []string, timeout time.Duration) ([]uint64, error) {
	return produceWith(s, lines, timeout, s.clientFlags()...)
}

// produceWith is produce with the given flags instead of the actor
// remote's (TLS, the gRPC transport).
func produceWith(s *stack, lines []string, timeout time.Duration, flags ...string) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	args := append([]string{"produce", "--batch", "10", "--quiet", "--timeout", timeout.String()}, flags...)
	cmd := exec.CommandContext(ctx, actorlogBin, args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err := cmd.Run()
	var offsets []uint64
	for _, l := range strings.Fields(out.String()) {
		o, perr := strconv.ParseUint(l, 10, 64)
		if perr != nil {
			return offsets, fmt.Errorf("produce printed %q: %v", l, perr)
		}
		offsets = append(offsets, o)
	}
	if err != nil {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
	}
	return offsets, err
}

func startProducer(s *stack, tag string) *producer {
	ctx, cancel := context.WithCancel(context.Background())
	p := &producer{s: s, tag: tag, stop: cancel, done: make(chan struct{}), acked: map[string]uint64{}}
	go func() {
		defer GinkgoRecover()
		defer close(p.done)
		// A steady rate, not a wait: one chunk of 20 records per tick.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for chunk := 0; ; chunk++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			lines := make([]string, 20)
			for i := range lines {
				lines[i] = fmt.Sprintf("%s-%d-%d", tag, chunk, i)
			}
			offsets, err := produce(s, lines, 10*time.Second)
			p.mu.Lock()
			for i, o := range offsets {
				p.acked[lines[i]] = o
			}
			if err != nil {
				p.fails++
				fmt.Fprintf(GinkgoWriter, "producer %s: chunk %d: %d acknowledged, then %v\n", tag, chunk, len(offsets), err)
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// count is the number of acknowledged records so far.
func (p *producer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// finish stops the producer and returns what was acknowledged.
func (p *producer) finish() map[string]uint64 {
	p.stop()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(GinkgoWriter, "producer %s: %d records acknowledged, %d chunks failed\n", p.tag, len(p.acked), p.fails)
	return p.acked
}

// checkLogs returns nil when every node holds the same log, no value twice,
// and every acknowledged record exactly once at its acknowledged offset.
func checkLogs(s *stack, acked map[string]uint64) error {
	var first []record
	for i, n := range nodeNames {
		recs, err := s.records(n)
		if err != nil {
			return err
		}
		if i == 0 {
			first = recs
			continue
		}
		if len(recs) != len(first) {
			return fmt.Errorf("%s holds %d records, %s %d", n, len(recs), nodeNames[0], len(first))
		}
		for j := range recs {
			if recs[j].Offset != first[j].Offset || !bytes.Equal(recs[j].Value, first[j].Value) {
				return fmt.Errorf("%s and %s differ at offset %d: %q and %q", n, nodeNames[0], first[j].Offset, recs[j].Value, first[j].Value)
			}
		}
	}
	seen := make(map[string]uint64, len(first))
	for j, r := range first {
		if r.Offset != uint64(j) {
			return fmt.Errorf("offset %d at position %d: offsets are not dense", r.Offset, j)
		}
		if prev, dup := seen[string(r.Value)]; dup {
			return fmt.Errorf("record %q is stored twice, at %d and %d", r.Value, prev, r.Offset)
		}
		seen[string(r.Value)] = r.Offset
	}
	for v, o := range acked {
		at, ok := seen[v]
		if !ok {
			return fmt.Errorf("acknowledged record %q (offset %d) is lost", v, o)
		}
		if at != o {
			return fmt.Errorf("acknowledged record %q is at offset %d, acknowledged at %d", v, at, o)
		}
	}
	return nil
}
