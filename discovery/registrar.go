package discovery

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"actorlog/internal/backoff"

	"github.com/hashicorp/consul/api"
	"github.com/sirupsen/logrus"
)

// State is where a Registrar stands with its agent. It is meant for metrics
// and readiness: only the run loop changes it.
type State int32

const (
	// StateStarting means no registration attempt has finished yet.
	StateStarting State = iota
	// StateRegistered means the agent accepted the registration and the
	// last TTL refresh.
	StateRegistered
	// StateUnavailable means the last attempt failed: the agent is down,
	// restarting, has no leader, or refused the registration. The
	// registrar keeps retrying with backoff.
	StateUnavailable
	// StateClosed means Close has run; nothing is refreshed any more.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateRegistered:
		return "registered"
	case StateUnavailable:
		return "unavailable"
	case StateClosed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Registrar keeps one node registered with its local Consul agent for as
// long as it runs. One goroutine, started by NewRegistrar and stopped by
// Close, owns every request to the agent, so a refresh can never overwrite
// a newer status: it registers the service with a TTL check, refreshes the
// check every TTL/3 with the status last given to UpdateTTL, and when a
// refresh fails it registers again (a restarted agent has forgotten the
// node), retrying with backoff while the agent is unavailable. It logs each
// change of state once, never each attempt, and never gives up on its own.
type Registrar struct {
	cfg       Config
	client    *api.Client
	transport *http.Transport
	log       *logrus.Entry
	reg       *api.AgentServiceRegistration // the check's Status is set per attempt

	state   atomic.Int32 // a State; written only by the run loop and Close
	updates chan ttlUpdate
	cancel  context.CancelFunc
	done    chan struct{} // closed when the run loop has exited

	// everRegistered is written by the run loop and read by Close only
	// after done is closed, which orders the two.
	everRegistered bool

	closeOnce sync.Once
	closeErr  error
}

// ttlUpdate carries a status from UpdateTTL to the run loop; the loop sends
// exactly one result on reply (buffered) unless it is shutting down.
type ttlUpdate struct {
	status Status
	note   string
	reply  chan error
}

// loopState is owned by the run loop.
type loopState struct {
	status      Status
	note        string
	registered  bool      // the agent is believed to hold our registration
	forgotten   bool      // the agent answered 404 for our check
	outageStart time.Time // when the current outage began
	attempts    int       // failed attempts in the current outage
}

// NewRegistrar validates cfg and starts the registration loop. It returns
// at once, without waiting for the agent: a node must start even when its
// agent is down, and registers as soon as the agent answers. Watch State
// for progress, and call Close to stop.
func NewRegistrar(cfg Config) (*Registrar, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	host, portStr, _ := net.SplitHostPort(cfg.ActorAddr) // checked by Validate
	port, _ := strconv.Atoi(portStr)
	meta := map[string]string{MetaNodeID: cfg.ID}
	if cfg.RaftAddr != "" {
		meta[MetaRaftAddr] = cfg.RaftAddr
	}
	if cfg.HTTPAddr != "" {
		meta[MetaHTTPAddr] = cfg.HTTPAddr
	}
	if cfg.GRPCAddr != "" {
		meta[MetaGRPCAddr] = cfg.GRPCAddr
	}
	client, transport, err := newClient(cfg.ConsulAddr, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registrar{
		cfg:       cfg,
		client:    client,
		transport: transport,
		log: cfg.Logger.WithFields(logrus.Fields{
			"service": cfg.Service, "service_id": cfg.ID, "consul": cfg.ConsulAddr,
		}),
		reg: &api.AgentServiceRegistration{
			ID:      cfg.ID,
			Name:    cfg.Service,
			Address: host,
			Port:    port,
			Meta:    meta,
			Check: &api.AgentServiceCheck{
				CheckID:                        CheckID(cfg.ID),
				Name:                           cfg.Service + " node alive (TTL)",
				TTL:                            cfg.TTL.String(),
				DeregisterCriticalServiceAfter: cfg.DeregisterCriticalServiceAfter.String(),
			},
		},
		updates: make(chan ttlUpdate),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go r.run(ctx)
	return r, nil
}

// CheckID is the Consul check ID of the TTL check registered for node id:
// "service:<id>", the ID Consul itself gives a service's only check.
func CheckID(id string) string { return "service:" + id }

// State reports where the registrar stands with its agent.
func (r *Registrar) State() State { return State(r.state.Load()) }

// UpdateTTL sets the status and note (the check's output) that the node
// reports, pushes them to the agent at once, and keeps refreshing with them
// until the next call. Use it to report a node that is alive but unhealthy
// (StatusWarning: catching up; StatusCritical: cannot serve) without
// waiting for the TTL to lapse.
//
// Consul copies a status change to the catalog at once, but a note that
// changes while the status stays the same only every check_update_interval
// (5 minutes by default); the agent's own /v1/agent/checks has it at once.
//
// The status is recorded even when the push fails: the error wraps
// ErrUnavailable and the registrar pushes the status as soon as the agent
// is back. After Close it returns ErrClosed.
func (r *Registrar) UpdateTTL(ctx context.Context, status Status, note string) error {
	switch status {
	case StatusPassing, StatusWarning, StatusCritical:
	default:
		return fmt.Errorf("%w: %q", ErrInvalidStatus, status)
	}
	u := ttlUpdate{status: status, note: note, reply: make(chan error, 1)}
	select {
	case r.updates <- u:
	case <-r.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-u.reply:
		return err
	case <-r.done:
		// The loop may have answered just before it exited.
		select {
		case err := <-u.reply:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the loop and, unless SkipLeaveOnClose is set, deregisters the
// node so that watchers see it leave at once instead of after the TTL. It
// is idempotent: later and concurrent calls wait for the first and return
// its result. ctx bounds the deregistration; a deregistration that fails
// (agent down) is returned wrapping ErrUnavailable, and Consul then reaps
// the entry after TTL + DeregisterCriticalServiceAfter.
func (r *Registrar) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		if r.cfg.SkipLeaveOnClose {
			r.log.Info("stopped refreshing; registration left to lapse (SkipLeaveOnClose)")
		} else {
			r.closeErr = r.deregister(ctx)
		}
		r.state.Store(int32(StateClosed))
		r.transport.CloseIdleConnections()
	})
	return r.closeErr
}

func (r *Registrar) deregister(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	err := r.client.Agent().ServiceDeregisterOpts(r.cfg.ID, (&api.QueryOptions{}).WithContext(ctx))
	switch {
	case err == nil:
		r.log.Info("deregistered from Consul")
		return nil
	case isNotFound(err):
		// Already gone: the agent restarted, or reaped us.
		r.log.Info("deregistered from Consul (the agent no longer knew the node)")
		return nil
	case !r.everRegistered:
		// Nothing was ever registered, so there is nothing to leave behind.
		r.log.WithError(err).Debug("never registered; nothing to deregister")
		return nil
	}
	r.log.WithError(err).Warn("deregistration failed; Consul will reap the entry once its TTL lapses")
	return fmt.Errorf("%w: deregister %q: %w", ErrUnavailable, r.cfg.ID, err)
}

// run is the registrar's only goroutine: it syncs with the agent, then
// waits for the refresh interval (or a backoff after a failure), an
// UpdateTTL, or Close.
func (r *Registrar) run(ctx context.Context) {
	defer close(r.done)
	l := &loopState{status: StatusPassing}
	bo := backoff.New(backoff.Policy{Min: r.cfg.MinBackoff, Max: r.cfg.MaxBackoff, Jitter: true})
	refresh := r.cfg.TTL / 3
	timer := time.NewTimer(refresh)
	defer timer.Stop()
	var reply chan error
	for {
		err := r.sync(ctx, l)
		if ctx.Err() != nil {
			return // UpdateTTL sees done and returns ErrClosed
		}
		if reply != nil {
			if err != nil {
				err = fmt.Errorf("%w: push check status: %w", ErrUnavailable, err)
			}
			reply <- err
			reply = nil
		}
		wait := refresh
		if err != nil {
			wait = bo.Next()
		} else {
			bo.Reset()
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case u := <-r.updates:
			l.status, l.note, reply = u.status, u.note, u.reply
		}
	}
}

// sync makes the agent hold the registration with the current status: a
// TTL refresh when it is believed registered, and a full registration when
// not, or when the refresh fails. Registering is idempotent, so doing it
// after any failed refresh is both the simplest and the safest answer to an
// agent that restarted and forgot the node.
func (r *Registrar) sync(ctx context.Context, l *loopState) error {
	if l.registered {
		err := r.pushStatus(ctx, l)
		if err == nil || ctx.Err() != nil {
			return err
		}
		l.registered = false
		l.forgotten = isNotFound(err)
		r.log.WithError(err).Debug("TTL refresh failed; registering again")
	}
	if err := r.register(ctx, l); err != nil {
		if ctx.Err() == nil {
			r.transition(l, StateUnavailable, err)
		}
		return err
	}
	l.registered = true
	r.everRegistered = true
	if l.forgotten && r.State() == StateRegistered {
		r.log.Info("the Consul agent had forgotten this node (restarted?); registered again")
	}
	l.forgotten = false
	r.transition(l, StateRegistered, nil)
	return nil
}

func (r *Registrar) register(ctx context.Context, l *loopState) error {
	reqCtx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	reg := *r.reg
	check := *reg.Check
	check.Status = string(l.status)
	reg.Check = &check
	// ReplaceExistingChecks drops checks a previous definition left behind,
	// so registering again always ends in exactly this definition.
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(reqCtx)
	if err := r.client.Agent().ServiceRegisterOpts(&reg, opts); err != nil {
		return fmt.Errorf("register service %q: %w", r.cfg.ID, err)
	}
	// The registration carries the status but not the note; push both so
	// the check's output is right from the start.
	return r.pushStatus(ctx, l)
}

func (r *Registrar) pushStatus(ctx context.Context, l *loopState) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	err := r.client.Agent().UpdateTTLOpts(CheckID(r.cfg.ID), l.note, string(l.status), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("refresh check %q: %w", CheckID(r.cfg.ID), err)
	}
	return nil
}

// transition logs the new state once per change, repeated failures within
// one outage at debug only, and then records it: whoever sees the new state
// can count on its log line being written. Only the run loop calls it.
func (r *Registrar) transition(l *loopState, to State, err error) {
	from := r.State()
	defer r.state.Store(int32(to))
	switch {
	case to == StateUnavailable && from != StateUnavailable:
		l.outageStart, l.attempts = time.Now(), 1
		r.log.WithError(err).Warn("Consul agent unavailable; retrying registration with backoff")
	case to == StateUnavailable:
		l.attempts++
		r.log.WithError(err).WithField("attempt", l.attempts).Debug("registration attempt failed")
	case to == StateRegistered && from == StateUnavailable:
		r.log.WithFields(logrus.Fields{
			"outage":   time.Since(l.outageStart).Round(time.Millisecond).String(),
			"attempts": l.attempts + 1,
		}).Info("Consul agent available again; registered")
	case to == StateRegistered && from == StateStarting:
		r.log.WithField("check_ttl", r.cfg.TTL.String()).Info("registered with Consul")
	}
}
