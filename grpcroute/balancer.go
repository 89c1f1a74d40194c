package grpcroute

import (
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/metadata"
)

// BalancerName is the name of the balancer in a service config.
const BalancerName = "actorlog"

// RouteHeader is the outgoing metadata key that routes a call: "leader"
// sends it to the leader whatever its method.
const RouteHeader = "actorlog-route"

// The Log service's methods, as gRPC names them.
const (
	methodProduce       = "/actorlog.v1.Log/Produce"
	methodProduceStream = "/actorlog.v1.Log/ProduceStream"
	methodConsume       = "/actorlog.v1.Log/Consume"
	methodConsumeStream = "/actorlog.v1.Log/ConsumeStream"
)

func registerBalancer() {
	balancer.Register(base.NewBalancerBuilder(BalancerName, pickerBuilder{}, base.Config{HealthCheck: false}))
}

type pickerBuilder struct{}

// Build implements base.PickerBuilder: it sorts the ready connections
// into the leader's and the followers'.
func (pickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	if len(info.ReadySCs) == 0 {
		return base.NewErrPicker(balancer.ErrNoSubConnAvailable)
	}
	p := &picker{}
	for sc, sci := range info.ReadySCs {
		p.all = append(p.all, sc)
		if isLeader(sci.Address) {
			p.leader = sc
		} else {
			p.followers = append(p.followers, sc)
		}
	}
	return p
}

// picker routes each call (see the package doc). It is immutable; gRPC
// builds a new one when connections or the member list change.
type picker struct {
	leader    balancer.SubConn
	followers []balancer.SubConn
	all       []balancer.SubConn
	next      atomic.Uint64
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	toLeader := false
	if md, ok := metadata.FromOutgoingContext(info.Ctx); ok {
		if v := md.Get(RouteHeader); len(v) > 0 && strings.EqualFold(v[0], "leader") {
			toLeader = true
		}
	}
	switch info.FullMethodName {
	case methodProduce, methodProduceStream:
		toLeader = true
	case methodConsume, methodConsumeStream:
		if !toLeader && len(p.followers) > 0 {
			return balancer.PickResult{SubConn: p.roundRobin(p.followers)}, nil
		}
	}
	if toLeader && p.leader != nil {
		return balancer.PickResult{SubConn: p.leader}, nil
	}
	return balancer.PickResult{SubConn: p.roundRobin(p.all)}, nil
}

func (p *picker) roundRobin(scs []balancer.SubConn) balancer.SubConn {
	return scs[p.next.Add(1)%uint64(len(scs))]
}
