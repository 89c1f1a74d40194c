package consensus_test

import (
	"errors"
	"path/filepath"
	"time"

	"actorlog/consensus"
	"actorlog/messages"
	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"
)

var _ = Describe("Peer", func() {
	peerConfig := func(dir string, format2 bool) consensus.PeerConfig {
		return consensus.PeerConfig{
			ID: "p1", DataDir: dir, RecordLogDir: filepath.Join(dir, "log"),
			ValuesInRaftLog: format2, Logger: testLogger("p1"),
			Raft: consensus.LoopbackConfig(), BindAddr: "127.0.0.1:0",
		}
	}
	produce := func(p *consensus.Peer, values ...string) uint64 {
		req := &messages.ProduceRequest{}
		for _, v := range values {
			req.Records = append(req.Records, &messages.Record{Value: []byte(v)})
		}
		b, err := proto.Marshal(&messages.RaftCommand{Command: &messages.RaftCommand_Produce{Produce: req}})
		Expect(err).NotTo(HaveOccurred())
		f := p.Raft().Apply(b, 5*time.Second)
		Expect(f.Error()).To(Succeed())
		return f.Index()
	}

	It("opens the stores, starts raft over them and releases everything on Close", func() {
		dir := GinkgoT().TempDir()
		p, err := consensus.Open(peerConfig(dir, true))
		Expect(err).NotTo(HaveOccurred())
		end, ok := p.EndIndex()
		Expect(ok).To(BeTrue())
		Expect(end).To(BeNumerically("<=", 1))

		log := &memLog{}
		Expect(p.Start(log)).To(Succeed())
		Expect(p.HadState()).To(BeFalse())
		Expect(p.Addr()).NotTo(BeEmpty())
		Expect(p.Bootstrap()).To(Succeed())
		Eventually(p.Raft().State, 5*time.Second, 10*time.Millisecond).Should(Equal(raft.Leader))

		index := produce(p, "a", "b")
		Eventually(log.values, 5*time.Second, 10*time.Millisecond).Should(HaveLen(2))
		// In data format 2 the raft log serves the records' values.
		recs, err := p.EntryRecords(index)
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(HaveLen(2))
		Expect(string(recs[1].GetValue())).To(Equal("b"))

		Expect(p.Shutdown(5 * time.Second)).To(Succeed())
		Expect(p.Close()).To(Succeed())
		Expect(p.Close()).To(Succeed())
		_, err = p.EntryRecords(index)
		Expect(errors.Is(err, consensus.ErrClosed)).To(BeTrue(), "%v", err)

		// Started again, raft finds the state it left.
		p, err = consensus.Open(peerConfig(dir, true))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		Expect(p.Start(log)).To(Succeed())
		Expect(p.HadState()).To(BeTrue())
	})

	It("keeps no values source in data format 1, and closes without being started", func() {
		p, err := consensus.Open(peerConfig(GinkgoT().TempDir(), false))
		Expect(err).NotTo(HaveOccurred())
		_, ok := p.EndIndex()
		Expect(ok).To(BeFalse())
		_, err = p.EntryRecords(1)
		Expect(errors.Is(err, consensus.ErrClosed)).To(BeTrue(), "%v", err)
		Expect(p.Close()).To(Succeed())
	})
})
