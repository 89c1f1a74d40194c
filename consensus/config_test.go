package consensus_test

import (
	"time"

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

	It("sends raft's logs to the Config's logger, at its level, named raft", func() {
		logger, hook := logtest.NewNullLogger()
		logger.SetLevel(logrus.WarnLevel)
		rc := consensus.RaftConfig("n1", consensus.Config{Logger: logger.WithField("node", "n1")})
		Expect(rc.LogLevel).To(Equal("warn"))
		rc.Logger.Info("not shown")
		rc.Logger.Warn("heartbeat timeout reached", "last-leader-id", "n2")
		Expect(hook.AllEntries()).To(HaveLen(1))
		Expect(hook.LastEntry().Data).To(Equal(logrus.Fields{"node": "n1", "logger": "raft", "last-leader-id": "n2"}))
	})

	It("discards raft's logs without a logger", func() {
		Expect(consensus.RaftConfig("n1", consensus.Config{}).Logger.IsError()).To(BeFalse())
	})

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
