package logbridge_test

import (
	"github.com/hashicorp/go-hclog"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"actorlog/internal/logbridge"
)

var _ = Describe("The hclog adapter", func() {
	It("sends raft's structured logs to the logrus entry with their fields", func() {
		logger, hook := logtest.NewNullLogger()
		logger.SetLevel(logrus.DebugLevel)
		l := logbridge.NewHCLogger(logger.WithField("node", "n1"), "raft").Named("net").With("peer", "n2")
		l.Info("entering follower state", "term", 3, "odd")
		l.Trace("not shown")

		Expect(hook.AllEntries()).To(HaveLen(1))
		e := hook.LastEntry()
		Expect(e.Level).To(Equal(logrus.InfoLevel))
		Expect(e.Message).To(Equal("entering follower state"))
		Expect(e.Data).To(HaveKeyWithValue("node", "n1"))
		Expect(e.Data).To(HaveKeyWithValue("logger", "raft.net"))
		Expect(e.Data).To(HaveKeyWithValue("peer", "n2"))
		Expect(e.Data).To(HaveKeyWithValue("term", 3))
		Expect(e.Data).To(HaveKeyWithValue("EXTRA_VALUE_AT_END", "odd"))
		Expect(l.IsDebug()).To(BeTrue())
		Expect(l.IsTrace()).To(BeFalse())

		By("SetLevel narrows the whole family")
		l.SetLevel(hclog.Error)
		l.Warn("dropped")
		Expect(hook.AllEntries()).To(HaveLen(1))
		l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERROR] boom")
		Expect(hook.LastEntry().Level).To(Equal(logrus.ErrorLevel))
		Expect(hook.LastEntry().Message).To(Equal("boom"))
	})

	It("discards everything without an entry", func() {
		l := logbridge.NewHCLogger(nil, "raft")
		l.Error("nowhere")
		Expect(l.IsError()).To(BeFalse())
	})

	It("starts at the logrus logger's level and shares SetLevel with its parent", func() {
		logger, hook := logtest.NewNullLogger()
		logger.SetLevel(logrus.WarnLevel)
		parent := logbridge.NewHCLogger(logrus.NewEntry(logger), "raft")
		Expect(parent.GetLevel()).To(Equal(hclog.Warn))
		parent.Info("not shown")
		Expect(hook.AllEntries()).To(BeEmpty())

		child := parent.With("peer", "n2")
		child.SetLevel(hclog.Off)
		parent.Error("not shown either")
		Expect(hook.AllEntries()).To(BeEmpty())
		Expect(parent.IsError()).To(BeFalse())
	})

	DescribeTable("pairs each hclog level with the logrus level of the same name",
		func(h hclog.Level, l logrus.Level) {
			logger, hook := logtest.NewNullLogger()
			logger.SetLevel(l)
			hl := logbridge.NewHCLogger(logrus.NewEntry(logger), "raft")
			Expect(hl.GetLevel()).To(Equal(h), "a logger at logrus %s starts at hclog %s", l, h)
			hl.Log(h, "m")
			Expect(hook.AllEntries()).To(HaveLen(1))
			Expect(hook.LastEntry().Level).To(Equal(l))
		},
		Entry("trace", hclog.Trace, logrus.TraceLevel),
		Entry("debug", hclog.Debug, logrus.DebugLevel),
		Entry("info", hclog.Info, logrus.InfoLevel),
		Entry("warn", hclog.Warn, logrus.WarnLevel),
		Entry("error", hclog.Error, logrus.ErrorLevel),
	)

	It("writes a line without a level at Info, none at Off, and starts at Error below logrus Error", func() {
		logger, hook := logtest.NewNullLogger()
		l := logbridge.NewHCLogger(logrus.NewEntry(logger), "raft")
		l.Log(hclog.NoLevel, "m")
		Expect(hook.LastEntry().Level).To(Equal(logrus.InfoLevel))
		l.Log(hclog.Off, "m")
		Expect(hook.AllEntries()).To(HaveLen(1))

		for _, lv := range []logrus.Level{logrus.FatalLevel, logrus.PanicLevel} {
			logger.SetLevel(lv)
			Expect(logbridge.NewHCLogger(logrus.NewEntry(logger), "raft").GetLevel()).To(Equal(hclog.Error))
		}
	})

	It("names loggers as hclog does", func() {
		logger, hook := logtest.NewNullLogger()
		l := logbridge.NewHCLogger(logrus.NewEntry(logger), "")
		Expect(l.Name()).To(BeEmpty())
		l.Info("unnamed")
		Expect(hook.LastEntry().Data).NotTo(HaveKey("logger"))

		n := l.Named("raft").Named("net")
		Expect(n.Name()).To(Equal("raft.net"))
		r := n.ResetNamed("raft-wal").With("segment", 7)
		Expect(r.Name()).To(Equal("raft-wal"))
		Expect(r.ImpliedArgs()).To(Equal([]interface{}{"segment", 7}))
		r.Warn("sealed", 42, "not a string key")
		Expect(hook.LastEntry().Level).To(Equal(logrus.WarnLevel))
		Expect(hook.LastEntry().Data).To(Equal(logrus.Fields{"logger": "raft-wal", "segment": 7, "42": "not a string key"}))
	})

	It("turns the lines of a standard logger into log calls", func() {
		logger, hook := logtest.NewNullLogger()
		logger.SetLevel(logrus.TraceLevel)
		l := logbridge.NewHCLogger(logrus.NewEntry(logger), "raft")

		w := l.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
		_, err := w.Write([]byte("2024/01/01 [WARN] raft: slow\n[DEBUG] detail\nplain\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(hook.AllEntries()).To(HaveLen(3))
		Expect(hook.AllEntries()[0].Level).To(Equal(logrus.WarnLevel))
		Expect(hook.AllEntries()[0].Message).To(Equal("raft: slow"))
		Expect(hook.AllEntries()[1].Level).To(Equal(logrus.DebugLevel))
		Expect(hook.AllEntries()[2].Level).To(Equal(logrus.InfoLevel))
		Expect(hook.AllEntries()[2].Message).To(Equal("plain"))

		hook.Reset()
		l.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Trace}).Print("[ERROR] forced")
		Expect(hook.LastEntry().Level).To(Equal(logrus.TraceLevel))
		Expect(hook.LastEntry().Message).To(Equal("[ERROR] forced"))

		hook.Reset()
		l.StandardLogger(nil).Print("[ERROR] as is")
		Expect(hook.LastEntry().Level).To(Equal(logrus.InfoLevel))
		Expect(hook.LastEntry().Message).To(Equal("[ERROR] as is"))
	})
})
