package actors_test

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"actorlog/actors"
	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"
)

// BenchmarkProduce measures produce requests of 128-byte records through a
// session and the log actor, with 64 requests in flight, as a client with
// many concurrent producers would send them. Coalescing turns them into far
// fewer segment appends. One op is one request; MB/s counts record bytes.
func BenchmarkProduce(b *testing.B) {
	for _, sync := range []segmentstore.SyncPolicy{segmentstore.SyncNone, segmentstore.SyncAlways} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/records=%d", sync, batch), func(b *testing.B) { benchmarkProduce(b, sync, batch) })
		}
	}
}

func benchmarkProduce(b *testing.B, policy segmentstore.SyncPolicy, batch int) {
	storage := segmentstore.DefaultConfig()
	storage.Sync = policy
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(actors.NewSlogHandler(logrus.NewEntry(quiet)))
	}))
	logPID, err := sys.Root.SpawnNamed(actors.NewLogProps(actors.LogConfig{Dir: b.TempDir(), Storage: storage}), actors.LogName)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sys.Root.RequestFuture(logPID, &messages.LogStatusRequest{WaitReady: true}, 10*time.Second).Result(); err != nil {
		b.Fatal(err)
	}
	sessions, _ := sys.Root.SpawnNamed(actors.NewSessionsProps(actors.SessionConfig{Log: logPID}), actors.SessionsName)
	res, err := sys.Root.RequestFuture(sessions, &messages.OpenSession{}, 10*time.Second).Result()
	if err != nil {
		b.Fatal(err)
	}
	sess := actor.NewPID(res.(*messages.SessionOpened).GetAddress(), res.(*messages.SessionOpened).GetId())
	b.Cleanup(func() {
		_ = sys.Root.StopFuture(sessions).Wait()
		_ = sys.Root.StopFuture(logPID).Wait()
		sys.Shutdown()
	})

	value := make([]byte, 128)
	const inFlight = 64
	b.SetBytes(int64(len(value) * batch))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan struct{}, inFlight)
	for range inFlight {
		wg.Go(func() {
			for range work {
				recs := make([]*messages.Record, batch)
				for i := range recs {
					recs[i] = &messages.Record{Value: value}
				}
				req := &messages.ProduceRequest{Records: recs}
				r, err := sys.Root.RequestFuture(sess, req, 10*time.Second).Result()
				if err != nil {
					b.Error(err)
					return
				}
				if _, ok := r.(*messages.ProduceResponse); !ok {
					b.Errorf("reply %T", r)
					return
				}
			}
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	st, _ := sys.Root.RequestFuture(logPID, &messages.LogStatusRequest{}, time.Second).Result()
	if s, ok := st.(*messages.LogStatus); ok && s.GetSegmentAppends() > 0 {
		b.ReportMetric(float64(b.N)/float64(s.GetSegmentAppends()), "requests/append")
	}
}
