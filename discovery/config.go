package discovery

import (
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Defaults, filled in for every Config and WatchConfig field left at its zero
// value.
const (
	// DefaultConsulAddr is where a Consul agent listens by default: the
	// operator runs one next to every node.
	DefaultConsulAddr = "127.0.0.1:8500"

	// DefaultService is the Consul service name every node registers under.
	DefaultService = "actorlog"

	// DefaultTTL is the TTL of the node's health check. The registrar
	// refreshes it every TTL/3, so two refreshes in a row can be lost (a slow
	// agent, a long GC pause) before Consul marks the node critical, while a
	// dead or frozen node turns critical within ten seconds.
	DefaultTTL = 10 * time.Second

	// DefaultDeregisterCriticalServiceAfter is how long a node may stay
	// critical before its agent removes the registration. It is Consul's
	// minimum (MinDeregisterCriticalServiceAfter); the agent's reaper runs
	// every 30 s, so removal happens between one minute and one and a half.
	DefaultDeregisterCriticalServiceAfter = time.Minute

	// DefaultRequestTimeout bounds each registration, TTL refresh and
	// deregistration request to the local agent. It is shorter than
	// DefaultTTL so a hung agent cannot hold a refresh past the TTL.
	DefaultRequestTimeout = 5 * time.Second

	// DefaultMinBackoff is the first wait after a failed request to Consul.
	DefaultMinBackoff = 250 * time.Millisecond

	// DefaultMaxBackoff caps the wait between retries; it is also the worst
	// extra delay before a node registers again once its agent is back.
	DefaultMaxBackoff = 5 * time.Second

	// DefaultWaitTime is how long one blocking query may wait for a change.
	// Consul's own default is 5 minutes; a shorter wait costs one idle query
	// a minute and bounds how long a watch can stay parked on an index that
	// a restarted agent will not reach for a long time.
	DefaultWaitTime = time.Minute

	// DefaultMinQueryInterval is the least time between the starts of two
	// blocking queries. Consul asks its clients to rate-limit them, so that
	// a service whose index moves all the time cannot turn a watch into a
	// hot loop.
	DefaultMinQueryInterval = 100 * time.Millisecond
)

// Limits that Validate enforces.
const (
	// MinTTL keeps the refresh interval (TTL/3) above a few hundred
	// milliseconds.
	MinTTL = time.Second

	// MinDeregisterCriticalServiceAfter is the smallest value Consul honours:
	// it raises anything lower to one minute, so a lower setting would only
	// mislead.
	MinDeregisterCriticalServiceAfter = time.Minute

	// MaxWaitTime is the longest blocking query Consul accepts.
	MaxWaitTime = 10 * time.Minute
)

// Keys of the service Meta that a node registers. Consul allows only
// letters, digits, '_' and '-' in meta keys.
const (
	MetaNodeID   = "node_id"
	MetaRaftAddr = "raft_addr"
	MetaHTTPAddr = "http_addr"
	MetaGRPCAddr = "grpc_addr"
)

// Config configures a Registrar: who this node is, where its local Consul
// agent listens, and how its health check behaves.
type Config struct {
	// ConsulAddr is the local agent's HTTP API, "host:port". The client also
	// honours the standard CONSUL_HTTP_TOKEN and TLS environment variables.
	// Default DefaultConsulAddr.
	ConsulAddr string

	// Service is the Consul service name. Default DefaultService.
	Service string

	// ID is the node id. It is the Consul service ID, so it must be unique
	// among the nodes registered with one agent, and it is stable across
	// restarts so that a restarted node replaces its own entry. Required.
	ID string

	// ActorAddr is the node's actor remote endpoint, "host:port", as clients
	// dial it. It becomes the service Address and Port, so the host must be
	// a concrete address, not 0.0.0.0. Required.
	ActorAddr string

	// RaftAddr is the raft transport address, published in Meta under
	// MetaRaftAddr. Optional.
	RaftAddr string

	// HTTPAddr is the HTTP API address, published in Meta under
	// MetaHTTPAddr. Optional.
	HTTPAddr string

	// GRPCAddr is the gRPC Log service's address, published in Meta under
	// MetaGRPCAddr. Optional.
	GRPCAddr string

	// TTL is the TTL of the node's health check. The registrar refreshes it
	// every TTL/3 with the status last given to UpdateTTL; when refreshes
	// stop (the process died or froze, or lost its agent) Consul marks the
	// node critical after TTL. Default DefaultTTL, at least MinTTL.
	TTL time.Duration

	// DeregisterCriticalServiceAfter is how long Consul keeps a critical
	// node registered before removing it. Default
	// DefaultDeregisterCriticalServiceAfter, at least
	// MinDeregisterCriticalServiceAfter.
	DeregisterCriticalServiceAfter time.Duration

	// SkipLeaveOnClose makes Close stop refreshing without deregistering,
	// like Consul's skip_leave_on_interrupt: use it for a restart in place,
	// where deregistering would tell the raft leader that the node left for
	// good. The entry turns critical after TTL, and the node takes it over
	// again when it registers with the same ID.
	SkipLeaveOnClose bool

	// RequestTimeout bounds each request to the agent. Default
	// DefaultRequestTimeout.
	RequestTimeout time.Duration

	// MinBackoff and MaxBackoff bound the exponential backoff (with jitter)
	// between attempts while the agent is unavailable. Defaults
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// Logger receives state changes (registered, agent unavailable, agent
	// back) at info and warn, and each failed attempt at debug. Nil
	// discards them.
	Logger *logrus.Entry
}

// DefaultConfig returns a Config with every default filled in. ID and
// ActorAddr, which have no default, are left empty.
func DefaultConfig() Config {
	return Config{
		ConsulAddr:                     DefaultConsulAddr,
		Service:                        DefaultService,
		TTL:                            DefaultTTL,
		DeregisterCriticalServiceAfter: DefaultDeregisterCriticalServiceAfter,
		RequestTimeout:                 DefaultRequestTimeout,
		MinBackoff:                     DefaultMinBackoff,
		MaxBackoff:                     DefaultMaxBackoff,
	}
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.ConsulAddr, d.ConsulAddr)
	setDefault(&c.Service, d.Service)
	setDefault(&c.TTL, d.TTL)
	setDefault(&c.DeregisterCriticalServiceAfter, d.DeregisterCriticalServiceAfter)
	setDefault(&c.RequestTimeout, d.RequestTimeout)
	setDefault(&c.MinBackoff, d.MinBackoff)
	setDefault(&c.MaxBackoff, d.MaxBackoff)
	if c.Logger == nil {
		c.Logger = discardLogger()
	}
	return c
}

// Validate reports the first field that is wrong as a *ConfigError. Zero
// fields count as their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := validateAgent(c.ConsulAddr, c.Service); err != nil {
		return err
	}
	if c.ID == "" {
		return &ConfigError{Field: "ID", Reason: "required"}
	}
	if strings.ContainsAny(c.ID, "/?#") {
		return &ConfigError{Field: "ID", Reason: "must not contain '/', '?' or '#': it is part of Consul's URLs"}
	}
	if err := validateHostPort("ActorAddr", c.ActorAddr, true); err != nil {
		return err
	}
	if c.RaftAddr != "" {
		if err := validateHostPort("RaftAddr", c.RaftAddr, false); err != nil {
			return err
		}
	}
	if c.HTTPAddr != "" {
		if err := validateHostPort("HTTPAddr", c.HTTPAddr, false); err != nil {
			return err
		}
	}
	if c.TTL < MinTTL {
		return &ConfigError{Field: "TTL", Reason: "must be at least " + MinTTL.String()}
	}
	if c.DeregisterCriticalServiceAfter < MinDeregisterCriticalServiceAfter {
		return &ConfigError{Field: "DeregisterCriticalServiceAfter", Reason: "must be at least " + MinDeregisterCriticalServiceAfter.String() + ": Consul raises anything lower to that"}
	}
	if c.RequestTimeout < 0 {
		return &ConfigError{Field: "RequestTimeout", Reason: "must not be negative"}
	}
	return validateBackoff(c.MinBackoff, c.MaxBackoff)
}

// Filter selects which instances a query returns.
type Filter int

const (
	// PassingOnly returns instances whose checks all pass, Consul's
	// "?passing": what a client should dial.
	PassingOnly Filter = iota

	// AnyStatus returns every registered instance with its status, so that
	// a critical node (maybe flapping) can be told apart from one that left.
	AnyStatus
)

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// ConsulAddr is the agent's HTTP API, "host:port". Default
	// DefaultConsulAddr.
	ConsulAddr string

	// Service is the Consul service name to watch. Default DefaultService.
	Service string

	// Filter selects the instances delivered. Default PassingOnly.
	Filter Filter

	// WaitTime is how long one blocking query may wait for a change.
	// Default DefaultWaitTime, at most MaxWaitTime.
	WaitTime time.Duration

	// MinQueryInterval is the least time between the starts of two queries.
	// Default DefaultMinQueryInterval.
	MinQueryInterval time.Duration

	// MinBackoff and MaxBackoff bound the backoff after a failed query.
	// Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// Logger receives state changes (watch failing, watch resumed) at warn
	// and info, and each failed attempt at debug. Nil discards them.
	Logger *logrus.Entry
}

// DefaultWatchConfig returns a WatchConfig with every default filled in.
func DefaultWatchConfig() WatchConfig {
	return WatchConfig{
		ConsulAddr:       DefaultConsulAddr,
		Service:          DefaultService,
		Filter:           PassingOnly,
		WaitTime:         DefaultWaitTime,
		MinQueryInterval: DefaultMinQueryInterval,
		MinBackoff:       DefaultMinBackoff,
		MaxBackoff:       DefaultMaxBackoff,
	}
}

func (c WatchConfig) withDefaults() WatchConfig {
	d := DefaultWatchConfig()
	setDefault(&c.ConsulAddr, d.ConsulAddr)
	setDefault(&c.Service, d.Service)
	setDefault(&c.WaitTime, d.WaitTime)
	setDefault(&c.MinQueryInterval, d.MinQueryInterval)
	setDefault(&c.MinBackoff, d.MinBackoff)
	setDefault(&c.MaxBackoff, d.MaxBackoff)
	if c.Logger == nil {
		c.Logger = discardLogger()
	}
	return c
}

// Validate reports the first field that is wrong as a *ConfigError. Zero
// fields count as their defaults.
func (c WatchConfig) Validate() error {
	c = c.withDefaults()
	if err := validateAgent(c.ConsulAddr, c.Service); err != nil {
		return err
	}
	if c.Filter != PassingOnly && c.Filter != AnyStatus {
		return &ConfigError{Field: "Filter", Reason: "must be PassingOnly or AnyStatus"}
	}
	if c.WaitTime < 0 || c.WaitTime > MaxWaitTime {
		return &ConfigError{Field: "WaitTime", Reason: "must be between 0 and " + MaxWaitTime.String()}
	}
	if c.MinQueryInterval < 0 {
		return &ConfigError{Field: "MinQueryInterval", Reason: "must not be negative"}
	}
	return validateBackoff(c.MinBackoff, c.MaxBackoff)
}

func validateAgent(consulAddr, service string) error {
	if err := validateHostPort("ConsulAddr", consulAddr, false); err != nil {
		return err
	}
	if strings.ContainsAny(service, "/?#") {
		return &ConfigError{Field: "Service", Reason: "must not contain '/', '?' or '#': it is part of Consul's URLs"}
	}
	return nil
}

func validateBackoff(minB, maxB time.Duration) error {
	if minB < 0 {
		return &ConfigError{Field: "MinBackoff", Reason: "must not be negative"}
	}
	if maxB < minB {
		return &ConfigError{Field: "MaxBackoff", Reason: "must not be below MinBackoff"}
	}
	return nil
}

// validateHostPort checks a "host:port" address. advertised means others
// dial it, so a wildcard host, which only makes sense for listening, is
// refused.
func validateHostPort(field, addr string, advertised bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &ConfigError{Field: field, Reason: "want host:port: " + err.Error()}
	}
	if host == "" {
		return &ConfigError{Field: field, Reason: "host is empty"}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return &ConfigError{Field: field, Reason: "port must be a number from 1 to 65535"}
	}
	if ip := net.ParseIP(host); advertised && ip != nil && ip.IsUnspecified() {
		return &ConfigError{Field: field, Reason: "advertise a concrete address, not " + host + ": clients dial it"}
	}
	return nil
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

func discardLogger() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}
