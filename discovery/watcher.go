package discovery

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/internal/backoff"

	"github.com/hashicorp/consul/api"
	"github.com/sirupsen/logrus"
)

// Watcher follows the instances of a service with Consul blocking queries
// and delivers a snapshot each time the set (or any member's addresses or
// status) changes. One goroutine, started by NewWatcher and stopped by
// Close, runs the queries.
//
// It follows Consul's rules for blocking queries: an index that goes
// backwards starts the watch over from index 0, an index of 0 is treated as
// 1 so the next query still blocks, queries are rate-limited
// (MinQueryInterval), and a failed query is retried with backoff.
//
// It also starts over from index 0 whenever the agent may have restarted:
// after a failed query, and when a query would go out on a new connection
// (see query). A restarted dev agent, or a rebuilt cluster, counts again
// from the bottom, so a query parked on the old index would otherwise
// block for the whole WaitTime.
type Watcher struct {
	cfg       WatchConfig
	client    *api.Client
	transport *http.Transport
	log       *logrus.Entry

	updates chan []Member
	cancel  context.CancelFunc
	done    chan struct{} // closed when the run loop has exited

	closeOnce sync.Once
}

// NewWatcher validates cfg and starts watching. The first snapshot is
// delivered as soon as Consul first answers, even when it is empty, so a
// consumer always learns the initial state.
func NewWatcher(cfg WatchConfig) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client, transport, err := newClient(cfg.ConsulAddr, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{
		cfg:       cfg,
		client:    client,
		transport: transport,
		log:       cfg.Logger.WithFields(logrus.Fields{"service": cfg.Service, "consul": cfg.ConsulAddr}),
		updates:   make(chan []Member, 1),
		cancel:    cancel,
		done:      make(chan struct{}),
	}
	go w.run(ctx)
	return w, nil
}

// Updates delivers member snapshots, sorted by ID, only when they differ
// from the previous one. The channel holds one snapshot: when the consumer
// is slow, a newer snapshot replaces the one not yet taken, so the watcher
// never blocks and the consumer always ends up with the latest state
// (intermediate states may be skipped). While the agent is unavailable
// nothing is delivered: the last snapshot stands until Consul answers
// again. The channel is closed by Close.
func (w *Watcher) Updates() <-chan []Member { return w.updates }

// Close stops the watch and waits for its goroutine to exit. It is
// idempotent.
func (w *Watcher) Close() {
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
		w.transport.CloseIdleConnections()
	})
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	defer close(w.updates)
	var (
		index       uint64
		last        []Member
		delivered   bool
		failing     bool
		attempts    int
		outageStart time.Time
		lastStart   time.Time
		reread      bool // the last query was a re-read after a new connection
	)
	bo := backoff.New(backoff.Policy{Min: w.cfg.MinBackoff, Max: w.cfg.MaxBackoff, Jitter: true})
	for {
		if !backoff.Sleep(ctx, time.Until(lastStart.Add(w.cfg.MinQueryInterval))) {
			return
		}
		lastStart = time.Now()
		// After a re-read, the next query goes out blocking even on a new
		// connection: an agent that closes every connection would
		// otherwise turn the watch into polling.
		members, meta, waited, err := w.query(ctx, index, !reread)
		reread = index > 0 && waited == 0 && err == nil
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			index = 0
			attempts++
			if !failing {
				failing, attempts, outageStart = true, 1, time.Now()
				w.log.WithError(err).Warn("watching Consul failed; retrying with backoff")
			} else {
				w.log.WithError(err).WithField("attempt", attempts).Debug("watch query failed")
			}
			if !backoff.Sleep(ctx, bo.Next()) {
				return
			}
			continue
		}
		if failing {
			failing = false
			w.log.WithFields(logrus.Fields{
				"outage":   time.Since(outageStart).Round(time.Millisecond).String(),
				"attempts": attempts + 1,
			}).Info("watching Consul again")
		}
		bo.Reset()
		next := nextIndex(waited, meta.LastIndex)
		if next < waited {
			w.log.WithFields(logrus.Fields{"index": waited, "got": meta.LastIndex}).Debug("Consul index went backwards; starting the watch over")
		}
		index = next
		if delivered && slices.Equal(members, last) {
			continue
		}
		last, delivered = members, true
		w.deliver(members)
	}
}

// query runs one query, blocking on index when it is not 0, and returns
// the index it really waited on (0 after a re-read).
//
// It trusts index only on the connection that produced it. A blocking query
// for an index the agent has not reached waits for the whole WaitTime, and
// a restarted dev agent (or a rebuilt cluster) starts again from the bottom.
// A failed query is noticed and starts over from 0, but an agent that
// restarts between two queries is not, and Go's HTTP client even replays a
// GET whose kept-alive connection died, on a new connection, without
// telling anyone. A TCP connection cannot outlive the agent that accepted
// it, though: so when a blocking query is about to go out on a new
// connection, it is cancelled and asked again without blocking. That costs
// one extra request per reconnect, which is rare: between two queries the
// connection is idle for MinQueryInterval at most. checkConn false skips
// the check.
func (w *Watcher) query(ctx context.Context, index uint64, checkConn bool) ([]Member, *api.QueryMeta, uint64, error) {
	if index == 0 {
		members, meta, err := queryMembers(ctx, w.client, w.cfg.Service, w.cfg.Filter, &api.QueryOptions{})
		return members, meta, 0, err
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fresh atomic.Bool
	if checkConn {
		qctx = httptrace.WithClientTrace(qctx, &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if !info.Reused {
					fresh.Store(true)
					cancel()
				}
			},
		})
	}
	q := &api.QueryOptions{WaitIndex: index, WaitTime: w.cfg.WaitTime}
	members, meta, err := queryMembers(qctx, w.client, w.cfg.Service, w.cfg.Filter, q)
	if !fresh.Load() || ctx.Err() != nil {
		return members, meta, index, err
	}
	w.log.WithField("index", index).Debug("new connection to the agent; reading again without blocking")
	return w.query(ctx, 0, false)
}

// deliver hands a snapshot to the consumer without ever blocking: if the
// previous snapshot has not been taken, it is replaced.
func (w *Watcher) deliver(members []Member) {
	select {
	case w.updates <- members:
		return
	default:
	}
	select {
	case <-w.updates:
	default:
	}
	// This goroutine is the only sender and has just made room.
	w.updates <- members
}

// nextIndex applies Consul's rules for the index of the next blocking
// query, given the one the last query waited on and the one it returned.
func nextIndex(prev, got uint64) uint64 {
	switch {
	case got < prev:
		// Backwards: the agent restarted, a snapshot was restored, or we
		// reached another server. Waiting on prev could block for the whole
		// WaitTime; query again without blocking.
		return 0
	case got == 0:
		// A zero index would make every query return at once: a hot loop.
		return 1
	}
	return got
}
