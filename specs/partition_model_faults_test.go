//go:build faults

package specs

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/anishathalye/porcupine"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The sequential specification of the log that the partition specs check
// their histories against with porcupine: a list of values that appends
// extend at the end.
//
// Operations:
//   - append(v) acknowledged at offset o: the log had exactly o records.
//   - append(v) with no answer (a timeout, or an error that leaves the
//     outcome open): it may have taken effect at any time after it was
//     sent, or never. Its return time is past the end of the history, so
//     the checker may place it after every other operation, where it is
//     the same as never having happened.
//   - consistent read at offset N returning records r with end_offset E:
//     r is the log from N on, and N+len(r) <= len(log) <= E. The upper
//     bound holds for a correct node because E is the leader's own next
//     offset when it answered, which is at least everything committed
//     before the read was sent (the barrier) and at most everything
//     applied anywhere by then.
//   - consistent read at offset N >= the end, answered offset_out_of_range
//     with next_offset E: the log had exactly E records (the leader's
//     next offset after the barrier, read at one instant).
//   - the final read of the whole log after the cluster healed: exactly r.
type linInput struct {
	append bool
	value  string // append
	offset uint64 // read
	full   bool   // the final read of the whole log
}

type linOutput struct {
	unknown bool     // append with no answer
	offset  uint64   // acknowledged append
	records []string // read
	end     uint64   // read: end_offset or next_offset
	oor     bool     // read answered offset_out_of_range
}

// logState is a persistent list: an append shares everything before it,
// so that the checker's many states cost one node each. h chains a hash of
// every value, so states compare in O(1).
type logState struct {
	prev *logState
	val  string
	n    uint64
	h    uint64
}

func (s *logState) push(v string) *logState {
	f := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(s.h >> (8 * i))
	}
	f.Write(b[:])
	f.Write([]byte(v))
	return &logState{prev: s, val: v, n: s.n + 1, h: f.Sum64()}
}

// slice returns the values at offsets [from, to); to <= s.n.
func (s *logState) slice(from, to uint64) []string {
	out := make([]string, to-from)
	for ; s.n > to; s = s.prev {
	}
	for ; s.n > from; s = s.prev {
		out[s.n-1-from] = s.val
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var logModel = porcupine.Model{
	Init: func() any { return &logState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(*logState), input.(linInput), output.(linOutput)
		switch {
		case in.append:
			if !out.unknown && s.n != out.offset {
				return false, s
			}
			return true, s.push(in.value)
		case in.full:
			return s.n == out.end && sameStrings(s.slice(0, s.n), out.records), s
		case out.oor:
			return s.n == out.end, s
		default:
			to := in.offset + uint64(len(out.records))
			if to > s.n || s.n > out.end {
				return false, s
			}
			return sameStrings(s.slice(in.offset, to), out.records), s
		}
	},
	Equal: func(a, b any) bool {
		x, y := a.(*logState), b.(*logState)
		return x == y || (x.n == y.n && x.h == y.h)
	},
	Hash: func(state any) uint64 { return state.(*logState).h },
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		switch {
		case in.append && out.unknown:
			return fmt.Sprintf("append(%s) -> ?", in.value)
		case in.append:
			return fmt.Sprintf("append(%s) -> %d", in.value, out.offset)
		case out.oor:
			return fmt.Sprintf("read(%d) -> out of range, end %d", in.offset, out.end)
		case in.full:
			return fmt.Sprintf("final read -> %d records", out.end)
		default:
			return fmt.Sprintf("read(%d) -> [%s] end %d", in.offset, strings.Join(out.records, " "), out.end)
		}
	},
	DescribeState: func(state any) string {
		s := state.(*logState)
		from := uint64(0)
		if s.n > 8 {
			from = s.n - 8
		}
		return fmt.Sprintf("%d records, ...%v", s.n, s.slice(from, s.n))
	},
}

// The model must tell a linearizable history of the log from one that is
// not, or the partition specs could not fail.
var _ = Describe("The log model of the partition specs", Label("faults"), func() {
	app := func(client int, v string, call, ret int64, off uint64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{append: true, value: v}, Call: call,
			Output: linOutput{offset: off}, Return: ret}
	}
	read := func(client int, from uint64, call, ret int64, end uint64, recs ...string) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{offset: from}, Call: call,
			Output: linOutput{records: recs, end: end}, Return: ret}
	}
	tail := func(client int, from uint64, call, ret int64, end uint64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{offset: from}, Call: call,
			Output: linOutput{oor: true, end: end}, Return: ret}
	}
	full := func(call int64, recs ...string) porcupine.Operation {
		return porcupine.Operation{ClientId: 9, Input: linInput{full: true}, Call: call,
			Output: linOutput{records: recs, end: uint64(len(recs))}, Return: call + 1}
	}
	check := func(ops ...porcupine.Operation) bool { return porcupine.CheckOperations(logModel, ops) }

	It("accepts appends and reads that agree", func() {
		Expect(check(
			app(0, "a", 0, 10, 0), app(1, "b", 5, 20, 1),
			read(2, 0, 21, 30, 2, "a", "b"), tail(2, 2, 31, 40, 2),
			full(50, "a", "b"),
		)).To(BeTrue())
	})
	It("accepts concurrent appends committed in the other order", func() {
		Expect(check(app(0, "a", 0, 10, 1), app(1, "b", 1, 9, 0), full(20, "b", "a"))).To(BeTrue())
	})
	It("accepts a read that saw a concurrent append", func() {
		Expect(check(app(0, "a", 0, 10, 0), read(1, 0, 2, 5, 1, "a"), full(20, "a"))).To(BeTrue())
	})
	It("refuses a stale read: the end of the log before an acknowledged append", func() {
		Expect(check(app(0, "a", 0, 10, 0), tail(1, 0, 11, 20, 0), full(30, "a"))).To(BeFalse())
	})
	It("refuses a read that returns records past an end it reports", func() {
		Expect(check(app(0, "a", 0, 10, 0), app(0, "b", 11, 20, 1), read(1, 0, 21, 30, 1, "a", "b"), full(40, "a", "b"))).To(BeFalse())
	})
	It("refuses a read that sees other bytes than were appended", func() {
		Expect(check(app(0, "a", 0, 10, 0), read(1, 0, 11, 20, 1, "x"), full(30, "a"))).To(BeFalse())
	})
	It("refuses two appends acknowledged at one offset", func() {
		Expect(check(app(0, "a", 0, 10, 0), app(1, "b", 11, 20, 0), full(30, "a", "b"))).To(BeFalse())
	})
	It("refuses an acknowledged append missing from the final log", func() {
		Expect(check(app(0, "a", 0, 10, 0), app(1, "b", 11, 20, 1), full(30, "a"))).To(BeFalse())
	})
	It("refuses a read of a record that was then lost", func() {
		Expect(check(
			porcupine.Operation{ClientId: 0, Input: linInput{append: true, value: "a"}, Call: 0,
				Output: linOutput{offset: 0}, Return: 1000},
			read(1, 0, 1, 5, 1, "a"), full(30, "b"), app(2, "b", 6, 9, 0),
		)).To(BeFalse())
	})
})
