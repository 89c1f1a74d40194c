package consensus

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync/atomic"

	"actorlog/messages"
	"github.com/cespare/xxhash/v2"
)

// Replicas check each other (docs/DESIGN.md, "Replicas check each other").
//
// Every replica feeds every record it applies (offset, timestamp, length,
// value) into one running xxhash64 digest: the digest's value after the
// record at offset N-1 is a checksum of the whole log up to N, the same on
// every replica that applied the same records. The leader periodically
// commits a Checkpoint entry; each replica remembers its checksum when it
// applies it. The leader then commits a Verify entry with its own checksum
// at that index, and each replica compares. A mismatch is divergence, from
// a raft bug (hashicorp/raft issue 695) or one still unknown; the FSM
// reports it through FSMConfig.OnDivergence and the node repairs the
// replica.

// checkpointsKept is how many checkpoint checksums a replica remembers
// while it waits for their Verify entries; the leader commits a Verify
// right after its Checkpoint, so a few are plenty.
const checkpointsKept = 16

// Checksum is a replica's checksum of its log at a checkpoint.
type Checksum struct {
	// Index is the raft index of the Checkpoint entry.
	Index uint64
	// Next is the replica's next offset there: the checksum covers every
	// record below it.
	Next uint64
	// Sum is the running digest's value there.
	Sum uint64
}

// Divergence describes a replica whose checksum differs from the
// leader's at a checkpoint.
type Divergence struct {
	// Local and Leader are the two checksums at the same checkpoint.
	Local, Leader Checksum
	// LastGood is the latest checkpoint at which this replica matched the
	// leader (zero when none has since the FSM opened): every record below
	// LastGood.Next is known good.
	LastGood Checksum
}

func (d Divergence) String() string {
	return fmt.Sprintf("at raft index %d: leader next offset %d checksum %016x, this replica next offset %d checksum %016x; last match at index %d (offsets below %d)",
		d.Local.Index, d.Leader.Next, d.Leader.Sum, d.Local.Next, d.Local.Sum, d.LastGood.Index, d.LastGood.Next)
}

// CheckStats counts the checks a replica made.
type CheckStats struct {
	// Matched, Mismatched and Unknown count Verify entries: equal,
	// different, or for a checkpoint this replica has no checksum of
	// (it was restored from a snapshot taken after the checkpoint).
	Matched, Mismatched, Unknown uint64
}

// checker is the FSM's part that keeps the running checksum. Its fields
// are guarded by FSM.mu, except the counters and the fault.
type checker struct {
	digest   *xxhash.Digest
	recent   []Checksum // the last checkpointsKept checkpoints, oldest first
	lastGood Checksum
	hdr      [20]byte

	matched, mismatched, unknown atomic.Uint64
	// flip is an offset whose record this replica alters when it applies
	// it (fault injection for specs), or -1.
	flip atomic.Int64
}

func (c *checker) init() {
	c.digest = xxhash.New()
	c.flip.Store(-1)
}

// addLocked feeds one record into the digest. The record at the fault
// offset, if any, is altered first (on a copy: values alias raft's entry);
// altered says so.
func (c *checker) addLocked(r *messages.Record, offset uint64, ts int64) (altered bool) {
	if f := c.flip.Load(); f >= 0 && uint64(f) == offset && c.flip.CompareAndSwap(f, -1) {
		altered = true
		v := append([]byte(nil), r.GetValue()...)
		if len(v) == 0 {
			v = []byte{0}
		}
		v[0] ^= 0x01
		r.Value = v
	}
	binary.LittleEndian.PutUint64(c.hdr[0:8], offset)
	binary.LittleEndian.PutUint64(c.hdr[8:16], uint64(ts))
	binary.LittleEndian.PutUint32(c.hdr[16:20], uint32(len(r.GetValue())))
	_, _ = c.digest.Write(c.hdr[:])
	_, _ = c.digest.Write(r.GetValue())
	return altered
}

// checkpointLocked remembers the checksum at a Checkpoint entry.
func (c *checker) checkpointLocked(index, next uint64) Checksum {
	cs := Checksum{Index: index, Next: next, Sum: c.digest.Sum64()}
	c.recent = append(c.recent, cs)
	if len(c.recent) > checkpointsKept {
		c.recent = c.recent[len(c.recent)-checkpointsKept:]
	}
	return cs
}

// verifyLocked compares the leader's checksum with this replica's. It
// returns the divergence, if any, and whether the checkpoint was known.
func (c *checker) verifyLocked(v *messages.Verify) (d *Divergence, local Checksum, known bool) {
	i := sort.Search(len(c.recent), func(i int) bool { return c.recent[i].Index >= v.GetIndex() })
	if i == len(c.recent) || c.recent[i].Index != v.GetIndex() {
		c.unknown.Add(1)
		return nil, Checksum{}, false
	}
	local = c.recent[i]
	leader := Checksum{Index: v.GetIndex(), Next: v.GetNextOffset(), Sum: v.GetChecksum()}
	if local == leader {
		c.matched.Add(1)
		c.lastGood = local
		return nil, local, true
	}
	c.mismatched.Add(1)
	return &Divergence{Local: local, Leader: leader, LastGood: c.lastGood}, local, true
}

// lookupLocked returns the checksum at a checkpoint index, if remembered.
func (c *checker) lookupLocked(index uint64) (Checksum, bool) {
	for _, cs := range c.recent {
		if cs.Index == index {
			return cs, true
		}
	}
	return Checksum{}, false
}

func (c *checker) stateLocked() []byte {
	b, _ := c.digest.MarshalBinary() // cannot fail
	return b
}

func (c *checker) loadLocked(b []byte) error {
	d := xxhash.New()
	if len(b) > 0 {
		if err := d.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("%w: checksum state: %w", ErrCorrupt, err)
		}
	}
	c.digest, c.recent, c.lastGood = d, nil, Checksum{}
	return nil
}

// CheckStats returns the counts of the checks this replica made.
func (f *FSM) CheckStats() CheckStats {
	return CheckStats{Matched: f.ck.matched.Load(), Mismatched: f.ck.mismatched.Load(), Unknown: f.ck.unknown.Load()}
}

// ChecksumAt returns this replica's checksum at a recent checkpoint.
func (f *FSM) ChecksumAt(index uint64) (Checksum, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ck.lookupLocked(index)
}

// InjectDivergence makes this replica alter the record at offset when it
// applies it (once), as a bug would: a fault for specs of the checker. The
// offset must not be applied yet.
func (f *FSM) InjectDivergence(offset uint64) error {
	f.mu.Lock()
	next := f.next
	f.mu.Unlock()
	if offset < next {
		return fmt.Errorf("%w: offset %d is already applied (next offset %d)", ErrInvalidArgument, offset, next)
	}
	f.ck.flip.Store(int64(offset))
	return nil
}

// UnderRepair reports whether a member is held for repair: it must not be
// made a voter until it clears the hold.
func (f *FSM) UnderRepair(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.repairing[id]
	return ok
}
