package actors

import (
	"errors"
	"time"

	"actorlog/discovery"
	"actorlog/messages"
	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The membership reconcile plan", func() {
	const grace, leave = 30 * time.Second, 10 * time.Second
	t0 := time.Unix(1000, 0)
	voter := func(id string) raft.Server {
		return raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":1")}
	}
	member := func(id string, st discovery.Status) discovery.Member {
		return discovery.Member{ID: id, ActorAddr: id + ":2", RaftAddr: id + ":1", HTTPAddr: id + ":3", Status: st}
	}
	known := func(id string) (*messages.Member, bool) {
		return &messages.Member{Id: id, ActorAddress: id + ":2", RaftAddress: id + ":1", HttpAddress: id + ":3"}, true
	}
	var st since
	BeforeEach(func() { st = since{map[string]time.Time{}, map[string]time.Time{}} })
	three := []raft.Server{voter("a"), voter("b"), voter("c")}
	ids := func(p reconcilePlan) []string {
		var out []string
		for _, m := range p.add {
			out = append(out, m.GetId())
		}
		return out
	}

	It("adds a passing member that is not a voter, and nothing when all agree", func() {
		ms := []discovery.Member{member("a", "passing"), member("b", "passing"), member("c", "passing"), member("d", "passing")}
		p := planReconcile("a", ms, three, known, st, t0, grace, leave)
		Expect(ids(p)).To(Equal([]string{"d"}))
		Expect(p.remove).To(BeEmpty())
		p = planReconcile("a", ms[:3], three, known, st, t0, grace, leave)
		Expect(p.add).To(BeEmpty())
		Expect(p.remove).To(BeEmpty())
	})

	It("removes a member that left only after the leave delay, and a critical one only after the grace period", func() {
		ms := []discovery.Member{member("a", "passing"), member("b", "passing")}
		Expect(planReconcile("a", ms, three, known, st, t0, grace, leave).remove).To(BeEmpty())
		Expect(planReconcile("a", ms, three, known, st, t0.Add(leave), grace, leave).remove).To(Equal([]string{"c"}))

		st = since{map[string]time.Time{}, map[string]time.Time{}}
		ms = append(ms, member("c", "critical"))
		Expect(planReconcile("a", ms, three, known, st, t0, grace, leave).remove).To(BeEmpty())
		Expect(planReconcile("a", ms, three, known, st, t0.Add(grace/2), grace, leave).remove).To(BeEmpty())
		Expect(planReconcile("a", ms, three, known, st, t0.Add(grace), grace, leave).remove).To(Equal([]string{"c"}))
	})

	It("forgets a critical spell once the member passes again", func() {
		ms := []discovery.Member{member("a", "passing"), member("b", "passing"), member("c", "critical")}
		planReconcile("a", ms, three, known, st, t0, grace, leave)
		ms[2].Status = "passing"
		planReconcile("a", ms, three, known, st, t0.Add(grace/2), grace, leave)
		ms[2].Status = "critical"
		Expect(planReconcile("a", ms, three, known, st, t0.Add(grace), grace, leave).remove).To(BeEmpty())
	})

	It("never removes the leader itself, nor anything while fewer than a majority of the voters pass", func() {
		// A Consul agent that restarted and knows only one node yet.
		ms := []discovery.Member{member("a", "passing")}
		Expect(planReconcile("a", ms, three, known, st, t0.Add(time.Hour), grace, leave).remove).To(BeEmpty())
		Expect(planReconcile("a", ms, three, known, st, t0.Add(2*time.Hour), grace, leave).remove).To(BeEmpty())
		ms = []discovery.Member{member("b", "passing"), member("c", "passing")}
		Expect(planReconcile("a", ms, three, known, st, t0, grace, leave).remove).To(BeEmpty())
		Expect(planReconcile("a", ms, three, known, st, t0.Add(time.Hour), grace, leave).remove).To(BeEmpty())
	})

	It("removes at most one voter per round", func() {
		five := append(three, voter("d"), voter("e"))
		ms := []discovery.Member{member("a", "passing"), member("b", "passing"), member("c", "passing")}
		planReconcile("a", ms, five, known, st, t0, grace, leave)
		Expect(planReconcile("a", ms, five, known, st, t0.Add(leave), grace, leave).remove).To(HaveLen(1))
	})

	It("keeps a voter that warns, and counts it towards the majority that allows removals", func() {
		ms := []discovery.Member{member("a", "passing"), member("b", "warning")}
		Expect(planReconcile("a", ms, three, known, st, t0, grace, leave).remove).To(BeEmpty())
		p := planReconcile("a", ms, three, known, st, t0.Add(time.Hour), grace, leave)
		Expect(p.remove).To(Equal([]string{"c"}))
		Expect(p.add).To(BeEmpty(), "a warning member is not added")
	})
})

var _ = Describe("The health a node reports to Consul", func() {
	It("is critical when the node cannot serve, warning without a raft leader for a while, else passing", func() {
		st, note := healthStatus(errors.New("disk full"), 0)
		Expect(st).To(Equal(discovery.StatusCritical))
		Expect(note).To(Equal("disk full"))
		st, _ = healthStatus(nil, LeaderlessWarning+time.Second)
		Expect(st).To(Equal(discovery.StatusWarning))
		st, _ = healthStatus(nil, LeaderlessWarning/2)
		Expect(st).To(Equal(discovery.StatusPassing))
	})
})
