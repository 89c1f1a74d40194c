package node

import (
	"context"
	"fmt"
	"time"

	"actorlog/tracing"
)

// startTracing picks the node's tracer provider: the configured one, or
// one built from Config.Tracing (a no-op provider when tracing is off).
func (n *Node) startTracing() error {
	if n.cfg.TracerProvider != nil {
		n.tp = n.cfg.TracerProvider
		return nil
	}
	tcfg := n.cfg.Tracing
	if tcfg.InstanceID == "" {
		tcfg.InstanceID = n.cfg.ID
	}
	tp, shutdown, err := tracing.Setup(tcfg)
	if err != nil {
		return fmt.Errorf("%w: tracing: %w", ErrStart, err)
	}
	n.tp, n.tpShutdown = tp, shutdown
	if tracing.Enabled(tp) {
		n.log.WithField("exporter", tcfg.Exporter).Info("tracing on")
	}
	return nil
}

// stopTracing exports the spans still buffered, within step, and stops
// the exporter of a provider the node built.
func (n *Node) stopTracing(step time.Duration) error {
	if n.tpShutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), step)
	defer cancel()
	if err := n.tpShutdown(ctx); err != nil {
		return fmt.Errorf("flush the spans: %w", err)
	}
	return nil
}
