package actors

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/asynkron/protoactor-go/actor"
)

// The log's core, driven without an actor system: events in, commands out.

const testEpoch = 7

type coreRig struct {
	t   *testing.T
	c   *logCore
	now time.Time
	// spawned are the spawns the core asked for, in order.
	spawned []segmentSpawn
	// spawnErr fails the next spawns.
	spawnErr error
}

func segPID(base uint64) *actor.PID { return actor.NewPID("test", "log/"+segmentName(base)) }

func client(name string) *actor.PID { return actor.NewPID("test", name) }

func newCoreRig(t *testing.T, configure func(*LogConfig)) *coreRig {
	t.Helper()
	cfg := LogConfig{Dir: "unused", SegmentIdleTimeout: time.Minute}
	if configure != nil {
		configure(&cfg)
	}
	r := &coreRig{t: t, now: time.Unix(1_700_000_000, 0)}
	cfg = cfg.withDefaults()
	r.c = newLogCore(cfg, cfg.Logger, testEpoch, func(s segmentSpawn) (*actor.PID, error) {
		if r.spawnErr != nil {
			return nil, r.spawnErr
		}
		r.spawned = append(r.spawned, s)
		return segPID(s.base), nil
	})
	return r
}

func (r *coreRig) step(from *actor.PID, ev logEvent) []logCmd {
	r.t.Helper()
	return r.c.step(r.now, from, ev)
}

// open starts the log on the given segments (the last one active, its
// size unused) and has the active segment report next as its end.
func (r *coreRig) open(next uint64, segs ...diskSegment) []logCmd {
	r.t.Helper()
	r.step(nil, evStart{segments: segs})
	active := segs[len(segs)-1].base
	return r.step(segPID(active), &messages.SegmentReady{Epoch: testEpoch, BaseOffset: active, NextOffset: next})
}

// sent returns the messages of type T that cmds send to to, in order.
func sent[T any](cmds []logCmd, to *actor.PID) []T {
	var out []T
	for _, c := range cmds {
		switch c.kind {
		case cmdSend, cmdCtxSend, cmdAppend, cmdRespond, cmdForward:
		default:
			continue
		}
		if to != nil && !c.to.Equal(to) {
			continue
		}
		if m, ok := c.msg.(T); ok {
			out = append(out, m)
		}
	}
	return out
}

func one[T any](t *testing.T, cmds []logCmd, to *actor.PID) T {
	t.Helper()
	got := sent[T](cmds, to)
	if len(got) != 1 {
		var zero T
		t.Fatalf("want one %T to %v, got %d in %s", zero, to, len(got), describe(cmds))
	}
	return got[0]
}

func has(cmds []logCmd, kind cmdKind) bool {
	for _, c := range cmds {
		if c.kind == kind {
			return true
		}
	}
	return false
}

func describe(cmds []logCmd) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "[%d %v %T] ", c.kind, c.to, c.msg)
	}
	return b.String()
}

func produceOf(vals ...string) evProduce {
	recs := make([]*messages.Record, len(vals))
	for i, v := range vals {
		recs[i] = &messages.Record{Value: []byte(v)}
	}
	return evProduce{req: &messages.ProduceRequest{Records: recs}}
}

// appendedAll answers an append by writing all its records.
func appendedAll(m *messages.SegmentAppend, first uint64, full bool) *messages.SegmentAppended {
	n := uint64(len(m.GetRecords()))
	return &messages.SegmentAppended{Epoch: testEpoch, RequestId: m.GetRequestId(), FirstOffset: first,
		Count: uint32(n), NextOffset: first + n, SizeBytes: 100 * (first + n), Full: full}
}

func offsetsOf(t *testing.T, cmds []logCmd, to *actor.PID) []uint64 {
	t.Helper()
	return one[*messages.ProduceResponse](t, cmds, to).GetOffsets()
}

func TestLogCoreStartup(t *testing.T) {
	cases := []struct {
		name      string
		segs      []diskSegment
		next      uint64
		wantLow   uint64
		wantNext  uint64
		healthy   bool
		wantSpawn []uint64
	}{
		{"an empty directory", []diskSegment{{base: 0}}, 0, 0, 0, true, []uint64{0}},
		{"sealed segments stay closed", []diskSegment{{base: 0}, {base: 10}, {base: 20}}, 25, 0, 25, true, []uint64{20}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newCoreRig(t, nil)
			r.open(tc.next, tc.segs...)
			st := r.c.status()
			if !st.GetReady() || st.GetHealthy() != tc.healthy {
				t.Fatalf("ready %v healthy %v, want ready and healthy %v", st.GetReady(), st.GetHealthy(), tc.healthy)
			}
			if tc.healthy && (st.GetLowOffset() != tc.wantLow || st.GetNextOffset() != tc.wantNext) {
				t.Fatalf("range [%d, %d), want [%d, %d)", st.GetLowOffset(), st.GetNextOffset(), tc.wantLow, tc.wantNext)
			}
			var bases []uint64
			for _, s := range r.spawned {
				bases = append(bases, s.base)
			}
			if fmt.Sprint(bases) != fmt.Sprint(tc.wantSpawn) {
				t.Fatalf("spawned %v, want %v", bases, tc.wantSpawn)
			}
		})
	}
}

// A log whose active segment cannot be spawned is ready, unhealthy, and
// refuses appends.
func TestLogCoreStartupFailure(t *testing.T) {
	r := newCoreRig(t, nil)
	r.spawnErr = errors.New("name taken")
	r.step(nil, evStart{segments: []diskSegment{{base: 0}}})
	st := r.c.status()
	if !st.GetReady() || st.GetHealthy() || !strings.Contains(st.GetReason(), "name taken") {
		t.Fatalf("status %v", st)
	}
	p := client("p")
	one[*messages.Unavailable](t, r.step(p, produceOf("a")), p)
}

func TestLogCoreDefersRequestsUntilReady(t *testing.T) {
	r := newCoreRig(t, nil)
	r.step(nil, evStart{segments: []diskSegment{{base: 0}}})
	p, st := client("p"), client("status")
	if cmds := r.step(p, produceOf("a")); len(cmds) != 0 {
		t.Fatalf("a produce before ready did something: %s", describe(cmds))
	}
	r.step(st, &messages.LogStatusRequest{WaitReady: true})
	cmds := r.step(segPID(0), &messages.SegmentReady{Epoch: testEpoch, BaseOffset: 0})
	if !one[*messages.LogStatus](t, cmds, st).GetReady() {
		t.Fatal("the status waiter was answered before ready")
	}
	one[*messages.SegmentAppend](t, cmds, segPID(0))
	for _, k := range []timerKind{timerRetention, timerIdle, timerScrub} {
		armed := false
		for _, c := range cmds {
			armed = armed || (c.kind == cmdArm && c.timer == k)
		}
		if k == timerRetention && armed {
			t.Fatal("retention armed without a retention limit")
		}
		if k != timerRetention && !armed {
			t.Fatalf("timer %d not armed at ready", k)
		}
	}
}

// Appends go one at a time; what queues meanwhile goes out as one batch,
// and the replies keep the order of the requests.
func TestLogCoreGroupCommitAndReplyOrder(t *testing.T) {
	r := newCoreRig(t, nil)
	r.open(0, diskSegment{base: 0})
	p1, p2, p3 := client("p1"), client("p2"), client("p3")
	first := one[*messages.SegmentAppend](t, r.step(p1, produceOf("a", "b")), segPID(0))
	if cmds := r.step(p2, produceOf("c")); len(cmds) != 0 {
		t.Fatalf("a second append went out while one is in flight: %s", describe(cmds))
	}
	r.step(p3, produceOf("d", "e"))
	cmds := r.step(segPID(0), appendedAll(first, 0, false))
	if got := offsetsOf(t, cmds, p1); fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("p1 got %v", got)
	}
	second := one[*messages.SegmentAppend](t, cmds, segPID(0))
	if len(second.GetRecords()) != 3 {
		t.Fatalf("the queued requests were not coalesced: %d records", len(second.GetRecords()))
	}
	if second.GetTimestampUnixNano() != r.now.UnixNano() {
		t.Fatal("the append is not stamped with the event's time")
	}
	cmds = r.step(segPID(0), appendedAll(second, 2, false))
	var order []string
	for _, c := range cmds {
		if resp, ok := c.msg.(*messages.ProduceResponse); ok {
			order = append(order, fmt.Sprintf("%s%v", c.to.GetId(), resp.GetOffsets()))
		}
	}
	if fmt.Sprint(order) != "[p2[2] p3[3 4]]" {
		t.Fatalf("replies %v", order)
	}
	if r.c.status().GetNextOffset() != 5 {
		t.Fatalf("next %d", r.c.status().GetNextOffset())
	}
}

func TestLogCoreRollOver(t *testing.T) {
	cases := []struct {
		name string
		// answer answers the first append.
		answer func(m *messages.SegmentAppend) *messages.SegmentAppended
		// wantFirst is the offset of the first record of the append the
		// new segment gets.
		wantFirst int
	}{
		{"a full segment rolls after the append", func(m *messages.SegmentAppend) *messages.SegmentAppended {
			return appendedAll(m, 3, true)
		}, 1},
		{"a refused append is retried first on the new segment", func(m *messages.SegmentAppend) *messages.SegmentAppended {
			return &messages.SegmentAppended{Epoch: testEpoch, RequestId: m.GetRequestId(),
				Error: &messages.SegmentError{Code: messages.SegmentErrorCode_SEGMENT_FULL, Message: "full"}}
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newCoreRig(t, nil)
			r.open(3, diskSegment{base: 0})
			p, q := client("p"), client("q")
			m := one[*messages.SegmentAppend](t, r.step(p, produceOf("a")), segPID(0))
			r.step(q, produceOf("b"))
			cmds := r.step(segPID(0), tc.answer(m))
			seal := one[*messages.SegmentSeal](t, cmds, segPID(0))
			if len(sent[*messages.SegmentAppend](cmds, nil)) != 0 {
				t.Fatal("an append went out while the segment is being sealed")
			}
			cmds = r.step(segPID(0), &messages.SegmentSealed{Epoch: testEpoch, RequestId: seal.GetRequestId(), SizeBytes: 300})
			next := r.c.next
			if got := r.spawned[len(r.spawned)-1]; got.base != next || got.sealed {
				t.Fatalf("spawned %+v after the seal, want the active segment at %d", got, next)
			}
			if len(cmds) != 0 {
				t.Fatalf("appends went out before the new segment was ready: %s", describe(cmds))
			}
			cmds = r.step(segPID(next), &messages.SegmentReady{Epoch: testEpoch, BaseOffset: next, NextOffset: next})
			app := one[*messages.SegmentAppend](t, cmds, segPID(next))
			if got := string(app.GetRecords()[0].GetValue()); got != []string{"", "b", "a"}[tc.wantFirst] {
				t.Fatalf("the new segment's first append starts with %q", got)
			}
			if st := r.c.status(); st.GetSegments() != 2 {
				t.Fatalf("%d segments", st.GetSegments())
			}
		})
	}
}

func TestLogCoreRetention(t *testing.T) {
	hour := time.Hour
	cases := []struct {
		name     string
		bytes    uint64
		age      time.Duration
		segs     func(now time.Time) []diskSegment
		wantGone []uint64
	}{
		{"by bytes", 150, 0, func(now time.Time) []diskSegment {
			n := now.UnixNano()
			return []diskSegment{{0, 100, n}, {10, 100, n}, {20, 100, n}, {30, 0, 0}}
		}, []uint64{0, 10}},
		{"by age", 0, hour, func(now time.Time) []diskSegment {
			old, fresh := now.Add(-2*hour).UnixNano(), now.UnixNano()
			return []diskSegment{{0, 1, old}, {10, 1, old}, {20, 1, fresh}, {30, 0, 0}}
		}, []uint64{0, 10}},
		{"never the active segment", 1, hour, func(now time.Time) []diskSegment {
			return []diskSegment{{0, 100, 0}, {10, 0, 0}}
		}, []uint64{0}},
		{"within the limits", 1000, hour, func(now time.Time) []diskSegment {
			n := now.UnixNano()
			return []diskSegment{{0, 100, n}, {10, 100, n}, {20, 0, 0}}
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newCoreRig(t, func(c *LogConfig) { c.Storage.RetentionBytes, c.Storage.RetentionAge = tc.bytes, tc.age })
			segs := tc.segs(r.now)
			active := segs[len(segs)-1].base
			cmds := r.open(active, segs...)
			var gone []uint64
			for _, rm := range sent[*messages.SegmentRemove](cmds, nil) {
				op := r.c.ops[rm.GetRequestId()]
				gone = append(gone, op.seg.base)
			}
			if fmt.Sprint(gone) != fmt.Sprint(tc.wantGone) {
				t.Fatalf("removed %v, want %v", gone, tc.wantGone)
			}
			wantLow := uint64(0)
			if len(gone) > 0 {
				wantLow = gone[len(gone)-1] + 10
			}
			if r.c.low != wantLow {
				t.Fatalf("low %d, want %d", r.c.low, wantLow)
			}
			// Each removed segment's actor is spawned to delete its files,
			// then stopped once it has.
			for _, rm := range sent[*messages.SegmentRemove](cmds, nil) {
				base := r.c.ops[rm.GetRequestId()].seg.base
				r.step(segPID(base), &messages.SegmentReady{Epoch: testEpoch, BaseOffset: base, NextOffset: base + 10})
				stop := r.step(segPID(base), &messages.SegmentRemoved{Epoch: testEpoch, RequestId: rm.GetRequestId()})
				if len(stop) != 1 || stop[0].kind != cmdStop || !stop[0].to.Equal(segPID(base)) {
					t.Fatalf("removed segment %d not stopped: %s", base, describe(stop))
				}
				r.step(nil, evTerminated{id: segPID(base).GetId()})
			}
			if st := r.c.status(); !st.GetHealthy() || int(st.GetSegments()) != len(segs)-len(gone) {
				t.Fatalf("status after retention: %v", st)
			}
		})
	}
}

// Age retention runs on its tick too, on a quiet log.
func TestLogCoreRetentionTick(t *testing.T) {
	r := newCoreRig(t, func(c *LogConfig) { c.Storage.RetentionAge = time.Hour })
	n := r.now.UnixNano()
	r.open(20, diskSegment{0, 1, n}, diskSegment{base: 10})
	if r.c.low != 0 {
		t.Fatal("a fresh segment was removed")
	}
	r.now = r.now.Add(2 * time.Hour)
	cmds := r.step(nil, &messages.RetentionTick{})
	one[*messages.SegmentRemove](t, cmds, segPID(0))
	if r.c.low != 10 || !has(cmds, cmdArm) {
		t.Fatalf("low %d, commands %s", r.c.low, describe(cmds))
	}
}

func TestLogCoreSegmentCrash(t *testing.T) {
	cases := []struct {
		name string
		// onDisk is where the restarted segment says it ends.
		onDisk      uint64
		wantTrunc   bool
		wantHealthy bool
	}{
		{"the crashed append did not reach the disk", 2, false, true},
		{"the crashed append reached the disk and is dropped", 3, true, true},
		{"acknowledged records lost", 1, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newCoreRig(t, nil)
			r.open(2, diskSegment{base: 0})
			p := client("p")
			m := one[*messages.SegmentAppend](t, r.step(p, produceOf("a")), segPID(0))
			cmds := r.step(nil, evCrashed{id: segPID(0).GetId(), reason: "boom", command: true, epoch: testEpoch, request: m.GetRequestId()})
			if !strings.Contains(one[*messages.Unavailable](t, cmds, p).GetReason(), "crashed") || !has(cmds, cmdRestartChild) {
				t.Fatalf("crash mid-append: %s", describe(cmds))
			}
			// The retry waits for the restarted segment.
			if cmds := r.step(p, produceOf("a")); len(cmds) != 0 {
				t.Fatalf("an append went to a restarting segment: %s", describe(cmds))
			}
			cmds = r.step(segPID(0), &messages.SegmentReady{Epoch: testEpoch, BaseOffset: 0, NextOffset: tc.onDisk})
			if tc.wantTrunc {
				tr := one[*messages.SegmentTruncate](t, cmds, segPID(0))
				if tr.GetFromOffset() != 2 {
					t.Fatalf("truncate from %d", tr.GetFromOffset())
				}
				cmds = r.step(segPID(0), &messages.SegmentTruncated{Epoch: testEpoch, RequestId: tr.GetRequestId(), NextOffset: 2})
			}
			if r.c.status().GetHealthy() != tc.wantHealthy {
				t.Fatalf("healthy %v", r.c.status().GetHealthy())
			}
			if !tc.wantHealthy {
				one[*messages.Unavailable](t, cmds, p)
				return
			}
			if app := one[*messages.SegmentAppend](t, cmds, segPID(0)); len(app.GetRecords()) != 1 {
				t.Fatal("the retry was not appended")
			}
		})
	}
}

func TestLogCoreEscalatesRepeatedCrashes(t *testing.T) {
	r := newCoreRig(t, func(c *LogConfig) { c.MaxSegmentRestarts = 2 })
	r.open(0, diskSegment{base: 0})
	var cmds []logCmd
	for range 3 {
		cmds = r.step(nil, evCrashed{id: segPID(0).GetId(), reason: "boom"})
	}
	if !has(cmds, cmdStopChild) || !has(cmds, cmdEscalate) || has(cmds, cmdRestartChild) {
		t.Fatalf("third crash: %s", describe(cmds))
	}
	var failed *SegmentFailedError
	for _, c := range cmds {
		if c.kind == cmdEscalate && !errors.As(c.err, &failed) {
			t.Fatalf("escalated %v", c.err)
		}
	}
	p := client("p")
	if !strings.Contains(one[*messages.Unavailable](t, r.step(p, produceOf("a")), p).GetReason(), "storage failed") {
		t.Fatal("appends are not refused after the active segment failed")
	}
	if r.c.status().GetHealthy() {
		t.Fatal("healthy after a failed segment")
	}
}

// A sealed segment that crashes on damaged files is reported, not
// restarted.
func TestLogCoreDamagedSealedSegment(t *testing.T) {
	r := newCoreRig(t, func(c *LogConfig) { c.OnCorrupt = func(uint64, string) {} })
	r.open(20, diskSegment{base: 0}, diskSegment{base: 10})
	reader := client("reader")
	cmds := r.step(reader, &messages.ConsumeRequest{Offset: 3})
	one[*messages.SegmentRead](t, cmds, segPID(0))
	cmds = r.step(segPID(0), &messages.SegmentReady{Epoch: testEpoch, BaseOffset: 0, NextOffset: 6})
	if !has(cmds, cmdStop) || !has(cmds, cmdCorrupt) {
		t.Fatalf("damaged sealed segment: %s", describe(cmds))
	}
	one[*messages.Unavailable](t, cmds, reader)
	for _, c := range cmds {
		if c.kind == cmdCorrupt && c.from != 6 {
			t.Fatalf("damage reported from %d, want 6", c.from)
		}
	}
	cmds = r.step(nil, evCrashed{id: segPID(0).GetId(), reason: fmt.Errorf("open: %w", segmentstore.ErrCorrupt)})
	if has(cmds, cmdRestartChild) {
		t.Fatal("a failed segment was restarted")
	}
}

func TestLogCoreIdleSegments(t *testing.T) {
	r := newCoreRig(t, nil)
	r.open(20, diskSegment{base: 0}, diskSegment{base: 10})
	reader := client("reader")
	read := one[*messages.SegmentRead](t, r.step(reader, &messages.ConsumeRequest{Offset: 3}), segPID(0))
	if got := r.spawned[len(r.spawned)-1]; got.base != 0 || !got.sealed || got.next != 10 {
		t.Fatalf("sealed segment opened as %+v", got)
	}
	r.step(segPID(0), &messages.SegmentReady{Epoch: testEpoch, BaseOffset: 0, NextOffset: 10})

	// Busy: not stopped, however long it has been.
	r.now = r.now.Add(time.Hour)
	if has(r.step(nil, &messages.IdleTick{}), cmdStop) {
		t.Fatal("a segment with a read in flight was stopped")
	}
	r.step(segPID(0), &messages.SegmentReadResult{Epoch: testEpoch, RequestId: read.GetRequestId()})
	// Used recently: a read within the idle timeout keeps it open.
	read = one[*messages.SegmentRead](t, r.step(reader, &messages.ConsumeRequest{Offset: 5}), segPID(0))
	r.step(segPID(0), &messages.SegmentReadResult{Epoch: testEpoch, RequestId: read.GetRequestId()})
	r.now = r.now.Add(time.Minute / 2)
	if has(r.step(nil, &messages.IdleTick{}), cmdStop) {
		t.Fatal("a recently used segment was stopped")
	}
	r.now = r.now.Add(time.Hour)
	cmds := r.step(nil, &messages.IdleTick{})
	var stopped []string
	for _, c := range cmds {
		if c.kind == cmdStop {
			stopped = append(stopped, c.to.GetId())
		}
	}
	if fmt.Sprint(stopped) != "["+segPID(0).GetId()+"]" {
		t.Fatalf("stopped %v; the active segment is never stopped", stopped)
	}
	// A read while it stops waits, and reopens it once it is gone.
	if cmds := r.step(reader, &messages.ConsumeRequest{Offset: 4}); len(cmds) != 0 {
		t.Fatalf("a read to a stopping segment: %s", describe(cmds))
	}
	spawns := len(r.spawned)
	cmds = r.step(nil, evTerminated{id: segPID(0).GetId()})
	if len(r.spawned) != spawns+1 || one[*messages.SegmentRead](t, cmds, segPID(0)).GetOffset() != 4 {
		t.Fatalf("after the stop: %s", describe(cmds))
	}
}

func TestLogCoreLongPoll(t *testing.T) {
	r := newCoreRig(t, nil)
	r.open(0, diskSegment{base: 0})
	reader, p := client("reader"), client("p")
	cmds := r.step(reader, &messages.ConsumeRequest{Offset: 0, WaitMs: 5000})
	if len(cmds) != 1 || cmds[0].kind != cmdArm || cmds[0].timer != timerPoll || cmds[0].after != 5*time.Second {
		t.Fatalf("park: %s", describe(cmds))
	}
	waiter := cmds[0].waiter
	m := one[*messages.SegmentAppend](t, r.step(p, produceOf("x")), segPID(0))
	cmds = r.step(segPID(0), appendedAll(m, 0, false))
	disarmed := false
	for _, c := range cmds {
		disarmed = disarmed || (c.kind == cmdDisarm && c.waiter == waiter)
	}
	if !disarmed || one[*messages.SegmentRead](t, cmds, segPID(0)).GetOffset() != 0 {
		t.Fatalf("wake: %s", describe(cmds))
	}
	// A poll that expires is answered with the bounds and no records.
	r.step(reader, &messages.ConsumeRequest{Offset: 1, WaitMs: 10})
	waiter = r.c.nextID
	resp := one[*messages.ConsumeResponse](t, r.step(nil, &messages.PollExpired{WaiterId: waiter}), reader)
	if len(resp.GetRecords()) != 0 || resp.GetNextOffset() != 1 {
		t.Fatalf("expired poll answered %v", resp)
	}
}

func TestLogCoreStaleRepliesAreIgnored(t *testing.T) {
	r := newCoreRig(t, nil)
	r.open(0, diskSegment{base: 0})
	p := client("p")
	m := one[*messages.SegmentAppend](t, r.step(p, produceOf("a")), segPID(0))
	stale := appendedAll(m, 0, false)
	stale.Epoch = testEpoch + 1
	if cmds := r.step(segPID(0), stale); len(cmds) != 0 {
		t.Fatalf("a reply of another epoch was taken: %s", describe(cmds))
	}
	offsetsOf(t, r.step(segPID(0), appendedAll(m, 0, false)), p)
	if cmds := r.step(segPID(0), appendedAll(m, 0, false)); len(cmds) != 0 {
		t.Fatalf("a second reply to the same request was taken: %s", describe(cmds))
	}
}

func TestLogCoreShutdownAnswersEveryone(t *testing.T) {
	r := newCoreRig(t, nil)
	r.open(0, diskSegment{base: 0})
	p, q, reader := client("p"), client("q"), client("reader")
	r.step(p, produceOf("a"))
	r.step(q, produceOf("b"))
	r.step(reader, &messages.ConsumeRequest{Offset: 0, WaitMs: 1000})
	cmds := r.step(nil, evStopping{why: "stopping"})
	for _, who := range []*actor.PID{p, q, reader} {
		if one[*messages.Unavailable](t, cmds, who).GetReason() != "stopping" {
			t.Fatalf("%v not told why", who)
		}
	}
	if len(r.c.ops) != 0 || len(r.c.waiters) != 0 {
		t.Fatal("requests left in flight")
	}
}
