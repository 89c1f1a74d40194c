package consensus

import (
	"slices"
	"sort"

	"actorlog/messages"
)

// ProducerTable is the memory of idempotent produce: for each recent
// producer, where its most recent sequences landed, so that a repeat of a
// (producer, sequence) is answered with the original offsets instead of
// being appended again. The FSM keeps one in its state, identical on every
// replica; the node's log actor keeps one for the FSM's own appends.
//
// Recency is measured by a position the caller gives, never by a clock:
// the FSM gives raft indexes, so that every replica evicts the same
// producers. Memory is bounded twice: at most window sequences per
// producer (the oldest is forgotten first) and at most maxProducers
// producers (past that, the tenth least recently used are forgotten at
// once, so that eviction costs one sort per many new producers). A repeat
// older than that is appended again; clients retry within seconds, far
// inside either bound.
//
// A ProducerTable is not safe for concurrent use.
type ProducerTable struct {
	maxProducers int
	window       int
	byID         map[string]*producerEntry
}

type producerEntry struct {
	last    uint64                    // the position of its last use
	batches []*messages.ProducedBatch // oldest first, at most window
}

// NewProducerTable returns an empty table that keeps at most maxProducers
// producers and window sequences for each.
func NewProducerTable(maxProducers, window int) *ProducerTable {
	return &ProducerTable{maxProducers: maxProducers, window: window, byID: map[string]*producerEntry{}}
}

// Lookup returns where (producer, seq) landed, if the table remembers it;
// a hit is a use of the producer at position at.
func (t *ProducerTable) Lookup(producer string, seq, at uint64) (*messages.ProducedBatch, bool) {
	p, ok := t.byID[producer]
	if !ok {
		return nil, false
	}
	for _, b := range p.batches {
		if b.GetSequence() == seq {
			p.last = at
			return b, true
		}
	}
	return nil, false
}

// Remember records b, a batch of producer appended at position at.
func (t *ProducerTable) Remember(producer string, at uint64, b *messages.ProducedBatch) {
	p, ok := t.byID[producer]
	if !ok {
		p = &producerEntry{}
		t.byID[producer] = p
	}
	p.last = at
	p.batches = append(p.batches, b)
	if len(p.batches) > t.window {
		p.batches = slices.Delete(p.batches, 0, len(p.batches)-t.window)
	}
	if len(t.byID) > t.maxProducers {
		type aged struct {
			id   string
			last uint64
		}
		all := make([]aged, 0, len(t.byID))
		for id, p := range t.byID {
			all = append(all, aged{id, p.last})
		}
		sort.Slice(all, func(i, j int) bool {
			if all[i].last != all[j].last {
				return all[i].last < all[j].last
			}
			return all[i].id < all[j].id
		})
		for _, a := range all[:len(all)-t.maxProducers*9/10] {
			delete(t.byID, a.id)
		}
	}
}

// Len returns the number of producers remembered.
func (t *ProducerTable) Len() int { return len(t.byID) }

// State returns the table as the FSM's state stores it, sorted by
// producer id.
func (t *ProducerTable) State() []*messages.ProducerState {
	ids := make([]string, 0, len(t.byID))
	for id := range t.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []*messages.ProducerState
	for _, id := range ids {
		p := t.byID[id]
		out = append(out, &messages.ProducerState{ProducerId: id, LastIndex: p.last, Batches: p.batches})
	}
	return out
}

// Load replaces the table's contents with st, a State.
func (t *ProducerTable) Load(st []*messages.ProducerState) {
	t.byID = make(map[string]*producerEntry, len(st))
	for _, p := range st {
		t.byID[p.GetProducerId()] = &producerEntry{last: p.GetLastIndex(), batches: p.GetBatches()}
	}
}
