package grpcroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"actorlog/discovery"
	"actorlog/messages"
	"google.golang.org/grpc"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// Scheme is the target scheme of the resolver: actorlog:///host:port,...
const Scheme = "actorlog"

// Defaults of Config.
const (
	// DefaultInterval is how often the member list is asked for again.
	DefaultInterval = 5 * time.Second
	// DefaultTimeout bounds one GetServers call (and one Consul query).
	DefaultTimeout = 3 * time.Second
	// DefaultMinRefresh is the shortest time between two refreshes that
	// were asked for (ResolveNow, Refresh): a burst of failures costs one.
	DefaultMinRefresh = 100 * time.Millisecond
)

// ErrNoSeeds is reported when a target names no seed and no Consul agent.
var ErrNoSeeds = errors.New("grpcroute: the target names no seed (actorlog:///host:port,... or ?consul=host:port)")

// Config configures a Builder. Zero fields take the defaults.
type Config struct {
	Interval   time.Duration
	Timeout    time.Duration
	MinRefresh time.Duration
	// Creds are the credentials the resolver reaches seeds with. Nil: the
	// channel's own (resolver.BuildOptions.DialCreds), else plaintext.
	Creds credentials.TransportCredentials
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MinRefresh <= 0 {
		c.MinRefresh = DefaultMinRefresh
	}
	return c
}

// Builder builds actorlog resolvers. Register it with resolver.Register or
// pass it to grpc.NewClient with grpc.WithResolvers.
type Builder struct {
	cfg Config

	mu        sync.Mutex
	resolvers map[*actorlogResolver]struct{}
}

// NewBuilder returns a Builder for the actorlog scheme.
func NewBuilder(cfg Config) *Builder {
	return &Builder{cfg: cfg.withDefaults(), resolvers: make(map[*actorlogResolver]struct{})}
}

func init() {
	resolver.Register(NewBuilder(Config{}))
	registerBalancer()
}

// Scheme implements resolver.Builder.
func (b *Builder) Scheme() string { return Scheme }

// Refresh makes every resolver of b ask for the member list again soon
// (at most every Config.MinRefresh): after a NotLeader, for example.
func (b *Builder) Refresh() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for r := range b.resolvers {
		r.ResolveNow(resolver.ResolveNowOptions{})
	}
}

// Build implements resolver.Builder.
func (b *Builder) Build(target resolver.Target, cc resolver.ClientConn, opts resolver.BuildOptions) (resolver.Resolver, error) {
	seeds, consul, service, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	creds := b.cfg.Creds
	if creds == nil {
		creds = opts.DialCreds
	}
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	sc := cc.ParseServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, BalancerName))
	r := &actorlogResolver{
		b: b, cfg: b.cfg, cc: cc, creds: creds, seeds: seeds, consul: consul, service: service, sc: sc,
		now: make(chan struct{}, 1), stop: make(chan struct{}), conns: map[string]*grpc.ClientConn{},
	}
	b.mu.Lock()
	b.resolvers[r] = struct{}{}
	b.mu.Unlock()
	r.wg.Add(1)
	go r.run()
	return r, nil
}

// parseTarget reads the seeds (the path: host:port,...) and the Consul
// agent and service (the query: consul=, service=).
func parseTarget(t resolver.Target) (seeds []string, consul, service string, err error) {
	for _, s := range strings.Split(strings.TrimPrefix(t.URL.Path, "/"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, "", "", fmt.Errorf("grpcroute: seed %q is not host:port: %w", s, err)
		}
		seeds = append(seeds, s)
	}
	q := t.URL.Query()
	consul, service = q.Get("consul"), q.Get("service")
	if len(seeds) == 0 && consul == "" {
		return nil, "", "", ErrNoSeeds
	}
	return seeds, consul, service, nil
}

// actorlogResolver asks the cluster for its members until Close.
type actorlogResolver struct {
	b       *Builder
	cfg     Config
	cc      resolver.ClientConn
	creds   credentials.TransportCredentials
	seeds   []string
	consul  string
	service string
	sc      *serviceconfig.ParseResult

	now  chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	// Owned by run.
	known []string                    // members' gRPC addresses, last seen
	conns map[string]*grpc.ClientConn // to members, for GetServers
}

// ResolveNow implements resolver.Resolver.
func (r *actorlogResolver) ResolveNow(resolver.ResolveNowOptions) {
	select {
	case r.now <- struct{}{}:
	default:
	}
}

// Close implements resolver.Resolver.
func (r *actorlogResolver) Close() {
	r.once.Do(func() {
		r.b.mu.Lock()
		delete(r.b.resolvers, r)
		r.b.mu.Unlock()
		close(r.stop)
		r.wg.Wait()
	})
}

func (r *actorlogResolver) run() {
	defer r.wg.Done()
	defer func() {
		for _, c := range r.conns {
			_ = c.Close()
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-timer.C:
		case <-r.now:
			// Rate-limit asked-for refreshes.
			select {
			case <-r.stop:
				return
			case <-time.After(r.cfg.MinRefresh):
			}
		}
		r.resolve()
		timer.Reset(r.cfg.Interval)
	}
}

// resolve asks the members last known, then the seeds, for the member
// list, and reports the first answer.
func (r *actorlogResolver) resolve() {
	candidates := append([]string(nil), r.known...)
	seeds, seedErr := r.seedAddrs()
	candidates = append(candidates, seeds...)
	var lastErr error = seedErr
	tried := map[string]bool{}
	for _, addr := range candidates {
		if tried[addr] {
			continue
		}
		tried[addr] = true
		servers, err := r.ask(addr)
		if err != nil {
			lastErr = err
			continue
		}
		addrs := addresses(servers)
		if len(addrs) == 0 {
			lastErr = fmt.Errorf("grpcroute: %s lists no member with a gRPC address", addr)
			continue
		}
		r.known = r.known[:0]
		for _, a := range addrs {
			r.known = append(r.known, a.Addr)
		}
		r.dropConnsExcept(r.known, seeds)
		if err := r.cc.UpdateState(resolver.State{Addresses: addrs, ServiceConfig: r.sc}); err != nil {
			lastErr = err
			continue
		}
		return
	}
	if lastErr == nil {
		lastErr = ErrNoSeeds
	}
	r.cc.ReportError(lastErr)
}

func (r *actorlogResolver) seedAddrs() ([]string, error) {
	if r.consul == "" {
		return r.seeds, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	ctx, cancelStop := contextWithStop(ctx, r.stop)
	defer cancelStop()
	members, err := discovery.Members(ctx, r.consul, r.service, discovery.PassingOnly)
	out := append([]string(nil), r.seeds...)
	for _, m := range members {
		if m.GRPCAddr != "" {
			out = append(out, m.GRPCAddr)
		}
	}
	if err != nil {
		return out, fmt.Errorf("grpcroute: %w", err)
	}
	return out, nil
}

func (r *actorlogResolver) ask(addr string) ([]*messages.Server, error) {
	conn, ok := r.conns[addr]
	if !ok {
		var err error
		// passthrough: the address is dialled as is, never resolved by
		// this resolver again.
		conn, err = grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(r.creds))
		if err != nil {
			return nil, err
		}
		r.conns[addr] = conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	ctx, cancelStop := contextWithStop(ctx, r.stop)
	defer cancelStop()
	res, err := messages.NewLogClient(conn).GetServers(ctx, &messages.ServersRequest{})
	if err != nil {
		return nil, fmt.Errorf("grpcroute: GetServers at %s: %w", addr, err)
	}
	return res.GetServers(), nil
}

func (r *actorlogResolver) dropConnsExcept(lists ...[]string) {
	keep := map[string]bool{}
	for _, l := range lists {
		for _, a := range l {
			keep[a] = true
		}
	}
	for a, c := range r.conns {
		if !keep[a] {
			_ = c.Close()
			delete(r.conns, a)
		}
	}
}

// contextWithStop is ctx, also cancelled when stop closes.
func contextWithStop(ctx context.Context, stop <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// leaderKey is the attribute that marks the leader's address.
type leaderKey struct{}

// addresses turns the member list into gRPC addresses, the leader marked.
func addresses(servers []*messages.Server) []resolver.Address {
	var out []resolver.Address
	for _, s := range servers {
		if s.GetGrpcAddress() == "" {
			continue
		}
		out = append(out, resolver.Address{
			Addr:       s.GetGrpcAddress(),
			Attributes: attributes.New(leaderKey{}, s.GetIsLeader()),
		})
	}
	return out
}

// isLeader reads the mark of addresses.
func isLeader(a resolver.Address) bool {
	v, _ := a.Attributes.Value(leaderKey{}).(bool)
	return v
}
