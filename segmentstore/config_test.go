package segmentstore_test

import (
	"time"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Config", func() {
	It("has documented defaults that validate", func() {
		c := segmentstore.DefaultConfig()
		Expect(c.Validate()).To(Succeed())
		Expect(c.MaxStoreBytes).To(Equal(segmentstore.DefaultMaxStoreBytes))
		Expect(c.MaxIndexBytes).To(Equal(segmentstore.DefaultMaxIndexBytes))
		Expect(c.MaxRecordBytes).To(BeNumerically(">=", 1<<20))
		Expect(c.Sync).To(Equal(segmentstore.SyncInterval))
		Expect(c.SyncInterval).To(Equal(segmentstore.DefaultSyncInterval))
	})

	It("accepts the zero Config, whose zero fields take defaults", func() {
		Expect(segmentstore.Config{}.Validate()).To(Succeed())
	})

	DescribeTable("names the bad field",
		func(mutate func(*segmentstore.Config), field string) {
			c := segmentstore.DefaultConfig()
			mutate(&c)
			err := c.Validate()
			Expect(err).To(MatchError(segmentstore.ErrInvalidConfig))
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("store too small", func(c *segmentstore.Config) { c.MaxStoreBytes = 10 }, "MaxStoreBytes"),
		Entry("index below one entry", func(c *segmentstore.Config) { c.MaxIndexBytes = 5 }, "MaxIndexBytes"),
		Entry("index too many entries", func(c *segmentstore.Config) { c.MaxIndexBytes = 1 << 40 }, "MaxIndexBytes"),
		Entry("record beyond the frame limit", func(c *segmentstore.Config) { c.MaxRecordBytes = 1<<32 - 1 }, "MaxRecordBytes"),
		Entry("unknown policy", func(c *segmentstore.Config) { c.Sync = 7 }, "Sync"),
		Entry("negative interval", func(c *segmentstore.Config) { c.SyncInterval = -time.Second }, "SyncInterval"),
		Entry("negative age", func(c *segmentstore.Config) { c.RetentionAge = -time.Second }, "RetentionAge"),
	)

	It("refuses to open a log or a segment with a bad config", func() {
		c := segmentstore.DefaultConfig()
		c.MaxStoreBytes = 1
		_, err := segmentstore.Open(GinkgoT().TempDir(), c)
		Expect(err).To(MatchError(segmentstore.ErrInvalidConfig))
		_, err = segmentstore.OpenSegment(GinkgoT().TempDir(), 0, c)
		Expect(err).To(MatchError(segmentstore.ErrInvalidConfig))
	})

	Describe("SyncPolicy", func() {
		It("round-trips through its name", func() {
			for _, p := range []segmentstore.SyncPolicy{segmentstore.SyncNone, segmentstore.SyncInterval, segmentstore.SyncAlways} {
				got, err := segmentstore.ParseSyncPolicy(p.String())
				Expect(err).NotTo(HaveOccurred())
				Expect(got).To(Equal(p))
				text, err := p.MarshalText()
				Expect(err).NotTo(HaveOccurred())
				var back segmentstore.SyncPolicy
				Expect(back.UnmarshalText(text)).To(Succeed())
				Expect(back).To(Equal(p))
			}
			Expect(segmentstore.SyncAlways.String()).To(Equal("always"))
			p, err := segmentstore.ParseSyncPolicy(" Interval ")
			Expect(err).NotTo(HaveOccurred())
			Expect(p).To(Equal(segmentstore.SyncInterval))
		})

		It("rejects unknown names", func() {
			_, err := segmentstore.ParseSyncPolicy("sometimes")
			Expect(err).To(MatchError(segmentstore.ErrInvalidConfig))
			Expect(segmentstore.SyncPolicy(9).String()).To(Equal("SyncPolicy(9)"))
		})
	})
})
