package placement_test

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/placement"
)

func nodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i+1)
	}
	return out
}

// spread is the largest minus the smallest count over nodes.
func spread(counts map[string]int, nodes []string) int {
	lo, hi := counts[nodes[0]], counts[nodes[0]]
	for _, n := range nodes {
		lo, hi = min(lo, counts[n]), max(hi, counts[n])
	}
	return hi - lo
}

var _ = Describe("Topic names", func() {
	DescribeTable("are accepted", func(name string) {
		Expect(placement.ValidateTopic(name)).To(Succeed())
	},
		Entry("a word", "orders"),
		Entry("every allowed character", "Orders.v2_eu-West"),
		Entry("the longest", strings.Repeat("a", 200)),
		Entry("the default topic", placement.DefaultTopic),
	)
	DescribeTable("are refused with ErrInvalidTopic, saying why", func(name, why string) {
		err := placement.ValidateTopic(name)
		Expect(err).To(MatchError(placement.ErrInvalidTopic))
		Expect(err.Error()).To(ContainSubstring(why))
	},
		Entry("empty", "", "empty"),
		Entry("too long", strings.Repeat("a", 201), "201 characters"),
		Entry("a path", "a/b", `'/'`),
		Entry("a space", "a b", `' '`),
		Entry("not ASCII", "ordres-été", "byte 7"),
		Entry("the current directory", ".", "names a directory"),
		Entry("the parent directory", "..", "names a directory"),
	)
})

var _ = Describe("Keys", func() {
	// Kafka's own test values for its murmur2 (as a signed 32-bit int).
	DescribeTable("hash as Kafka's murmur2 does", func(key string, want int32) {
		Expect(int32(placement.Murmur2([]byte(key)))).To(Equal(want))
	},
		Entry(nil, "21", int32(-973932308)),
		Entry(nil, "foobar", int32(-790332482)),
		Entry(nil, "a-little-bit-long-string", int32(-985981536)),
		Entry(nil, "a-little-bit-longer-string", int32(-1486304829)),
		Entry(nil, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", int32(-58897971)),
		Entry(nil, "abc", int32(479470107)),
		Entry(nil, "1", int32(-1993445489)),
		Entry(nil, "12", int32(126087238)),
		Entry(nil, "123", int32(-267702483)),
		Entry(nil, "1234", int32(-1614185708)),
		Entry(nil, "12345", int32(-1188365604)),
	)

	It("go to the hash with its sign bit cleared, modulo the partitions", func() {
		// -790332482 is 0xd0e4e1be; without the sign bit 1357151166.
		Expect(placement.KeyPartition([]byte("foobar"), 8)).To(Equal(1357151166 % 8))
		Expect(placement.KeyPartition([]byte("foobar"), 1)).To(Equal(0))
		for _, k := range []string{"", "a", "order-17", "x"} {
			for p := 1; p <= 16; p++ {
				Expect(placement.KeyPartition([]byte(k), p)).To(BeNumerically("<", p))
				Expect(placement.KeyPartition([]byte(k), p)).To(BeNumerically(">=", 0))
			}
		}
	})
})

var _ = Describe("Placing partitions", func() {
	It("spreads 8 partitions of 3 replicas over 5 nodes: distinct nodes per partition, at most 2 leaders per node", func() {
		ns := nodes(5)
		var load placement.Load
		sets, err := placement.Place(ns, &load, 8, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(sets).To(HaveLen(8))
		leads := map[string]int{}
		for _, s := range sets {
			Expect(s).To(HaveLen(3))
			Expect(slices.Compact(slices.Sorted(slices.Values(s)))).To(HaveLen(3), "distinct nodes: %v", s)
			leads[s[0]]++
		}
		for _, n := range ns {
			Expect(leads[n]).To(BeNumerically("<=", 2), "%s leads %d of 8", n, leads[n])
			Expect(load.Replicas[n]).To(BeElementOf(4, 5))
		}
	})

	It("keeps replicas and leaders even when topics are created one after another", func() {
		ns := nodes(5)
		var load placement.Load
		for _, p := range []int{1, 3, 8, 2, 5, 1, 1, 7} {
			_, err := placement.Place(ns, &load, p, 3)
			Expect(err).NotTo(HaveOccurred())
			Expect(spread(load.Replicas, ns)).To(BeNumerically("<=", 1), "replicas %v", load.Replicas)
			Expect(spread(load.Leaders, ns)).To(BeNumerically("<=", 1), "leaders %v", load.Leaders)
		}
	})

	It("gives every node count and partition count an even spread", func() {
		for n := 1; n <= 7; n++ {
			for r := 1; r <= min(3, n); r++ {
				for p := 1; p <= 20; p++ {
					ns := nodes(n)
					var load placement.Load
					sets, err := placement.Place(ns, &load, p, r)
					Expect(err).NotTo(HaveOccurred())
					for _, s := range sets {
						Expect(slices.Compact(slices.Sorted(slices.Values(s)))).To(HaveLen(r))
					}
					Expect(spread(load.Replicas, ns)).To(BeNumerically("<=", 1), "n=%d r=%d p=%d replicas %v", n, r, p, load.Replicas)
					Expect(spread(load.Leaders, ns)).To(BeNumerically("<=", 1), "n=%d r=%d p=%d leaders %v", n, r, p, load.Leaders)
				}
			}
		}
	})

	It("decides the same whatever order the nodes come in", func() {
		var a, b placement.Load
		x, err := placement.Place([]string{"n1", "n2", "n3", "n4"}, &a, 6, 3)
		Expect(err).NotTo(HaveOccurred())
		y, err := placement.Place([]string{"n4", "n2", "n1", "n3"}, &b, 6, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(y).To(Equal(x))
	})

	DescribeTable("refuses a layout the cluster cannot hold", func(partitions, replicas, n int, want error) {
		var load placement.Load
		_, err := placement.Place(nodes(n), &load, partitions, replicas)
		Expect(err).To(MatchError(want))
		Expect(load.Replicas).To(BeEmpty(), "nothing counted")
	},
		Entry("no partitions", 0, 1, 3, placement.ErrInvalidLayout),
		Entry("too many partitions", placement.MaxPartitions+1, 1, 3, placement.ErrInvalidLayout),
		Entry("no replicas", 1, 0, 3, placement.ErrInvalidLayout),
		Entry("more replicas than nodes", 1, 4, 3, placement.ErrNotEnoughNodes),
	)
})

var _ = Describe("Repairing placements", func() {
	It("moves every replica off a node that left, to nodes the partition does not hold, evenly", func() {
		ns := nodes(5)
		var load placement.Load
		sets, err := placement.Place(ns, &load, 8, 3)
		Expect(err).NotTo(HaveOccurred())
		live := slices.DeleteFunc(slices.Clone(ns), func(n string) bool { return n == "n3" })
		lost := load.Replicas["n3"]

		moves := placement.Repair(sets, live, &load)
		Expect(moves).To(HaveLen(lost))
		for _, m := range moves {
			Expect(m.Remove).To(Equal("n3"))
			Expect(sets[m.Partition]).NotTo(ContainElement(m.Add), "a new replica on a node the partition already has")
			sets[m.Partition] = placement.Apply(sets[m.Partition], m)
		}
		for _, s := range sets {
			Expect(s).NotTo(ContainElement("n3"))
			Expect(slices.Compact(slices.Sorted(slices.Values(s)))).To(HaveLen(3))
		}
		Expect(load.Replicas["n3"]).To(BeZero())
		Expect(spread(load.Replicas, live)).To(BeNumerically("<=", 1), "replicas %v", load.Replicas)
		Expect(placement.LoadOf(sets...).Replicas).To(Equal(withoutZeros(load.Replicas)))
	})

	It("plans nothing when every replica is live, and leaves a replica when no node can take it", func() {
		var load placement.Load
		sets, err := placement.Place(nodes(3), &load, 4, 3)
		Expect(err).NotTo(HaveOccurred())
		Expect(placement.Repair(sets, nodes(3), &load)).To(BeEmpty())
		Expect(placement.Repair(sets, []string{"n1", "n2"}, &load)).To(BeEmpty(), "no third node to move to")
	})

	It("names the first live replica as the preferred leader", func() {
		up := func(n string) bool { return n != "n1" }
		Expect(placement.PreferredLeader([]string{"n1", "n2", "n3"}, up)).To(Equal("n2"))
		Expect(placement.PreferredLeader([]string{"n3", "n2"}, up)).To(Equal("n3"))
		Expect(placement.PreferredLeader([]string{"n1"}, up)).To(BeEmpty())
	})
})

func withoutZeros(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
