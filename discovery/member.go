package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
)

// Status is the health of an instance as Consul reports it: the worst of
// its own checks and of its Consul node's checks.
type Status string

// The statuses Consul reports. A node reports only the first three through
// UpdateTTL; StatusMaintenance shows when an operator put the node or the
// service in maintenance mode.
const (
	StatusPassing     Status = api.HealthPassing
	StatusWarning     Status = api.HealthWarning
	StatusCritical    Status = api.HealthCritical
	StatusMaintenance Status = api.HealthMaint
)

// Member is one registered actorlog node as seen through Consul.
type Member struct {
	ID        string // node id (Meta node_id, or the service ID)
	ActorAddr string // actor remote endpoint, "host:port"
	RaftAddr  string // raft transport address; empty if not published
	HTTPAddr  string // HTTP API address; empty if not published
	GRPCAddr  string // gRPC Log service address; empty if not published
	Status    Status
	Node      string // the Consul node (agent) it is registered with
}

// Members asks Consul once for the instances of service that pass filter,
// sorted by ID. Empty consulAddr and service mean DefaultConsulAddr and
// DefaultService. Failures to reach or query the agent wrap ErrUnavailable.
func Members(ctx context.Context, consulAddr, service string, filter Filter) ([]Member, error) {
	cfg := WatchConfig{ConsulAddr: consulAddr, Service: service, Filter: filter}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	// A one-shot caller has no Close to call, so the client must not keep
	// idle connections (and their goroutines) behind.
	client, _, err := newClient(cfg.ConsulAddr, false)
	if err != nil {
		return nil, err
	}
	members, _, err := queryMembers(ctx, client, cfg.Service, cfg.Filter, &api.QueryOptions{})
	return members, err
}

// LookupActorAddrs returns the actor addresses of the passing instances of
// service, sorted by node id: what a client dials to find a node. An empty
// list with a nil error means Consul answered but no instance is healthy.
func LookupActorAddrs(ctx context.Context, consulAddr, service string) ([]string, error) {
	members, err := Members(ctx, consulAddr, service, PassingOnly)
	if err != nil {
		return nil, err
	}
	addrs := make([]string, len(members))
	for i, m := range members {
		addrs[i] = m.ActorAddr
	}
	return addrs, nil
}

// newClient makes a Consul API client for addr. It starts from
// api.DefaultConfig so the standard CONSUL_HTTP_TOKEN and TLS environment
// variables work as they do for the consul CLI. pooled keeps connections
// alive between requests; the owner must then call CloseIdleConnections on
// the returned transport when it is done, or each idle connection keeps a
// goroutine until the agent closes it.
func newClient(addr string, pooled bool) (*api.Client, *http.Transport, error) {
	cfg := api.DefaultConfig()
	if !pooled {
		cfg = api.DefaultNonPooledConfig()
	}
	cfg.Address = addr
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("discovery: consul client for %s: %w", addr, err)
	}
	return client, cfg.Transport, nil
}

// queryMembers runs one health query (blocking when q.WaitIndex is set).
func queryMembers(ctx context.Context, client *api.Client, service string, filter Filter, q *api.QueryOptions) ([]Member, *api.QueryMeta, error) {
	entries, meta, err := client.Health().Service(service, "", filter == PassingOnly, q.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: query service %q: %w", ErrUnavailable, service, err)
	}
	members := make([]Member, 0, len(entries))
	for _, e := range entries {
		if e.Service != nil {
			members = append(members, toMember(e))
		}
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return members, meta, nil
}

func toMember(e *api.ServiceEntry) Member {
	m := Member{
		ID:       e.Service.ID,
		RaftAddr: e.Service.Meta[MetaRaftAddr],
		HTTPAddr: e.Service.Meta[MetaHTTPAddr],
		GRPCAddr: e.Service.Meta[MetaGRPCAddr],
		Status:   Status(e.Checks.AggregatedStatus()),
	}
	if id := e.Service.Meta[MetaNodeID]; id != "" {
		m.ID = id
	}
	// An empty service Address means "the node's address" in Consul.
	host := e.Service.Address
	if e.Node != nil {
		m.Node = e.Node.Node
		if host == "" {
			host = e.Node.Address
		}
	}
	m.ActorAddr = net.JoinHostPort(host, strconv.Itoa(e.Service.Port))
	if m.Status == "" {
		// AggregatedStatus gives "" for a status it does not know; treat
		// the unknown as unhealthy rather than as healthy.
		m.Status = StatusCritical
	}
	return m
}

// isNotFound reports whether err is the agent saying it does not know the
// check or service, as it does after a restart that lost its state.
func isNotFound(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}
