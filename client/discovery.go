package client

import (
	"context"
	"fmt"
	"slices"
	"time"

	"actorlog/discovery"
)

// lookupConsul puts the actor addresses of the passing nodes registered in
// Consul (when c.Consul is set) in front of c.Servers. A Consul agent that
// does not answer is an error only when there are no Servers to fall back
// on.
func (c *Config) lookupConsul(ctx context.Context) error {
	if c.Consul == "" {
		return nil
	}
	addrs, err := discovery.LookupActorAddrs(ctx, c.Consul, c.ConsulService)
	if err != nil {
		if len(c.Servers) > 0 {
			return nil
		}
		return fmt.Errorf("client: find nodes in Consul at %s: %w", c.Consul, err)
	}
	for _, s := range c.Servers {
		if !slices.Contains(addrs, s) {
			addrs = append(addrs, s)
		}
	}
	c.Servers = addrs
	return nil
}

// ConsulHealth returns the Consul status ("passing", "warning",
// "critical", "maintenance") of every registered node, by node id.
func ConsulHealth(ctx context.Context, consulAddr, service string) (map[string]string, error) {
	members, err := discovery.Members(ctx, consulAddr, service, discovery.AnyStatus)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(members))
	for _, m := range members {
		out[m.ID] = string(m.Status)
	}
	return out, nil
}

// rediscover asks Consul (with Config.Consul) for the passing nodes after
// no known node answered, and adds the ones the client does not know, so
// that a client whose nodes have all gone finds the ones that took their
// place. The next refresh tries them.
func (c *Client) rediscover(ctx context.Context) {
	if c.cfg.Consul == "" || ctx.Err() != nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, min(c.cfg.AttemptTimeout, 2*time.Second))
	defer cancel()
	addrs, err := discovery.LookupActorAddrs(lctx, c.cfg.Consul, c.cfg.ConsulService)
	if err != nil {
		c.log.WithError(err).Debug("looking the nodes up in Consul")
		return
	}
	c.route.addServers(addrs)
}
