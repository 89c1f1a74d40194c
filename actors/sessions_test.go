package actors_test

import (
	"fmt"
	"strings"
	"time"

	"actorlog/actors"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Sessions", func() {
	var h *harness
	start := func(configure func(*actors.LogConfig, *actors.SessionConfig)) {
		h = newHarness(GinkgoT().TempDir(), configure)
	}
	sessionCount := func() uint32 {
		return h.ask(h.sessions, &messages.SessionsStatusRequest{}).(*messages.SessionsStatus).GetSessions()
	}
	// openRemote opens a session as a client on another address would: the
	// transport guard marks its envelope remote. The reply goes nowhere
	// (there is no remote here), which does not matter.
	openRemote := func(addr string) {
		h.sys.Root.Send(h.sessions, &actor.MessageEnvelope{
			Header:  map[string]string{actors.RemoteHeader: "true"},
			Message: &messages.OpenSession{ClientName: "far"},
			Sender:  actor.NewPID(addr, "client$1"),
		})
	}

	Context("with the default limits", func() {
		BeforeEach(func() { start(nil) })

		It("keeps the transport identity it was opened with", func() {
			// The transport guard puts the identity in this header of every
			// envelope that arrives over the wire.
			f := actor.NewFuture(h.sys, askTimeout)
			h.sys.Root.Send(h.sessions, &actor.MessageEnvelope{
				Header:  map[string]string{actors.IdentityHeader: "CN=alice"},
				Message: &messages.OpenSession{ClientName: "alice-app"},
				Sender:  f.PID(),
			})
			res, err := f.Result()
			Expect(err).NotTo(HaveOccurred())
			opened := res.(*messages.SessionOpened)
			Expect(opened.GetMaxRecordBytes()).To(Equal(actors.DefaultMaxRecordBytes))
			Expect(opened.GetMaxBatchBytes()).To(Equal(actors.DefaultMaxBatchBytes))
			info := h.ask(actor.NewPID(opened.GetAddress(), opened.GetId()), &messages.SessionInfoRequest{}).(*messages.SessionInfo)
			Expect(info.GetIdentity()).To(Equal("CN=alice"))
			Expect(info.GetClientName()).To(Equal("alice-app"))
		})

		It("ends on CloseSession", func() {
			sess := h.openSession()
			Expect(sessionCount()).To(Equal(uint32(1)))
			Expect(h.ask(sess, &messages.CloseSession{})).To(BeAssignableToTypeOf(&messages.SessionClosed{}))
			Eventually(sessionCount).Should(BeZero())
			_, err := h.sys.Root.RequestFuture(sess, &messages.ServersRequest{}, askTimeout).Result()
			Expect(err).To(MatchError(actor.ErrDeadLetter))
		})

		It("ends the sessions of a client whose endpoint terminated", func() {
			openRemote("10.9.9.9:1")
			h.openSession()
			Eventually(sessionCount).Should(Equal(uint32(2)))
			h.sys.EventStream.Publish(&remote.EndpointTerminatedEvent{Address: "10.9.9.9:1"})
			Eventually(sessionCount).Should(Equal(uint32(1)))
		})

		It("answers requests it does not serve with InvalidRequest", func() {
			sess := h.openSession()
			Expect(h.ask(sess, &messages.OpenSession{})).To(BeAssignableToTypeOf(&messages.InvalidRequest{}))
			Expect(h.ask(h.sessions, &messages.ProduceRequest{})).To(BeAssignableToTypeOf(&messages.InvalidRequest{}))
		})

		It("answers ServersRequest with this node", func() {
			sess := h.openSession()
			Expect(h.ask(sess, &messages.ServersRequest{}).(*messages.ServersResponse).GetServers()).To(HaveLen(1))
		})
	})

	DescribeTable("refuses produce requests over the limits, naming the field and the limit",
		func(req *messages.ProduceRequest, field, reason string) {
			start(func(_ *actors.LogConfig, s *actors.SessionConfig) {
				s.MaxRecordBytes, s.MaxBatchBytes, s.MaxBatchRecords = 10, 25, 4
			})
			res := h.ask(h.openSession(), req)
			Expect(res).To(BeAssignableToTypeOf(&messages.InvalidRequest{}))
			Expect(res.(*messages.InvalidRequest).GetField()).To(Equal(field))
			Expect(res.(*messages.InvalidRequest).GetReason()).To(ContainSubstring(reason))
			Expect(h.status().GetNextOffset()).To(BeZero())
		},
		Entry("an empty batch", &messages.ProduceRequest{}, "records", "empty batch"),
		Entry("a record over max_record_bytes", &messages.ProduceRequest{Records: values("ok", strings.Repeat("x", 11))},
			"records[1].value", "limit of 10 bytes"),
		Entry("a batch over max_batch_bytes", &messages.ProduceRequest{Records: values("0123456789", "0123456789", "0123456789")},
			"records", "limit of 25 bytes"),
		Entry("too many records", &messages.ProduceRequest{Records: values("a", "b", "c", "d", "e")}, "records", "limit of 4 records"),
		Entry("a producer id that is too long", &messages.ProduceRequest{Records: values("a"), ProducerId: strings.Repeat("p", 300)},
			"producer_id", "limit of 256 bytes"),
	)

	Context("with an idle timeout", func() {
		BeforeEach(func() {
			start(func(_ *actors.LogConfig, s *actors.SessionConfig) { s.IdleTimeout = 200 * time.Millisecond })
		})

		It("ends a remote client's idle session, but not one of the node's own", func() {
			h.openSession()
			openRemote("10.9.9.8:1")
			Eventually(sessionCount).Should(Equal(uint32(2)))
			Eventually(sessionCount).Should(Equal(uint32(1)))
			Consistently(sessionCount, 400*time.Millisecond).Should(Equal(uint32(1)))
		})

		It("ends a remote session that claims the node's own address as its sender", func() {
			// A peer writes its sender PID itself: only the transport
			// guard's mark tells a remote session from the node's own.
			openRemote(h.sys.Address())
			Eventually(sessionCount).Should(Equal(uint32(1)))
			Eventually(sessionCount).Should(BeZero())
		})
	})

	Describe("subscriptions", func() {
		var sess *actor.PID
		BeforeEach(func() {
			start(nil)
			sess = h.openSession()
		})
		subscribe := func(off uint64, credit uint32) (string, chan any, *actor.PID) {
			GinkgoHelper()
			pid, ch := h.spawnInbox()
			res := h.ask(sess, &messages.Subscribe{Offset: off, InitialCredit: credit, SubscriberAddress: pid.GetAddress(), SubscriberId: pid.GetId()})
			Expect(res).To(BeAssignableToTypeOf(&messages.SubscribeAck{}))
			return res.(*messages.SubscribeAck).GetSubscriptionId(), ch, pid
		}
		// drain collects the records pushed so far, checking their order.
		drain := func(ch chan any, got *[]uint64) func() int {
			return func() int {
				for {
					select {
					case m := <-ch:
						if r, ok := m.(*messages.SubscriptionRecords); ok {
							for _, rec := range r.GetRecords() {
								Expect(rec.GetOffset()).To(Equal(uint64(len(*got))))
								*got = append(*got, rec.GetOffset())
							}
						}
					default:
						return len(*got)
					}
				}
			}
		}

		It("never pushes more records than the credit granted", func() {
			for i := range 50 {
				h.produce(sess, fmt.Sprint(i))
			}
			id, ch, _ := subscribe(0, 10)
			var got []uint64
			Eventually(drain(ch, &got)).Should(Equal(10))
			Consistently(drain(ch, &got), 300*time.Millisecond).Should(Equal(10))
			h.sys.Root.Send(sess, &messages.Credit{SubscriptionId: id, Records: 15})
			Eventually(drain(ch, &got)).Should(Equal(25))
			Consistently(drain(ch, &got), 300*time.Millisecond).Should(Equal(25))
			// A zero credit (a client's liveness probe) changes nothing.
			h.sys.Root.Send(sess, &messages.Credit{SubscriptionId: id})
			Consistently(drain(ch, &got), 100*time.Millisecond).Should(Equal(25))
		})

		It("pushes records as they are appended, from a parked read", func() {
			_, ch, _ := subscribe(0, 100)
			var got []uint64
			Eventually(func() uint32 { return h.status().GetParkedReads() }).Should(Equal(uint32(1)))
			h.produce(sess, "a", "b")
			h.produce(sess, "c")
			Eventually(drain(ch, &got)).Should(Equal(3))
		})

		It("ends when the subscriber stops", func() {
			_, _, pid := subscribe(0, 5)
			info := func() uint32 {
				return h.ask(sess, &messages.SessionInfoRequest{}).(*messages.SessionInfo).GetSubscriptions()
			}
			Expect(info()).To(Equal(uint32(1)))
			Expect(h.sys.Root.StopFuture(pid).Wait()).To(Succeed())
			Eventually(info).Should(BeZero())
		})

		It("answers Unsubscribe with SubscriptionEnded and pushes nothing more", func() {
			id, ch, _ := subscribe(0, 5)
			Expect(h.ask(sess, &messages.Unsubscribe{SubscriptionId: id})).
				To(EqualProto(&messages.SubscriptionEnded{SubscriptionId: id, Reason: "unsubscribed"}))
			h.produce(sess, "late")
			Consistently(ch, 200*time.Millisecond).ShouldNot(Receive())
			// Credit for it now tells the subscriber that it has ended.
			Expect(h.ask(sess, &messages.Credit{SubscriptionId: id, Records: 1})).To(BeAssignableToTypeOf(&messages.SubscriptionEnded{}))
		})

		It("tells the subscriber when its session closes", func() {
			id, ch, _ := subscribe(0, 5)
			Expect(h.ask(sess, &messages.CloseSession{})).To(BeAssignableToTypeOf(&messages.SessionClosed{}))
			Eventually(ch).Should(Receive(EqualProto(&messages.SubscriptionEnded{SubscriptionId: id, Reason: "the session ended"})))
		})

		It("refuses to start outside the log", func() {
			h.produce(sess, "only")
			pid, _ := h.spawnInbox()
			res := h.ask(sess, &messages.Subscribe{Offset: 5, InitialCredit: 1, SubscriberAddress: pid.GetAddress(), SubscriberId: pid.GetId()})
			Expect(res).To(EqualProto(&messages.OffsetOutOfRange{Offset: 5, LowOffset: 0, NextOffset: 1}))
			res = h.ask(sess, &messages.Subscribe{Offset: 0, InitialCredit: 1})
			Expect(res).To(HaveField("Field", "subscriber_address"))
		})
	})
})
