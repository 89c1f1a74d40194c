package consensus_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"actorlog/consensus"
)

// storeImpl is one implementation under the conformance spec. open opens
// (or reopens) the stores kept in dir.
type storeImpl struct {
	name string
	open func(dir string) (raft.LogStore, raft.StableStore, io.Closer)
	// durable is false for the in-memory reference: "reopening" it returns
	// the same instance, which is trivially what a durable store must match.
	durable bool
}

// smallSegments makes a few hundred 1 KiB entries span several segment
// files, so prefix deletes and reopen cross segment boundaries.
const smallSegments = 32 << 10

func storeImpls() []func() storeImpl {
	opener := func(cfg consensus.StoreConfig) func(string) (raft.LogStore, raft.StableStore, io.Closer) {
		return func(dir string) (raft.LogStore, raft.StableStore, io.Closer) {
			cfg.Logger = testLogger("store")
			logs, stable, closer, err := consensus.OpenStores(dir, cfg)
			ExpectWithOffset(2, err).NotTo(HaveOccurred())
			return logs, stable, closer
		}
	}
	return []func() storeImpl{
		func() storeImpl {
			// One instance per spec, shared by every "reopen".
			mem := raft.NewInmemStore()
			return storeImpl{
				name: "raft.InmemStore (reference)",
				open: func(string) (raft.LogStore, raft.StableStore, io.Closer) {
					return mem, mem, io.NopCloser(nil)
				},
			}
		},
		func() storeImpl {
			return storeImpl{name: "raft-wal", durable: true,
				open: opener(consensus.StoreConfig{Kind: consensus.StoreWAL, Cache: -1, SegmentBytes: smallSegments})}
		},
		func() storeImpl {
			return storeImpl{name: "raft-wal behind LogCache", durable: true,
				open: opener(consensus.StoreConfig{Kind: consensus.StoreWAL, Cache: 16, SegmentBytes: smallSegments})}
		},
		func() storeImpl {
			return storeImpl{name: "segmentstore", durable: true,
				open: opener(consensus.StoreConfig{Kind: consensus.StoreSegmentstore, Cache: -1, SegmentBytes: smallSegments})}
		},
		func() storeImpl {
			return storeImpl{name: "segmentstore behind LogCache", durable: true,
				open: opener(consensus.StoreConfig{Kind: consensus.StoreSegmentstore, Cache: 16, SegmentBytes: smallSegments})}
		},
		func() storeImpl {
			// A byte bound below two entries of the spec: the cache keeps
			// evicting, and must never serve what it no longer holds.
			return storeImpl{name: "segmentstore behind a LogCache of 2 KiB", durable: true,
				open: opener(consensus.StoreConfig{Kind: consensus.StoreSegmentstore, Cache: 512, CacheBytes: 2 << 10, SegmentBytes: smallSegments})}
		},
		// The relaxed policies promise what survives kill -9: every stored
		// entry is in the files when StoreLogs returns. The hour-long
		// interval keeps the background fsync out of the picture.
		func() storeImpl {
			return storeImpl{name: "segmentstore, fsync every interval", durable: true,
				open: opener(consensus.StoreConfig{Kind: consensus.StoreSegmentstore, Cache: 16, SegmentBytes: smallSegments,
					Sync: consensus.LogSyncInterval, SyncInterval: time.Hour})}
		},
		func() storeImpl {
			return storeImpl{name: "segmentstore, fsync left to the OS", durable: true,
				open: opener(consensus.StoreConfig{Kind: consensus.StoreSegmentstore, Cache: -1, SegmentBytes: smallSegments,
					Sync: consensus.LogSyncNone})}
		},
	}
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// entry builds a deterministic entry whose content depends on index and a
// generation, so an overwritten entry is told apart from the original.
func entry(index, term uint64, gen int) *raft.Log {
	l := &raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogCommand,
		Data:       bytes.Repeat([]byte(fmt.Sprintf("g%d-i%d;", gen, index)), 1024/12),
		AppendedAt: epoch.Add(time.Duration(index) * time.Millisecond),
	}
	if index%3 == 0 {
		l.Extensions = []byte(fmt.Sprintf("ext-%d", index))
	}
	if index%7 == 0 {
		l.Type = raft.LogNoop
		l.Data = nil
	}
	return l
}

func entries(from, to, term uint64, gen int) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, entry(i, term, gen))
	}
	return out
}

// expectEntry compares every field raft stores. Nil and empty byte slices
// are the same entry, and times compare by instant.
func expectEntry(logs raft.LogStore, want *raft.Log) {
	var got raft.Log
	ExpectWithOffset(1, logs.GetLog(want.Index, &got)).To(Succeed(), "GetLog(%d)", want.Index)
	ExpectWithOffset(1, got.Index).To(Equal(want.Index))
	ExpectWithOffset(1, got.Term).To(Equal(want.Term), "term of %d", want.Index)
	ExpectWithOffset(1, got.Type).To(Equal(want.Type), "type of %d", want.Index)
	ExpectWithOffset(1, bytes.Equal(got.Data, want.Data)).To(BeTrue(), "data of %d: %q", want.Index, got.Data)
	ExpectWithOffset(1, bytes.Equal(got.Extensions, want.Extensions)).To(BeTrue(), "extensions of %d", want.Index)
	ExpectWithOffset(1, got.AppendedAt.Equal(want.AppendedAt)).To(BeTrue(), "appended-at of %d: %v", want.Index, got.AppendedAt)
}

func expectMissing(logs raft.LogStore, index uint64) {
	var got raft.Log
	ExpectWithOffset(1, logs.GetLog(index, &got)).To(MatchError(raft.ErrLogNotFound), "GetLog(%d)", index)
}

func expectBounds(logs raft.LogStore, first, last uint64) {
	f, err := logs.FirstIndex()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	l, err := logs.LastIndex()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, []uint64{f, l}).To(Equal([]uint64{first, last}), "first and last index")
}

// copyTree copies every regular file under src to dst, which is what a
// kill -9 leaves on disk: everything written, nothing closed.
func copyTree(src, dst string) {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
}

var _ = Describe("Raft log and stable store conformance", func() {
	for _, mk := range storeImpls() {
		name := mk().name
		Context(name, func() {
			var (
				impl   storeImpl
				dir    string
				logs   raft.LogStore
				stable raft.StableStore
				closer io.Closer
			)
			reopen := func() {
				Expect(closer.Close()).To(Succeed())
				logs, stable, closer = impl.open(dir)
			}
			// crash reopens from a copy of the files taken while the
			// stores are still open, as after kill -9, and closes the
			// original stores only afterwards.
			crash := func() {
				if !impl.durable {
					return
				}
				crashed := filepath.Join(GinkgoT().TempDir(), "crashed")
				copyTree(dir, crashed)
				Expect(closer.Close()).To(Succeed())
				dir = crashed
				logs, stable, closer = impl.open(dir)
			}

			BeforeEach(func() {
				impl = mk()
				dir = GinkgoT().TempDir()
				logs, stable, closer = impl.open(dir)
				DeferCleanup(func() { Expect(closer.Close()).To(Succeed()) })
			})

			Describe("the log store", func() {
				It("is empty at first: first and last index are 0 and nothing is found", func() {
					expectBounds(logs, 0, 0)
					expectMissing(logs, 0)
					expectMissing(logs, 1)
				})

				It("stores one entry with StoreLog and returns every field with GetLog", func() {
					e := entry(1, 1, 0)
					e.Extensions = []byte("ext")
					Expect(logs.StoreLog(e)).To(Succeed())
					expectEntry(logs, e)
					expectBounds(logs, 1, 1)
					expectMissing(logs, 2)
				})

				It("round-trips entries without data, without a timestamp and of every type", func() {
					batch := []*raft.Log{
						{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte{1, 2, 3}},
						{Index: 2, Term: 1, Type: raft.LogNoop},
						{Index: 3, Term: 2, Type: raft.LogBarrier, Data: []byte{}},
						{Index: 4, Term: 2, Type: raft.LogCommand, Data: bytes.Repeat([]byte{0xAB}, 256<<10)},
						{Index: 5, Term: 3, Type: raft.LogCommand, Extensions: []byte{0}, AppendedAt: time.Unix(0, 1)},
					}
					Expect(logs.StoreLogs(batch)).To(Succeed())
					for _, e := range batch {
						expectEntry(logs, e)
					}
				})

				It("stores a batch with StoreLogs: every entry is readable and the bounds are exact", func() {
					Expect(logs.StoreLogs(entries(1, 100, 1, 0))).To(Succeed())
					Expect(logs.StoreLogs(entries(101, 200, 2, 0))).To(Succeed())
					expectBounds(logs, 1, 200)
					for _, e := range entries(1, 100, 1, 0) {
						expectEntry(logs, e)
					}
					expectEntry(logs, entry(150, 2, 0))
					expectMissing(logs, 201)
				})

				It("starts an empty log at any index", func() {
					Expect(logs.StoreLogs(entries(1000, 1009, 4, 0))).To(Succeed())
					expectBounds(logs, 1000, 1009)
					expectEntry(logs, entry(1000, 4, 0))
					expectMissing(logs, 999)
					expectMissing(logs, 1)
				})

				It("deletes a prefix exactly, also in the middle of a segment", func() {
					Expect(logs.StoreLogs(entries(1, 300, 1, 0))).To(Succeed())
					Expect(logs.DeleteRange(1, 123)).To(Succeed())
					expectBounds(logs, 124, 300)
					expectMissing(logs, 1)
					expectMissing(logs, 123)
					expectEntry(logs, entry(124, 1, 0))
					expectEntry(logs, entry(300, 1, 0))

					Expect(logs.DeleteRange(124, 250)).To(Succeed())
					expectBounds(logs, 251, 300)
					expectMissing(logs, 250)
					expectEntry(logs, entry(251, 1, 0))

					By("appending after a prefix delete")
					Expect(logs.StoreLogs(entries(301, 310, 1, 0))).To(Succeed())
					expectBounds(logs, 251, 310)
				})

				It("deletes a suffix; appending after it continues contiguously with the new entries", func() {
					Expect(logs.StoreLogs(entries(1, 200, 1, 0))).To(Succeed())
					Expect(logs.DeleteRange(151, 200)).To(Succeed())
					expectBounds(logs, 1, 150)
					expectMissing(logs, 151)
					expectMissing(logs, 200)

					By("appending from the cut with a new term")
					Expect(logs.StoreLogs(entries(151, 220, 2, 1))).To(Succeed())
					expectBounds(logs, 1, 220)
					expectEntry(logs, entry(150, 1, 0))
					for _, e := range entries(151, 220, 2, 1) {
						expectEntry(logs, e)
					}

					By("a suffix delete that reaches into earlier segments")
					Expect(logs.DeleteRange(20, 220)).To(Succeed())
					expectBounds(logs, 1, 19)
					Expect(logs.StoreLogs(entries(20, 30, 3, 2))).To(Succeed())
					expectBounds(logs, 1, 30)
					expectEntry(logs, entry(20, 3, 2))
					expectEntry(logs, entry(19, 1, 0))
				})

				It("empties on deleting everything, and then starts again at any index, as after a snapshot restore", func() {
					Expect(logs.StoreLogs(entries(1, 100, 1, 0))).To(Succeed())
					Expect(logs.DeleteRange(1, 100)).To(Succeed())
					expectBounds(logs, 0, 0)
					expectMissing(logs, 50)

					Expect(logs.StoreLogs(entries(5000, 5010, 7, 1))).To(Succeed())
					expectBounds(logs, 5000, 5010)
					expectEntry(logs, entry(5000, 7, 1))
					expectMissing(logs, 100)
				})

				It("serves concurrent readers while it appends and compacts", func() {
					Expect(logs.StoreLogs(entries(1, 64, 1, 0))).To(Succeed())
					done := make(chan struct{})
					var readers sync.WaitGroup
					for r := 0; r < 2; r++ {
						readers.Add(1)
						go func() {
							defer GinkgoRecover()
							defer readers.Done()
							var got raft.Log
							for i := uint64(1); ; i = i%600 + 1 {
								select {
								case <-done:
									return
								default:
								}
								err := logs.GetLog(i, &got)
								if err == nil {
									Expect(got.Index).To(Equal(i))
									Expect(bytes.Equal(got.Data, entry(i, 1, 0).Data)).To(BeTrue(), "data of %d", i)
								} else {
									Expect(err).To(MatchError(raft.ErrLogNotFound))
								}
							}
						}()
					}
					for next := uint64(65); next < 600; next += 16 {
						Expect(logs.StoreLogs(entries(next, next+15, 1, 0))).To(Succeed())
						if next%128 == 1 {
							Expect(logs.DeleteRange(1, next-100)).To(Succeed())
						}
					}
					close(done)
					readers.Wait()
					expectEntry(logs, entry(599, 1, 0))
				})

				It("keeps entries and bounds across Close and reopen", func() {
					Expect(logs.StoreLogs(entries(1, 300, 1, 0))).To(Succeed())
					Expect(logs.DeleteRange(1, 77)).To(Succeed())
					Expect(logs.DeleteRange(281, 300)).To(Succeed())
					reopen()
					expectBounds(logs, 78, 280)
					expectMissing(logs, 77)
					expectMissing(logs, 281)
					expectEntry(logs, entry(78, 1, 0))
					expectEntry(logs, entry(280, 1, 0))

					By("appending after the reopen")
					Expect(logs.StoreLogs(entries(281, 290, 2, 1))).To(Succeed())
					reopen()
					expectBounds(logs, 78, 290)
					expectEntry(logs, entry(290, 2, 1))
				})

				It("keeps an emptied log empty across reopen, and restartable at any index", func() {
					Expect(logs.StoreLogs(entries(1, 50, 1, 0))).To(Succeed())
					Expect(logs.DeleteRange(1, 50)).To(Succeed())
					reopen()
					expectBounds(logs, 0, 0)
					Expect(logs.StoreLogs(entries(900, 905, 2, 0))).To(Succeed())
					reopen()
					expectBounds(logs, 900, 905)
					expectEntry(logs, entry(905, 2, 0))
				})

				It("keeps every acknowledged StoreLogs and DeleteRange after a crash (reopen without Close)", func() {
					Expect(logs.StoreLogs(entries(1, 250, 1, 0))).To(Succeed())
					Expect(logs.DeleteRange(1, 99)).To(Succeed())
					Expect(logs.DeleteRange(241, 250)).To(Succeed())
					Expect(logs.StoreLogs(entries(241, 260, 2, 1))).To(Succeed())
					crash()
					expectBounds(logs, 100, 260)
					expectMissing(logs, 99)
					expectEntry(logs, entry(100, 1, 0))
					expectEntry(logs, entry(240, 1, 0))
					expectEntry(logs, entry(241, 2, 1))
					expectEntry(logs, entry(260, 2, 1))

					By("continuing to append after recovery")
					Expect(logs.StoreLogs(entries(261, 270, 2, 1))).To(Succeed())
					expectBounds(logs, 100, 270)
				})

				It("keeps an emptied and restarted log after a crash", func() {
					Expect(logs.StoreLogs(entries(1, 40, 1, 0))).To(Succeed())
					Expect(logs.DeleteRange(1, 40)).To(Succeed())
					Expect(logs.StoreLogs(entries(700, 710, 3, 0))).To(Succeed())
					crash()
					expectBounds(logs, 700, 710)
					expectEntry(logs, entry(700, 3, 0))
				})
			})

			Describe("the stable store", func() {
				It("returns what Set and SetUint64 stored, and the last value written", func() {
					Expect(stable.Set([]byte("LastVoteCand"), []byte("node-1"))).To(Succeed())
					Expect(stable.SetUint64([]byte("CurrentTerm"), 7)).To(Succeed())
					Expect(stable.SetUint64([]byte("CurrentTerm"), 8)).To(Succeed())
					Expect(stable.Get([]byte("LastVoteCand"))).To(Equal([]byte("node-1")))
					Expect(stable.GetUint64([]byte("CurrentTerm"))).To(Equal(uint64(8)))
				})

				It("reads a missing key as unset, the way raft expects", func() {
					v, err := stable.Get([]byte("missing"))
					// Raft accepts either (nil, nil) or an error whose text
					// is exactly "not found" (it compares the text).
					if err != nil {
						Expect(err.Error()).To(Equal("not found"))
					}
					Expect(v).To(BeEmpty())
					Expect(stable.GetUint64([]byte("missing-uint"))).To(BeZero())
				})

				It("keeps values across Close and reopen", func() {
					Expect(stable.Set([]byte("k"), []byte("v1"))).To(Succeed())
					Expect(stable.Set([]byte("k"), []byte("v2"))).To(Succeed())
					Expect(stable.SetUint64([]byte("CurrentTerm"), 1<<40)).To(Succeed())
					reopen()
					Expect(stable.Get([]byte("k"))).To(Equal([]byte("v2")))
					Expect(stable.GetUint64([]byte("CurrentTerm"))).To(Equal(uint64(1 << 40)))
				})

				It("keeps every acknowledged Set after a crash (reopen without Close)", func() {
					Expect(stable.SetUint64([]byte("CurrentTerm"), 42)).To(Succeed())
					Expect(stable.Set([]byte("LastVoteCand"), []byte("node-2"))).To(Succeed())
					crash()
					Expect(stable.GetUint64([]byte("CurrentTerm"))).To(Equal(uint64(42)))
					Expect(stable.Get([]byte("LastVoteCand"))).To(Equal([]byte("node-2")))
				})
			})
		})
	}
})
