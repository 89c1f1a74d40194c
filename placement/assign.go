package placement

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotEnoughNodes is wrapped when a replication factor asks for more
// distinct nodes than there are.
var ErrNotEnoughNodes = errors.New("not enough nodes")

// ErrInvalidLayout is wrapped when a partition count or replication factor
// is out of range.
var ErrInvalidLayout = errors.New("invalid partitions or replication factor")

// MaxPartitions bounds the partitions of one topic: each is a raft group
// of its own on every node that holds a replica.
const MaxPartitions = 1024

// Load counts, per node id, the partition replicas the node holds and the
// partitions it is the preferred leader of, over every topic. Place and
// Repair read it to spread new replicas and update it as they decide.
type Load struct {
	Replicas map[string]int
	Leaders  map[string]int
}

// LoadOf counts the replica sets given (each a partition's nodes, the
// preferred leader first).
func LoadOf(sets ...[]string) Load {
	l := Load{Replicas: map[string]int{}, Leaders: map[string]int{}}
	for _, s := range sets {
		l.Add(s)
	}
	return l
}

// Add counts one partition's replica set.
func (l *Load) Add(set []string) {
	l.init()
	for i, n := range set {
		l.Replicas[n]++
		if i == 0 {
			l.Leaders[n]++
		}
	}
}

func (l *Load) init() {
	if l.Replicas == nil {
		l.Replicas = map[string]int{}
	}
	if l.Leaders == nil {
		l.Leaders = map[string]int{}
	}
}

// byReplicas orders nodes by the replicas they hold, then the partitions
// they lead, then id: the first is where a new replica goes.
func (l *Load) byReplicas(a, b string) int {
	if d := l.Replicas[a] - l.Replicas[b]; d != 0 {
		return d
	}
	if d := l.Leaders[a] - l.Leaders[b]; d != 0 {
		return d
	}
	return strings.Compare(a, b)
}

// ValidateLayout checks a partition count and replication factor against
// a cluster of nodes nodes.
func ValidateLayout(partitions, replicas, nodes int) error {
	switch {
	case partitions < 1 || partitions > MaxPartitions:
		return fmt.Errorf("%w: %d partitions (use 1 to %d)", ErrInvalidLayout, partitions, MaxPartitions)
	case replicas < 1:
		return fmt.Errorf("%w: replication factor %d (use at least 1)", ErrInvalidLayout, replicas)
	case replicas > nodes:
		return fmt.Errorf("%w: replication factor %d needs %d nodes, the cluster has %d", ErrNotEnoughNodes, replicas, replicas, nodes)
	}
	return nil
}

// Place returns the replica sets of partitions new partitions with
// replicas replicas each, on nodes, and counts them into load. A set is
// the replicas nodes that hold the fewest replicas so far (so replicas
// never differ by more than one between nodes), and its first node, the
// partition's preferred leader, is the one of them that leads the fewest
// partitions. nodes may be in any order and must not repeat.
func Place(nodes []string, load *Load, partitions, replicas int) ([][]string, error) {
	if err := ValidateLayout(partitions, replicas, len(nodes)); err != nil {
		return nil, err
	}
	load.init()
	sets := make([][]string, partitions)
	for p := range sets {
		sets[p] = load.next(nodes, replicas)
		load.Add(sets[p])
	}
	return sets, nil
}

// next picks one new replica set. To keep the replica counts within one
// of each other it must take every node holding fewer than the
// replicas-th smallest count v, and fill up with nodes holding exactly v.
// Within that freedom it first takes the eligible node leading the fewest
// partitions, as the set's leader, and then fills up with the nodes that
// lead the most, which leaves those that lead few for the next sets to
// pick as their leaders.
func (l *Load) next(nodes []string, replicas int) []string {
	byCount := slices.Clone(nodes)
	slices.SortFunc(byCount, l.byReplicas)
	v := l.Replicas[byCount[replicas-1]]
	var must, may []string
	for _, n := range byCount {
		switch c := l.Replicas[n]; {
		case c < v:
			must = append(must, n)
		case c == v:
			may = append(may, n)
		}
	}
	eligible := append(slices.Clone(must), may...)
	leader := slices.MinFunc(eligible, func(a, b string) int {
		if d := l.Leaders[a] - l.Leaders[b]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	set := []string{leader}
	for _, n := range must {
		if n != leader {
			set = append(set, n)
		}
	}
	slices.SortFunc(may, func(a, b string) int {
		if d := l.Leaders[b] - l.Leaders[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, n := range may {
		if len(set) == replicas {
			break
		}
		if n != leader {
			set = append(set, n)
		}
	}
	return set
}

// Move replaces one replica of a partition: Add is created and catches up
// before Remove is dropped, so the partition never holds fewer replicas
// than it did.
type Move struct {
	Partition int
	Add       string
	Remove    string
}

// Repair plans the moves that take every replica in sets (indexed by
// partition) off nodes that are not in live, and updates load as if they
// were done. A lost replica is replaced by a live node that the partition
// does not already have, chosen to leave the replica counts as even as
// those constraints allow; when there is none (fewer live nodes than
// replicas) the replica stays where it is until a node joins. Moves are in
// partition order.
func Repair(sets [][]string, live []string, load *Load) []Move {
	load.init()
	isLive := make(map[string]bool, len(live))
	for _, n := range live {
		isLive[n] = true
	}
	var moves []Move
	var options [][]string // per move, the nodes it may go to
	for p, set := range sets {
		for i, n := range set {
			if isLive[n] {
				continue
			}
			var can []string
			for _, c := range live {
				if !slices.Contains(set, c) {
					can = append(can, c)
				}
			}
			if len(can) == 0 {
				continue
			}
			// Each replica lost by a partition needs a node of its own.
			can = slices.DeleteFunc(can, func(c string) bool { return addsTo(moves, p, c) })
			if len(can) == 0 {
				continue
			}
			best := slices.MinFunc(can, load.byReplicas)
			moves = append(moves, Move{Partition: p, Add: best, Remove: n})
			options = append(options, can)
			load.Replicas[best]++
			load.Replicas[n]--
			if i == 0 {
				load.Leaders[best]++
				load.Leaders[n]--
			}
		}
	}
	// Taking the least loaded node move by move can end uneven, because
	// each move has only the nodes its partition lacks to choose from.
	// Move a replica to a node with at least two fewer while one exists.
	for improved := true; improved; {
		improved = false
		for k := range moves {
			m := &moves[k]
			for _, c := range options[k] {
				if c == m.Add || load.Replicas[c]+1 >= load.Replicas[m.Add] || addsTo(moves, m.Partition, c) {
					continue
				}
				load.Replicas[m.Add]--
				load.Replicas[c]++
				if sets[m.Partition][0] == m.Remove {
					load.Leaders[m.Add]--
					load.Leaders[c]++
				}
				m.Add = c
				improved = true
			}
		}
	}
	return moves
}

// addsTo reports whether moves already add node to partition p.
func addsTo(moves []Move, p int, node string) bool {
	return slices.ContainsFunc(moves, func(m Move) bool { return m.Partition == p && m.Add == node })
}

// Apply returns set with the move done: Add takes Remove's place, so it is
// the preferred leader when Remove was.
func Apply(set []string, m Move) []string {
	out := slices.Clone(set)
	if i := slices.Index(out, m.Remove); i >= 0 {
		out[i] = m.Add
	}
	return out
}

// PreferredLeader is the replica of set that should lead: the first one
// up for it (isUp, such as "live and in sync"), or "" when none is.
func PreferredLeader(set []string, isUp func(node string) bool) string {
	for _, n := range set {
		if isUp(n) {
			return n
		}
	}
	return ""
}
