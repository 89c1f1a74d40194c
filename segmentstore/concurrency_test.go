package segmentstore_test

import (
	"errors"
	"io"
	"math/rand"
	"sync"
	"time"

	"actorlog/segmentstore"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Concurrency", func() {
	It("serves many readers while one writer appends, rolls over and retention deletes", func() {
		c := testConfig()
		c.Sync = segmentstore.SyncInterval
		c.SyncInterval = time.Millisecond
		c.RetentionBytes = 6 * c.MaxStoreBytes
		l := mustOpen(GinkgoT().TempDir(), c)
		appendN(l, 1)

		const total = 3000
		done := make(chan struct{})
		var readers sync.WaitGroup
		reads := make([]int, 4)
		for r := 0; r < 4; r++ {
			readers.Add(1)
			go func(id int) {
				defer GinkgoRecover()
				defer readers.Done()
				rng := rand.New(rand.NewSource(int64(id)))
				for {
					select {
					case <-done:
						return
					default:
					}
					low, next := l.LowestOffset(), l.NextOffset()
					off := low + uint64(rng.Int63n(int64(next-low)))
					var recs []segmentstore.Record
					var err error
					if id%2 == 0 {
						var rec segmentstore.Record
						rec, err = l.Read(off)
						recs = []segmentstore.Record{rec}
					} else {
						recs, err = l.ReadRange(off, 50, 4096)
					}
					if errors.Is(err, segmentstore.ErrOffsetOutOfRange) {
						// Retention moved the front past off meanwhile.
						Expect(off).To(BeNumerically("<", l.LowestOffset()))
						continue
					}
					Expect(err).NotTo(HaveOccurred())
					for i, rec := range recs {
						Expect(rec.Offset).To(Equal(off + uint64(i)))
						Expect(rec.Value).To(Equal(value(rec.Offset)))
					}
					reads[id]++
				}
			}(r)
		}
		readers.Add(1)
		go func() {
			defer GinkgoRecover()
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				// A snapshot taken while segments are deleted either
				// completes or reports that its segment went away.
				_, err := io.Copy(io.Discard, l.Reader())
				if err != nil {
					Expect(errors.Is(err, segmentstore.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)).To(BeTrue(), err.Error())
				}
				Expect(l.Sync()).To(Succeed())
			}
		}()

		for l.NextOffset() < total {
			n := uint64(rand.Intn(20) + 1)
			next := l.NextOffset()
			_, err := l.Append(records(next, n)...)
			Expect(err).NotTo(HaveOccurred())
		}
		close(done)
		readers.Wait()
		for _, n := range reads {
			Expect(n).To(BeNumerically(">", 0))
		}
		Expect(l.LowestOffset()).To(BeNumerically(">", 0))
	})

	It("lets a segment's readers see buffered records while the writer appends", func() {
		c := testConfig()
		c.MaxStoreBytes = 1 << 20
		c.MaxIndexBytes = 1 << 20
		c.WriteBufferBytes = 4096
		s := mustOpenSegment(GinkgoT().TempDir(), 0, c)
		_, err := s.Append(records(0, 1))
		Expect(err).NotTo(HaveOccurred())

		done := make(chan struct{})
		var wg sync.WaitGroup
		for r := 0; r < 3; r++ {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					next := s.NextOffset()
					expectRecord(s, next-1)
					recs, err := s.ReadRange(0, 0, 0)
					Expect(err).NotTo(HaveOccurred())
					Expect(len(recs)).To(BeNumerically(">=", int(next)))
				}
			}()
		}
		for i := uint64(1); i < 2000; i += 4 {
			_, err := s.Append(records(i, 4))
			Expect(err).NotTo(HaveOccurred())
		}
		close(done)
		wg.Wait()
	})
})
