package grpcroute

import (
	"context"
	"net/url"

	"actorlog/messages"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
)

// subConn stands in for a connection in the picker's tables; the picker
// only hands it back, so a named value is all it needs.
type subConn struct {
	balancer.SubConn
	name string
}

func target(raw string) resolver.Target {
	GinkgoHelper()
	u, err := url.Parse(raw)
	Expect(err).NotTo(HaveOccurred())
	return resolver.Target{URL: *u}
}

var _ = Describe("Targets", func() {
	It("reads seeds from the path and Consul from the query", func() {
		seeds, consul, service, err := parseTarget(target("actorlog:///10.0.0.1:7490,10.0.0.2:7490"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seeds).To(Equal([]string{"10.0.0.1:7490", "10.0.0.2:7490"}))
		Expect(consul).To(BeEmpty())
		Expect(service).To(BeEmpty())

		seeds, consul, service, err = parseTarget(target("actorlog:///?consul=127.0.0.1:8500&service=logs"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seeds).To(BeEmpty())
		Expect(consul).To(Equal("127.0.0.1:8500"))
		Expect(service).To(Equal("logs"))
	})

	It("refuses a target without seeds or Consul, and a seed that is not host:port", func() {
		_, _, _, err := parseTarget(target("actorlog:///"))
		Expect(err).To(MatchError(ErrNoSeeds))
		_, _, _, err = parseTarget(target("actorlog:///nohostport"))
		Expect(err).To(MatchError(ContainSubstring("not host:port")))
	})

	It("marks the leader and leaves out members without a gRPC address", func() {
		addrs := addresses([]*messages.Server{
			{Id: "a", GrpcAddress: "a:1", IsLeader: true},
			{Id: "b", GrpcAddress: "b:1"},
			{Id: "c"},
		})
		Expect(addrs).To(HaveLen(2))
		Expect(isLeader(addrs[0])).To(BeTrue())
		Expect(isLeader(addrs[1])).To(BeFalse())
	})
})

var _ = Describe("The picker", func() {
	leader, f1, f2 := &subConn{name: "leader"}, &subConn{name: "f1"}, &subConn{name: "f2"}
	build := func(scs ...*subConn) balancer.Picker {
		info := base.PickerBuildInfo{ReadySCs: map[balancer.SubConn]base.SubConnInfo{}}
		for _, sc := range scs {
			info.ReadySCs[sc] = base.SubConnInfo{Address: addresses([]*messages.Server{{GrpcAddress: sc.name + ":1", IsLeader: sc == leader}})[0]}
		}
		return pickerBuilder{}.Build(info)
	}
	pick := func(p balancer.Picker, method string, ctx context.Context) string {
		GinkgoHelper()
		res, err := p.Pick(balancer.PickInfo{FullMethodName: method, Ctx: ctx})
		Expect(err).NotTo(HaveOccurred())
		return res.SubConn.(*subConn).name
	}
	bg := context.Background()

	It("sends produces to the leader and spreads reads over the followers", func() {
		p := build(leader, f1, f2)
		for range 4 {
			Expect(pick(p, methodProduce, bg)).To(Equal("leader"))
			Expect(pick(p, methodProduceStream, bg)).To(Equal("leader"))
		}
		seen := map[string]int{}
		for range 10 {
			seen[pick(p, methodConsume, bg)]++
			seen[pick(p, methodConsumeStream, bg)]++
		}
		Expect(seen).To(Equal(map[string]int{"f1": 10, "f2": 10}))
	})

	It("sends a read to the leader when the call's metadata asks for it", func() {
		p := build(leader, f1, f2)
		ctx := metadata.AppendToOutgoingContext(bg, RouteHeader, "leader")
		Expect(pick(p, methodConsume, ctx)).To(Equal("leader"))
	})

	It("uses any member when the leader or the followers are not connected", func() {
		Expect(pick(build(f1), methodProduce, bg)).To(Equal("f1"))
		Expect(pick(build(leader), methodConsume, bg)).To(Equal("leader"))
		_, err := build().Pick(balancer.PickInfo{FullMethodName: methodProduce, Ctx: bg})
		Expect(err).To(MatchError(balancer.ErrNoSubConnAvailable))
	})
})
