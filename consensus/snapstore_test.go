package consensus_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
	"actorlog/segmentstore"
	"actorlog/segmentstore/faultfs"
)

var _ = Describe("The snapshot store", func() {
	var dir string
	BeforeEach(func() { dir = GinkgoT().TempDir() })
	cfg := raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "127.0.0.1:1", Suffrage: raft.Voter}}}
	open := func(fsys segmentstore.FS) *consensus.FSSnapshotStore {
		GinkgoHelper()
		s, err := consensus.NewFSSnapshotStore(dir, 2, fsys, testLogger("snapshots"))
		Expect(err).NotTo(HaveOccurred())
		return s
	}
	// raft's own store encodes the peers through a transport.
	_, trans := raft.NewInmemTransport("")
	write := func(s raft.SnapshotStore, term, index uint64, state []byte) string {
		GinkgoHelper()
		sink, err := s.Create(1, index, term, cfg, 1, trans)
		Expect(err).NotTo(HaveOccurred())
		_, err = sink.Write(state)
		Expect(err).NotTo(HaveOccurred())
		Expect(sink.Close()).To(Succeed())
		return sink.ID()
	}
	read := func(s raft.SnapshotStore, id string) (*raft.SnapshotMeta, []byte) {
		GinkgoHelper()
		meta, rc, err := s.Open(id)
		Expect(err).NotTo(HaveOccurred())
		defer rc.Close()
		b, err := io.ReadAll(rc)
		Expect(err).NotTo(HaveOccurred())
		return meta, b
	}

	It("round-trips a snapshot, lists the newest first and keeps only the newest two", func() {
		s := open(nil)
		for i := uint64(1); i <= 3; i++ {
			write(s, 1, 10*i, bytes.Repeat([]byte{byte(i)}, 1000))
		}
		list, err := s.List()
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(HaveLen(2))
		Expect(list[0].Index).To(Equal(uint64(30)))
		Expect(list[1].Index).To(Equal(uint64(20)))
		Expect(list[0].Configuration).To(Equal(cfg))
		Expect(list[0].Size).To(Equal(int64(1000)))
		meta, b := read(s, list[0].ID)
		Expect(meta.Term).To(Equal(uint64(1)))
		Expect(b).To(Equal(bytes.Repeat([]byte{3}, 1000)))
		entries, err := os.ReadDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).To(HaveLen(2), "the oldest snapshot was removed")
	})

	It("leaves nothing of a cancelled snapshot, and removes at open what a crash left unfinished", func() {
		s := open(nil)
		sink, err := s.Create(1, 5, 1, cfg, 1, nil)
		Expect(err).NotTo(HaveOccurred())
		_, _ = sink.Write([]byte("partial"))
		Expect(sink.Cancel()).To(Succeed())
		Expect(os.ReadDir(dir)).To(BeEmpty())

		// A crash in the middle of a snapshot: state.bin, no meta.json.
		sink, err = s.Create(1, 6, 1, cfg, 1, nil)
		Expect(err).NotTo(HaveOccurred())
		_, _ = sink.Write([]byte("partial"))
		list, err := s.List()
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(BeEmpty(), "a snapshot being written is not listed")
		Expect(os.MkdirAll(filepath.Join(dir, "1-4-1.tmp"), 0o755)).To(Succeed())
		open(nil)
		Expect(os.ReadDir(dir)).To(BeEmpty())
	})

	It("refuses a snapshot whose state no longer matches its CRC", func() {
		s := open(nil)
		id := write(s, 2, 7, []byte("state of the machine"))
		p := filepath.Join(dir, id, "state.bin")
		b, err := os.ReadFile(p)
		Expect(err).NotTo(HaveOccurred())
		b[3] ^= 1
		Expect(os.WriteFile(p, b, 0o644)).To(Succeed())
		_, _, err = s.Open(id)
		Expect(err).To(MatchError(consensus.ErrSnapshotCRC))
	})

	It("reads the snapshots raft's own file store wrote, and raft's store reads its snapshots", func() {
		// Data directories of earlier releases hold raft's snapshots.
		// raft's store keeps its snapshots in <base>/snapshots.
		theirs, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, nil)
		Expect(err).NotTo(HaveOccurred())
		dir = filepath.Join(dir, "snapshots")
		old := write(theirs, 1, 10, []byte("written by raft"))
		s := open(nil)
		_, b := read(s, old)
		Expect(string(b)).To(Equal("written by raft"))
		mine := write(s, 1, 20, []byte("written here"))
		_, b = read(theirs, mine)
		Expect(string(b)).To(Equal("written here"))
	})

	It("keeps a finished snapshot whole through a power loss, and one cut short leaves nothing", func() {
		for seed := int64(1); seed <= 20; seed++ {
			dir = GinkgoT().TempDir()
			fsys := faultfs.New(seed)
			s := open(fsys)
			id := write(s, 1, 10, bytes.Repeat([]byte("x"), 20000))
			sink, err := s.Create(1, 20, 1, cfg, 1, nil)
			Expect(err).NotTo(HaveOccurred())
			_, _ = sink.Write(bytes.Repeat([]byte("y"), 20000))
			fsys.PowerOff()
			Expect(fsys.Restart()).To(Succeed())

			s = open(fsys)
			list, err := s.List()
			Expect(err).NotTo(HaveOccurred())
			Expect(list).To(HaveLen(1), "seed %d", seed)
			Expect(list[0].ID).To(Equal(id))
			_, b := read(s, id)
			Expect(b).To(Equal(bytes.Repeat([]byte("x"), 20000)), "seed %d", seed)
		}
	})
})
