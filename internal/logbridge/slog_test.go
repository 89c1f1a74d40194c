package logbridge_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"actorlog/internal/logbridge"
)

var _ = Describe("The slog handler", func() {
	var (
		logger *logrus.Logger
		hook   *logtest.Hook
	)
	BeforeEach(func() {
		logger, hook = logtest.NewNullLogger()
		logger.SetLevel(logrus.TraceLevel)
	})

	DescribeTable("DemoteInfo sends what is below Warn to Debug, OneStepDown shifts every level down one step",
		func(in slog.Level, demoted, shifted logrus.Level) {
			Expect(logbridge.DemoteInfo(in)).To(Equal(demoted))
			Expect(logbridge.OneStepDown(in)).To(Equal(shifted))
		},
		Entry("below debug", slog.LevelDebug-4, logrus.DebugLevel, logrus.TraceLevel),
		Entry("debug", slog.LevelDebug, logrus.DebugLevel, logrus.TraceLevel),
		Entry("info", slog.LevelInfo, logrus.DebugLevel, logrus.DebugLevel),
		Entry("between info and warn", slog.LevelInfo+2, logrus.DebugLevel, logrus.DebugLevel),
		Entry("warn", slog.LevelWarn, logrus.WarnLevel, logrus.InfoLevel),
		Entry("error", slog.LevelError, logrus.ErrorLevel, logrus.WarnLevel),
		Entry("above error", slog.LevelError+4, logrus.ErrorLevel, logrus.WarnLevel),
	)

	It("writes a record to the entry with its attributes as fields and groups as dotted prefixes", func() {
		h := logbridge.NewSlogHandler(logger.WithField("lib", "protoactor"), logbridge.SlogOptions{Level: logbridge.DemoteInfo})
		l := slog.New(h).With("node", "n1").WithGroup("remote").With("addr", "127.0.0.1:1").WithGroup("conn")
		l.Error("connection lost", "attempt", 3, slog.Group("peer", "id", "p1"))

		Expect(hook.AllEntries()).To(HaveLen(1))
		e := hook.LastEntry()
		Expect(e.Level).To(Equal(logrus.ErrorLevel))
		Expect(e.Message).To(Equal("connection lost"))
		Expect(e.Data).To(Equal(logrus.Fields{
			"lib":                 "protoactor",
			"node":                "n1",
			"remote.addr":         "127.0.0.1:1",
			"remote.conn.attempt": int64(3),
			"remote.conn.peer.id": "p1",
		}))
	})

	It("lets a record's attribute win over the same key given earlier", func() {
		l := slog.New(logbridge.NewSlogHandler(logger.WithField("k", "entry"), logbridge.SlogOptions{}))
		l.With("k", "with").Warn("m", "k", "record")
		Expect(hook.LastEntry().Data).To(HaveKeyWithValue("k", "record"))
		l.With("k", "with").Warn("n")
		Expect(hook.LastEntry().Data).To(HaveKeyWithValue("k", "with"))
	})

	It("maps levels with DemoteInfo when no Level is given", func() {
		l := slog.New(logbridge.NewSlogHandler(logrus.NewEntry(logger), logbridge.SlogOptions{}))
		l.Info("endpoint started")
		Expect(hook.LastEntry().Level).To(Equal(logrus.DebugLevel))
		l.Warn("endpoint lost")
		Expect(hook.LastEntry().Level).To(Equal(logrus.WarnLevel))
	})

	It("is enabled for a level only when the logrus logger writes the level it maps to", func() {
		logger.SetLevel(logrus.InfoLevel)
		node := slog.New(logbridge.NewSlogHandler(logrus.NewEntry(logger), logbridge.SlogOptions{Level: logbridge.DemoteInfo}))
		client := slog.New(logbridge.NewSlogHandler(logrus.NewEntry(logger), logbridge.SlogOptions{Level: logbridge.OneStepDown}))
		ctx := context.Background()
		Expect(node.Enabled(ctx, slog.LevelInfo)).To(BeFalse())
		Expect(node.Enabled(ctx, slog.LevelWarn)).To(BeTrue())
		Expect(client.Enabled(ctx, slog.LevelInfo)).To(BeFalse())
		Expect(client.Enabled(ctx, slog.LevelWarn)).To(BeTrue())

		node.Info("not written")
		client.Info("not written")
		Expect(hook.AllEntries()).To(BeEmpty())
	})

	It("sends everything to Debug while Quiet is set, in every derived handler", func() {
		var quiet atomic.Bool
		l := slog.New(logbridge.NewSlogHandler(logrus.NewEntry(logger), logbridge.SlogOptions{Level: logbridge.OneStepDown, Quiet: &quiet}))
		derived := l.With("remote", "n1")
		derived.Error("stream closed")
		Expect(hook.LastEntry().Level).To(Equal(logrus.WarnLevel))

		quiet.Store(true)
		derived.Error("stream closed")
		Expect(hook.LastEntry().Level).To(Equal(logrus.DebugLevel))
		l.Debug("detail")
		Expect(hook.LastEntry().Level).To(Equal(logrus.DebugLevel))

		logger.SetLevel(logrus.InfoLevel)
		Expect(derived.Enabled(context.Background(), slog.LevelError)).To(BeFalse())
	})

	Context("with RepeatEvery", func() {
		var l *slog.Logger
		BeforeEach(func() {
			// An hour: the repeats below come well within it.
			l = slog.New(logbridge.NewSlogHandler(logrus.NewEntry(logger), logbridge.SlogOptions{RepeatEvery: time.Hour}))
		})

		It("lets a repeated warning or error through once, across derived handlers", func() {
			l.Warn("invalid message")
			l.With("remote", "n2").Warn("invalid message")
			l.WithGroup("g").Warn("invalid message")
			l.Error("read failed")
			l.Error("read failed")
			Expect(hook.AllEntries()).To(HaveLen(2))
			Expect(hook.AllEntries()[0].Message).To(Equal("invalid message"))
			Expect(hook.AllEntries()[1].Message).To(Equal("read failed"))
		})

		It("does not limit records below Warn", func() {
			l.Info("endpoint started")
			l.Info("endpoint started")
			Expect(hook.AllEntries()).To(HaveLen(2))
		})
	})

	It("lets every repeat through without RepeatEvery", func() {
		l := slog.New(logbridge.NewSlogHandler(logrus.NewEntry(logger), logbridge.SlogOptions{}))
		l.Warn("invalid message")
		l.Warn("invalid message")
		Expect(hook.AllEntries()).To(HaveLen(2))
	})
})
