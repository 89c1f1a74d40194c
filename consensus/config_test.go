package consensus_test

import (
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"actorlog/consensus"
)

var _ = Describe("RaftConfig", func() {
	It("fills every zero field with its documented default and passes raft's validation", func() {
		rc := consensus.RaftConfig("n1", consensus.Config{})
		Expect(raft.ValidateConfig(rc)).To(Succeed())
		Expect(rc.LocalID).To(Equal(raft.ServerID("n1")))
		Expect(rc.HeartbeatTimeout).To(Equal(consensus.DefaultHeartbeatTimeout))
		Expect(rc.ElectionTimeout).To(Equal(consensus.DefaultElectionTimeout))
		Expect(rc.LeaderLeaseTimeout).To(Equal(consensus.DefaultLeaderLeaseTimeout))
		Expect(rc.CommitTimeout).To(Equal(consensus.DefaultCommitTimeout))
		Expect(rc.MaxAppendEntries).To(Equal(consensus.DefaultMaxAppendEntries))
		Expect(rc.TrailingLogs).To(Equal(uint64(consensus.DefaultTrailingLogs)))
		Expect(rc.SnapshotThreshold).To(Equal(uint64(consensus.DefaultSnapshotThreshold)))
		Expect(rc.SnapshotInterval).To(Equal(consensus.DefaultSnapshotInterval))
		Expect(rc.BatchApplyCh).To(BeTrue())
		Expect(rc.NoSnapshotRestoreOnStart).To(BeTrue())
		Expect(rc.ShutdownOnRemove).To(BeTrue())
		Expect(rc.Logger).NotTo(BeNil())
	})

	It("keeps values that are set, and the loopback preset is valid", func() {
		cfg := consensus.LoopbackConfig()
		cfg.MaxAppendEntries = 1024
		rc := consensus.RaftConfig("n1", cfg)
		Expect(raft.ValidateConfig(rc)).To(Succeed())
		Expect(rc.HeartbeatTimeout).To(Equal(250 * time.Millisecond))
		Expect(rc.MaxAppendEntries).To(Equal(1024))
	})

	DescribeTable("Validate names the bad field",
		func(mutate func(*consensus.Config), field string) {
			cfg := consensus.DefaultConfig()
			mutate(&cfg)
			err := cfg.Validate()
			Expect(err).To(MatchError(consensus.ErrInvalidConfig))
			var ce *consensus.ConfigError
			Expect(err).To(BeAssignableToTypeOf(ce))
			Expect(err.(*consensus.ConfigError).Field).To(Equal(field))
		},
		Entry("lease above heartbeat", func(c *consensus.Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout }, "LeaderLeaseTimeout"),
		Entry("election below heartbeat", func(c *consensus.Config) { c.ElectionTimeout = c.HeartbeatTimeout / 2 }, "ElectionTimeout"),
		Entry("too many entries per RPC", func(c *consensus.Config) { c.MaxAppendEntries = 4096 }, "MaxAppendEntries"),
		Entry("a heartbeat raft refuses", func(c *consensus.Config) { c.HeartbeatTimeout = time.Millisecond }, "HeartbeatTimeout"),
		Entry("a negative retain", func(c *consensus.Config) { c.SnapshotRetain = -1 }, "SnapshotRetain"),
	)

	It("refuses to open one store kind over the other's files", func() {
		dir := GinkgoT().TempDir()
		logs, stable, closer, err := consensus.OpenStores(dir, consensus.StoreConfig{Kind: consensus.StoreWAL})
		Expect(err).NotTo(HaveOccurred())
		Expect(logs.StoreLogs(entries(1, 3, 1, 0))).To(Succeed())
		Expect(stable.SetUint64([]byte("CurrentTerm"), 1)).To(Succeed())
		Expect(closer.Close()).To(Succeed())
		_, _, _, err = consensus.OpenStores(dir, consensus.StoreConfig{Kind: consensus.StoreSegmentstore})
		Expect(err).To(MatchError(consensus.ErrStoreKindMismatch))

		dir = GinkgoT().TempDir()
		_, _, closer, err = consensus.OpenStores(dir, consensus.StoreConfig{Kind: consensus.StoreSegmentstore})
		Expect(err).NotTo(HaveOccurred())
		Expect(closer.Close()).To(Succeed())
		_, _, _, err = consensus.OpenStores(dir, consensus.StoreConfig{Kind: consensus.StoreWAL})
		Expect(err).To(MatchError(consensus.ErrStoreKindMismatch))
	})

	It("rejects an unknown store kind", func() {
		_, _, _, err := consensus.OpenStores(GinkgoT().TempDir(), consensus.StoreConfig{Kind: "bolt"})
		Expect(err).To(MatchError(consensus.ErrUnknownStoreKind))
	})
})

var _ = Describe("The hclog adapter", func() {
	It("sends raft's structured logs to the logrus entry with their fields", func() {
		logger, hook := logtest.NewNullLogger()
		logger.SetLevel(logrus.DebugLevel)
		l := consensus.NewHCLogger(logger.WithField("node", "n1"), "raft").Named("net").With("peer", "n2")
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
		l := consensus.NewHCLogger(nil, "raft")
		l.Error("nowhere")
		Expect(l.IsError()).To(BeFalse())
	})
})
