package node

import (
	"context"
	"fmt"

	"actorlog/actors"
	"actorlog/discovery"
	"github.com/asynkron/protoactor-go/actor"
)

// Consul registration states reported by ConsulState and GET /v1/status.
const (
	ConsulOff         = "off"
	ConsulStarting    = "starting"
	ConsulRegistered  = "registered"
	ConsulUnavailable = "unavailable"
)

// startDiscovery registers the node in Consul and spawns the membership
// actor, which keeps the registration's health check current and, on the
// leader, reconciles raft with the members in Consul. Without ConsulAddr
// it does nothing.
func (n *Node) startDiscovery() error {
	cfg := n.cfg
	if cfg.ConsulAddr == "" {
		return nil
	}
	dlog := n.log.WithField("component", "discovery")
	// The watcher first: it cannot fail once the config is valid, and a
	// registration made before a failure would have to be undone.
	w, err := discovery.NewWatcher(discovery.WatchConfig{ConsulAddr: cfg.ConsulAddr, Filter: discovery.AnyStatus, Logger: dlog})
	if err != nil {
		return fmt.Errorf("%w: watch Consul: %w", ErrInvalidConfig, err)
	}
	reg, err := discovery.NewRegistrar(discovery.Config{
		ConsulAddr: cfg.ConsulAddr,
		ID:         cfg.ID,
		ActorAddr:  n.actorAddr,
		RaftAddr:   n.raftAddr,
		HTTPAddr:   n.httpAddr,
		GRPCAddr:   n.grpcAddr,
		Logger:     dlog,
	})
	if err != nil {
		w.Close()
		return fmt.Errorf("%w: register in Consul: %w", ErrInvalidConfig, err)
	}
	n.reg = reg
	props := actors.NewMembershipProps(actors.MembershipConfig{
		Raft: n.raft, FSM: n.fsm, RaftActor: n.rp.pid, Self: n.self(),
		Registrar: reg, Watcher: w, Healthy: n.Healthy,
		BootstrapExpect: cfg.BootstrapExpect, HadState: n.hadState,
		Grace: cfg.ReconcileGrace, RequestTimeout: cfg.RequestTimeout, Logger: n.log,
		VerifyPeer: n.verifyMember(),
	})
	n.membership, err = n.sys.Root.SpawnNamed(props.Configure(actor.WithGuardian(n.sup)), actors.MembershipName)
	if err != nil {
		w.Close()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.RequestTimeout)
		defer cancel()
		_ = reg.Close(ctx)
		return fmt.Errorf("%w: spawn the membership actor: %w", ErrStart, err)
	}
	return nil
}

// stopDiscovery stops the membership actor, which deregisters the node
// from Consul: the leader then removes it from raft. It runs first in a
// graceful stop, so that clients stop being sent here.
//
// A leave runs it too, possibly while a stop begins: discMu makes the two
// take turns.
func (n *Node) stopDiscovery() error {
	n.discMu.Lock()
	defer n.discMu.Unlock()
	if n.membership == nil {
		return nil
	}
	pid := n.membership
	n.membership = nil
	if err := n.sys.Root.StopFuture(pid).Wait(); err != nil {
		return fmt.Errorf("stop the membership actor: %w", err)
	}
	return nil
}

// ConsulState reports the node's registration: ConsulOff without
// discovery, else ConsulStarting, ConsulRegistered or ConsulUnavailable
// (the agent does not answer; the node keeps retrying).
func (n *Node) ConsulState() string {
	if n.reg == nil {
		return ConsulOff
	}
	switch n.reg.State() {
	case discovery.StateRegistered:
		return ConsulRegistered
	case discovery.StateStarting:
		return ConsulStarting
	case discovery.StateClosed:
		return ConsulOff
	}
	return ConsulUnavailable
}
