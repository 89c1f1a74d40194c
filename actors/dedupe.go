package actors

import "container/list"

// producerTable remembers, for the most recent producers, the offsets that
// their most recent sequences were appended at, so that a retried
// ProduceRequest is answered with the original offsets instead of being
// appended again.
//
// It lives in memory, owned by the log actor, and is lost when the node
// restarts. Consensus will move it into the raft FSM, where it becomes
// durable and identical on every replica; it is kept in this one small type
// so that the move is a lift and shift.
//
// Memory is bounded twice: at most maxProducers producers (the least
// recently used one is forgotten first) and at most window sequences per
// producer (the oldest is forgotten first). A retry older than that is
// appended again; clients retry within seconds, far inside either bound.
type producerTable struct {
	maxProducers int
	window       int
	lru          *list.List // of *producerState, most recently used at the front
	byID         map[string]*list.Element
}

// appliedBatch is where one (producer, sequence) landed: count records from
// first. A batch's offsets are always contiguous, so two numbers suffice.
type appliedBatch struct {
	seq   uint64
	first uint64
	count uint32
}

type producerState struct {
	id    string
	ring  []appliedBatch // the last len(ring) <= window batches
	start int            // index of the oldest entry once the ring is full
}

func newProducerTable(maxProducers, window int) *producerTable {
	return &producerTable{
		maxProducers: maxProducers,
		window:       window,
		lru:          list.New(),
		byID:         make(map[string]*list.Element),
	}
}

// lookup returns the batch recorded for (producer, seq), if any.
func (t *producerTable) lookup(producer string, seq uint64) (appliedBatch, bool) {
	e, ok := t.byID[producer]
	if !ok {
		return appliedBatch{}, false
	}
	t.lru.MoveToFront(e)
	for _, b := range e.Value.(*producerState).ring {
		if b.seq == seq {
			return b, true
		}
	}
	return appliedBatch{}, false
}

// record remembers that (producer, seq) was appended at [first, first+count).
func (t *producerTable) record(producer string, seq, first uint64, count uint32) {
	e, ok := t.byID[producer]
	if !ok {
		if t.lru.Len() >= t.maxProducers {
			oldest := t.lru.Back()
			t.lru.Remove(oldest)
			delete(t.byID, oldest.Value.(*producerState).id)
		}
		e = t.lru.PushFront(&producerState{id: producer, ring: make([]appliedBatch, 0, min(t.window, 4))})
		t.byID[producer] = e
	} else {
		t.lru.MoveToFront(e)
	}
	p := e.Value.(*producerState)
	b := appliedBatch{seq: seq, first: first, count: count}
	if len(p.ring) < t.window {
		p.ring = append(p.ring, b)
		return
	}
	p.ring[p.start] = b
	p.start = (p.start + 1) % t.window
}

// len returns the number of producers remembered.
func (t *producerTable) len() int { return t.lru.Len() }
