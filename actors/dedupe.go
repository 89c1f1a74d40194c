package actors

import (
	"actorlog/consensus"
	"actorlog/messages"
)

// producerTable is the log actor's memory of idempotent produce, the one
// the FSM keeps (consensus.ProducerTable): a repeat of an append the log
// already made is answered with its original offsets instead of being
// appended again. The FSM's appends carry such an id (FSMLog), and so do
// clients' produces when sessions are wired to the log without raft.
//
// It lives in memory and is lost when the node restarts. Recency is the
// order of the table's uses, so the producers forgotten first are the
// least recently used.
type producerTable struct {
	t    *consensus.ProducerTable
	uses uint64
}

// appliedBatch is where one (producer, sequence) landed: count records from
// first. A batch's offsets are always contiguous, so two numbers suffice.
type appliedBatch struct {
	first uint64
	count uint32
}

func newProducerTable(maxProducers, window int) *producerTable {
	return &producerTable{t: consensus.NewProducerTable(maxProducers, window)}
}

// lookup returns the batch recorded for (producer, seq), if any.
func (t *producerTable) lookup(producer string, seq uint64) (appliedBatch, bool) {
	t.uses++
	b, ok := t.t.Lookup(producer, seq, t.uses)
	if !ok {
		return appliedBatch{}, false
	}
	return appliedBatch{first: b.GetFirstOffset(), count: b.GetCount()}, true
}

// record remembers that (producer, seq) was appended at [first, first+count).
func (t *producerTable) record(producer string, seq, first uint64, count uint32) {
	t.uses++
	t.t.Remember(producer, t.uses, &messages.ProducedBatch{Sequence: seq, FirstOffset: first, Count: count})
}
