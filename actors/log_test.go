package actors_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"actorlog/actors"
	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/asynkron/protoactor-go/actor"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The log actor", func() {
	var (
		h    *harness
		sess *actor.PID
	)
	start := func(configure func(*actors.LogConfig, *actors.SessionConfig)) {
		h = newHarness(GinkgoT().TempDir(), configure)
		sess = h.openSession()
	}

	Context("producing and consuming through a session", func() {
		BeforeEach(func() { start(nil) })

		It("assigns dense offsets and reads the records back", func() {
			Expect(h.produce(sess, "a", "b", "c")).To(Equal([]uint64{0, 1, 2}))
			Expect(h.produce(sess, "d")).To(Equal([]uint64{3}))
			resp := h.consume(sess, 0, 0)
			Expect(valuesOf(resp.GetRecords())).To(Equal([]string{"a", "b", "c", "d"}))
			Expect(resp.GetLowOffset()).To(BeZero())
			Expect(resp.GetNextOffset()).To(Equal(uint64(4)))
			Expect(resp.GetRecords()[3].GetOffset()).To(Equal(uint64(3)))
			Expect(resp.GetRecords()[3].GetTimestampUnixNano()).To(BeNumerically(">", 0))
			Expect(valuesOf(h.consume(sess, 1, 2).GetRecords())).To(Equal([]string{"b", "c"}))
		})

		It("answers a duplicate (producer, sequence) with the original offsets and appends nothing", func() {
			req := &messages.ProduceRequest{Records: values("x", "y"), ProducerId: "p1", Sequence: 7}
			first := h.ask(sess, req).(*messages.ProduceResponse).GetOffsets()
			Expect(first).To(Equal([]uint64{0, 1}))
			again := h.ask(sess, req).(*messages.ProduceResponse).GetOffsets()
			Expect(again).To(Equal(first))
			Expect(h.status().GetNextOffset()).To(Equal(uint64(2)))
			// Another sequence of the same producer is new.
			next := h.ask(sess, &messages.ProduceRequest{Records: values("z"), ProducerId: "p1", Sequence: 8})
			Expect(next.(*messages.ProduceResponse).GetOffsets()).To(Equal([]uint64{2}))
		})

		It("answers duplicates that arrive while the original is still being appended", func() {
			req := &messages.ProduceRequest{Records: values("once"), ProducerId: "p2", Sequence: 1}
			futures := make([]*actor.Future, 20)
			for i := range futures {
				futures[i] = h.sys.Root.RequestFuture(sess, req, askTimeout)
			}
			for _, f := range futures {
				res, err := f.Result()
				Expect(err).NotTo(HaveOccurred())
				Expect(res.(*messages.ProduceResponse).GetOffsets()).To(Equal([]uint64{0}))
			}
			Expect(h.status().GetNextOffset()).To(Equal(uint64(1)))
		})

		It("refuses reads outside the log with OffsetOutOfRange", func() {
			h.produce(sess, "a")
			resp := h.ask(sess, &messages.ConsumeRequest{Offset: 1})
			Expect(resp).To(EqualProto(&messages.OffsetOutOfRange{Offset: 1, LowOffset: 0, NextOffset: 1}))
			resp = h.ask(sess, &messages.ConsumeRequest{Offset: 5, WaitMs: 1000})
			Expect(resp).To(EqualProto(&messages.OffsetOutOfRange{Offset: 5, LowOffset: 0, NextOffset: 1}))
		})

		It("coalesces concurrent produce requests into few segment appends", func() {
			futures := make([]*actor.Future, 500)
			for i := range futures {
				futures[i] = h.sys.Root.RequestFuture(sess, &messages.ProduceRequest{Records: values(fmt.Sprint(i))}, askTimeout)
			}
			seen := map[uint64]bool{}
			for _, f := range futures {
				res, err := f.Result()
				Expect(err).NotTo(HaveOccurred())
				off := res.(*messages.ProduceResponse).GetOffsets()[0]
				Expect(seen[off]).To(BeFalse())
				seen[off] = true
			}
			st := h.status()
			Expect(st.GetNextOffset()).To(Equal(uint64(500)))
			Expect(st.GetSegmentAppends()).To(BeNumerically("<", 500))
		})
	})

	Context("long polls", func() {
		BeforeEach(func() { start(nil) })

		It("wakes a parked read as soon as records arrive", func() {
			f := h.sys.Root.RequestFuture(sess, &messages.ConsumeRequest{Offset: 0, WaitMs: 20000}, askTimeout)
			Eventually(func() uint32 { return h.status().GetParkedReads() }).Should(Equal(uint32(1)))
			h.produce(sess, "late")
			res, err := f.Result()
			Expect(err).NotTo(HaveOccurred())
			Expect(valuesOf(res.(*messages.ConsumeResponse).GetRecords())).To(Equal([]string{"late"}))
			Expect(h.status().GetParkedReads()).To(BeZero())
		})

		It("answers with no records when the wait passes, without reading while parked", func() {
			reads := h.status().GetSegmentReads()
			began := time.Now()
			f := h.sys.Root.RequestFuture(sess, &messages.ConsumeRequest{Offset: 0, WaitMs: 400}, askTimeout)
			Consistently(func() uint64 { return h.status().GetSegmentReads() }, 300*time.Millisecond, 20*time.Millisecond).Should(Equal(reads))
			res, err := f.Result()
			Expect(err).NotTo(HaveOccurred())
			Expect(time.Since(began)).To(BeNumerically(">=", 400*time.Millisecond))
			Expect(res).To(EqualProto(&messages.ConsumeResponse{LowOffset: 0, NextOffset: 0}))
			Expect(h.status().GetParkedReads()).To(BeZero())
		})
	})

	Context("with small segments", func() {
		var dir string
		BeforeEach(func() {
			dir = GinkgoT().TempDir()
			h = newHarness(dir, func(l *actors.LogConfig, _ *actors.SessionConfig) {
				l.Storage.MaxStoreBytes = 4096
			})
			sess = h.openSession()
		})

		It("rolls over, reads across segments and reopens everything from disk", func() {
			val := strings.Repeat("v", 200)
			for i := range 60 {
				Expect(h.produce(sess, fmt.Sprintf("%03d%s", i, val))).To(Equal([]uint64{uint64(i)}))
			}
			Expect(h.status().GetSegments()).To(BeNumerically(">", 2))
			var got []string
			for off := uint64(0); off < 60; {
				recs := h.consume(sess, off, 0).GetRecords()
				Expect(recs).NotTo(BeEmpty())
				for _, r := range recs {
					Expect(r.GetOffset()).To(Equal(off))
					got = append(got, string(r.GetValue())[:3])
					off++
				}
			}
			Expect(got).To(HaveLen(60))
			Expect(got[59]).To(Equal("059"))
			segments := h.status().GetSegments()
			h.stop()

			h = newHarness(dir, func(l *actors.LogConfig, _ *actors.SessionConfig) { l.Storage.MaxStoreBytes = 4096 })
			sess = h.openSession()
			st := h.status()
			Expect(st.GetNextOffset()).To(Equal(uint64(60)))
			Expect(st.GetSegments()).To(Equal(segments))
			Expect(string(h.consume(sess, 42, 1).GetRecords()[0].GetValue())[:3]).To(Equal("042"))
			Expect(h.produce(sess, "next")).To(Equal([]uint64{60}))
		})

		It("stops idle sealed segments and opens them again on demand", func() {
			h.stop()
			idle := func(l *actors.LogConfig, _ *actors.SessionConfig) {
				l.Storage.MaxStoreBytes = 4096
				l.SegmentIdleTimeout = 100 * time.Millisecond
				// The scrubber opens sealed segments too; this spec is
				// about reads alone.
				l.ScrubInterval = -1
			}
			h = newHarness(dir, idle)
			sess = h.openSession()
			val := strings.Repeat("i", 1000)
			for range 20 {
				h.produce(sess, val)
			}
			st := h.status()
			Expect(st.GetSegments()).To(BeNumerically(">", 3))
			Eventually(func() uint32 { return h.status().GetOpenSegments() }).Should(Equal(uint32(1)))
			Expect(h.consume(sess, 0, 1).GetRecords()[0].GetOffset()).To(BeZero())
			Expect(h.status().GetOpenSegments()).To(Equal(uint32(2)))
			Eventually(func() uint32 { return h.status().GetOpenSegments() }).Should(Equal(uint32(1)))
			// Reads racing with the stop of an idle segment are served too.
			for i := range 50 {
				Expect(h.consume(sess, uint64(i%4), 1).GetRecords()).To(HaveLen(1))
			}

			By("opening only the active segment when the log starts again")
			h.stop()
			h = newHarness(dir, idle)
			sess = h.openSession()
			Expect(h.status().GetOpenSegments()).To(Equal(uint32(1)))
			Expect(h.status().GetSegments()).To(Equal(st.GetSegments()))
			Expect(h.consume(sess, 1, 1).GetRecords()[0].GetOffset()).To(Equal(uint64(1)))
		})

		It("scrubs sealed segments and reports a damaged record that nobody reads", func() {
			h.stop()
			found := make(chan uint64, 16)
			h = newHarness(dir, func(l *actors.LogConfig, _ *actors.SessionConfig) {
				l.Storage.MaxStoreBytes = 4096
				l.ScrubInterval = 10 * time.Millisecond
				l.OnCorrupt = func(from uint64, _ string) {
					select {
					case found <- from:
					default:
					}
				}
			})
			sess = h.openSession()
			val := strings.Repeat("s", 1000)
			for range 12 {
				h.produce(sess, val)
			}
			Expect(h.status().GetSegments()).To(BeNumerically(">", 2))
			Consistently(found, 300*time.Millisecond).ShouldNot(Receive(), "intact records are not reported")
			// Bit rot in the middle of sealed segment 0, under the running
			// log (which reads it through the same page cache).
			store := filepath.Join(dir, segmentstore.SegmentFileName(0, ".store"))
			f, err := os.OpenFile(store, os.O_RDWR, 0)
			Expect(err).NotTo(HaveOccurred())
			_, err = f.WriteAt([]byte{0xff, 0xff}, 1500)
			Expect(err).NotTo(HaveOccurred())
			Expect(f.Close()).To(Succeed())
			var from uint64
			Eventually(found, 5*time.Second).Should(Receive(&from))
			Expect(from).To(BeNumerically("<", 4), "the scrubber reports the damage in segment 0")
		})

		It("reports a damaged sealed segment instead of serving it", func() {
			val := strings.Repeat("d", 1000)
			for range 12 {
				h.produce(sess, val)
			}
			Expect(h.status().GetSegments()).To(BeNumerically(">", 2))
			h.stop()
			// Cut the first (sealed) segment short, as a lost write would:
			// its last record is damaged. The sealed segment's clean index
			// and known range say that record was durable, so it is
			// reported, never cut and never served, and the records
			// before it stay readable (issue 13).
			store := filepath.Join(dir, segmentstore.SegmentFileName(0, ".store"))
			st, err := os.Stat(store)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.Truncate(store, st.Size()-100)).To(Succeed())

			h = newHarness(dir, func(l *actors.LogConfig, _ *actors.SessionConfig) { l.Storage.MaxStoreBytes = 4096 })
			sess = h.openSession()
			Expect(h.consume(sess, 0, 1).GetRecords()).To(HaveLen(1))
			Expect(h.consume(sess, 1, 1).GetRecords()).To(HaveLen(1))
			Expect(h.ask(sess, &messages.ConsumeRequest{Offset: 2})).To(BeAssignableToTypeOf(&messages.Unavailable{}))
			after, err := os.Stat(store)
			Expect(err).NotTo(HaveOccurred())
			Expect(after.Size()).To(Equal(st.Size()-100), "the sealed segment was cut")
			// The rest of the log is still served and appended to.
			last := h.status().GetNextOffset() - 1
			Expect(h.consume(sess, last, 1).GetRecords()).To(HaveLen(1))
			Expect(h.produce(sess, "after")).To(Equal([]uint64{last + 1}))
		})

		It("deletes whole sealed segments from the front to stay within the retention bytes", func() {
			h.stop()
			h = newHarness(dir, func(l *actors.LogConfig, _ *actors.SessionConfig) {
				l.Storage.MaxStoreBytes = 4096
				l.Storage.RetentionBytes = 3 * 4096
				l.RetentionCheckInterval = 20 * time.Millisecond
			})
			sess = h.openSession()
			val := strings.Repeat("r", 500)
			for range 100 {
				h.produce(sess, val)
			}
			Eventually(func() uint64 { return h.status().GetLowOffset() }).Should(BeNumerically(">", 0))
			st := h.status()
			Expect(st.GetSizeBytes()).To(BeNumerically("<=", 4*4096+1024))
			Expect(h.ask(sess, &messages.ConsumeRequest{Offset: 0})).To(BeAssignableToTypeOf(&messages.OffsetOutOfRange{}))
			Expect(h.consume(sess, st.GetLowOffset(), 1).GetRecords()[0].GetOffset()).To(Equal(st.GetLowOffset()))
		})
	})

	Context("when a segment actor crashes", func() {
		BeforeEach(func() {
			start(func(l *actors.LogConfig, _ *actors.SessionConfig) {
				l.FaultInjection = true
				l.MaxSegmentRestarts = 2
			})
		})

		It("answers the append that crashed it with Unavailable and loses no acknowledged record", func() {
			Expect(h.produce(sess, "a", "b")).To(Equal([]uint64{0, 1}))
			Expect(h.ask(h.log, &messages.InjectSegmentFault{Mode: messages.FaultMode_FAULT_PANIC_AFTER_NEXT_APPEND})).
				To(BeAssignableToTypeOf(&messages.FaultInjected{}))
			// This append reaches the disk, then the segment panics before
			// acknowledging it.
			Expect(h.ask(sess, &messages.ProduceRequest{Records: values("lost")})).To(BeAssignableToTypeOf(&messages.Unavailable{}))
			Eventually(func() uint64 { return h.status().GetSegmentRestarts() }).Should(Equal(uint64(1)))
			// A retry gets the same offset: the unacknowledged record was dropped.
			Eventually(func() any {
				return h.ask(sess, &messages.ProduceRequest{Records: values("c"), ProducerId: "p", Sequence: 1})
			}).Should(EqualProto(&messages.ProduceResponse{Offsets: []uint64{2}}))
			Expect(valuesOf(h.consume(sess, 0, 0).GetRecords())).To(Equal([]string{"a", "b", "c"}))
			Expect(h.status().GetHealthy()).To(BeTrue())
			Expect(h.sup.Err()).NotTo(HaveOccurred())
		})

		It("answers every request in flight during the crash, each with a result or Unavailable", func() {
			h.produce(sess, "seed")
			futures := make([]*actor.Future, 300)
			for i := range futures {
				if i == 100 {
					Expect(h.ask(h.log, &messages.InjectSegmentFault{})).To(BeAssignableToTypeOf(&messages.FaultInjected{}))
				}
				futures[i] = h.sys.Root.RequestFuture(sess, &messages.ProduceRequest{Records: values(fmt.Sprint("r", i))}, askTimeout)
				if i%3 == 0 {
					futures = append(futures, h.sys.Root.RequestFuture(sess, &messages.ConsumeRequest{Offset: 0, MaxRecords: 5}, askTimeout))
				}
			}
			acked := map[uint64]string{}
			for i, f := range futures {
				res, err := f.Result()
				Expect(err).NotTo(HaveOccurred(), "request %d hung", i)
				switch r := res.(type) {
				case *messages.ProduceResponse:
					acked[r.GetOffsets()[0]] = fmt.Sprint("r", i)
				case *messages.ConsumeResponse, *messages.Unavailable:
				default:
					Fail(fmt.Sprintf("unexpected reply %T", res))
				}
			}
			Eventually(func() uint64 { return h.status().GetSegmentRestarts() }).Should(Equal(uint64(1)))
			next := h.status().GetNextOffset()
			Expect(next).To(Equal(uint64(len(acked) + 1)))
			for off := uint64(1); off < next; {
				for _, r := range h.consume(sess, off, 0).GetRecords() {
					Expect(r.GetOffset()).To(Equal(off))
					Expect(acked).To(HaveKey(off))
					off++
				}
			}
		})

		It("escalates after repeated failures: the log refuses appends and reports itself unhealthy", func() {
			h.produce(sess, "kept")
			for i := range 3 {
				Expect(h.ask(h.log, &messages.InjectSegmentFault{})).To(BeAssignableToTypeOf(&messages.FaultInjected{}))
				Eventually(func() uint64 { return h.status().GetSegmentRestarts() }).Should(Equal(uint64(i + 1)))
			}
			Eventually(func() bool { return h.status().GetHealthy() }).Should(BeFalse())
			Expect(h.status().GetReason()).To(ContainSubstring("failed 3 times"))
			Eventually(h.sup.Err).Should(MatchError(actors.ErrStorageFailed))
			var failed *actors.SegmentFailedError
			Expect(errors.As(h.sup.Err(), &failed)).To(BeTrue())
			Expect(h.ask(sess, &messages.ProduceRequest{Records: values("x")})).To(BeAssignableToTypeOf(&messages.Unavailable{}))
			Expect(h.ask(sess, &messages.ConsumeRequest{Offset: 0})).To(BeAssignableToTypeOf(&messages.Unavailable{}))
		})
	})

	It("refuses fault injection unless it is enabled", func() {
		start(nil)
		resp := h.ask(h.log, &messages.InjectSegmentFault{})
		Expect(resp).To(BeAssignableToTypeOf(&messages.InvalidRequest{}))
		Expect(resp.(*messages.InvalidRequest).GetReason()).To(ContainSubstring("disabled"))
	})
})
