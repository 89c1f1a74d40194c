package actors_test

import (
	"context"
	"errors"

	"actorlog/actors"
	"actorlog/messages"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Handles", func() {
	var h *harness
	ctx := context.Background()
	BeforeEach(func() { h = newHarness(GinkgoT().TempDir(), nil) })

	refusal := func(err error) any {
		var refused *actors.RefusedError
		Expect(errors.As(err, &refused)).To(BeTrue(), "%v", err)
		return refused.Reply
	}

	It("produce and consume through a session, return typed refusals as errors, and end with Close", func() {
		sess, err := actors.OpenSession(h.sys.Root, h.sessions, "spec", askTimeout)
		Expect(err).NotTo(HaveOccurred())
		offsets, err := sess.Produce(ctx, &messages.ProduceRequest{Records: values("a", "b")})
		Expect(err).NotTo(HaveOccurred())
		Expect(offsets).To(Equal([]uint64{0, 1}))
		resp, err := sess.Consume(ctx, &messages.ConsumeRequest{Offset: 0, MaxRecords: 10})
		Expect(err).NotTo(HaveOccurred())
		Expect(valuesOf(resp.GetRecords())).To(Equal([]string{"a", "b"}))

		_, err = sess.Consume(ctx, &messages.ConsumeRequest{Offset: 5})
		Expect(refusal(err)).To(EqualProto(&messages.OffsetOutOfRange{Offset: 5, LowOffset: 0, NextOffset: 2}))

		sess.Close()
		sess.Close()
		_, err = sess.Produce(ctx, &messages.ProduceRequest{Records: values("c")})
		Expect(err).To(MatchError(actors.ErrSessionClosed))
	})

	It("ask the log for its status, and refuse a fault the log was not started for", func() {
		lh := actors.NewLogHandle(h.sys.Root, h.log, askTimeout)
		st, err := lh.Status(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.GetHealthy()).To(BeTrue())
		_, err = lh.InjectFault(ctx, messages.FaultMode_FAULT_PANIC_NOW)
		Expect(refusal(err)).To(BeAssignableToTypeOf(&messages.InvalidRequest{}))
	})

	It("give up when the context ends first", func() {
		lh := actors.NewLogHandle(h.sys.Root, h.log, askTimeout)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := lh.Status(cctx)
		Expect(err).To(MatchError(context.Canceled))
	})
})
