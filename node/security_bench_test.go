package node

import (
	"context"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"actorlog/actors"
	"actorlog/certs"
	"actorlog/client"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
)

// BenchmarkProduceUnderAttack measures root's produce latency on a TLS
// node (policy: root may do everything, nobody nothing), quiet and while
// nobody floods the actor port with the hostile messages of README
// "Security" (spoofed Terminated, Watch and Unwatch notices, session
// opens, requests answered in the node's own name). It reports p50 and
// p99 in microseconds and the hostile messages sent per second; compare
// the two sub-benchmarks of one run (docs/BENCHMARKS.md).
func BenchmarkProduceUnderAttack(b *testing.B) {
	dir := b.TempDir()
	tlsFor := benchCerts(b, dir, []string{"n1"}, []string{"root", "nobody"})
	policy := filepath.Join(dir, "policy.csv")
	if err := os.WriteFile(policy, []byte("p, root, *\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	cfg := DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.Bootstrap, cfg.Logger = "n1", filepath.Join(dir, "data"), true, logger
	cfg.ActorAddr, cfg.HTTPAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS, cfg.ACLPolicy = tlsFor["n1"], policy
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	}()
	ccfg := client.DefaultConfig()
	ccfg.Servers, ccfg.TLS, ccfg.Logger = []string{n.ActorAddr()}, tlsFor["root"], logger
	root, err := client.New(ctx, ccfg)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()

	value := make([]byte, 100)
	measure := func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			start := time.Now()
			if _, err := root.Produce(ctx, value); err != nil {
				cancel()
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
			cancel()
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("quiet", measure)
	b.Run("attack", func(b *testing.B) {
		var sent atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				attackLoop(n, tlsFor["nobody"], w, stop, &sent)
			}()
		}
		start := time.Now()
		measure(b)
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(sent.Load())/time.Since(start).Seconds(), "hostile-msgs/s")
	})
}

// The attack's pace: each of the two attackers sends a batch of
// attackBatch hostile messages every attackEvery, 10,000 messages a
// second in all (the volume of README "Security", every second).
const (
	attackBatch = 100
	attackEvery = 20 * time.Millisecond
)

// attackLoop sends hostile batches from nobody until stop, reconnecting
// whenever the node closes the stream.
func attackLoop(n *Node, cfg *tls.Config, worker int, stop <-chan struct{}, sent *atomic.Int64) {
	conn, err := grpc.NewClient(n.ActorAddr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return
	}
	defer conn.Close()
	_, port, _ := strings.Cut(n.ActorAddr(), ":")
	sessions := &actor.PID{Address: n.ActorAddr(), Id: actors.SessionsName}
	announced := "127.0.0.1:" + strconv.Itoa(1+worker)
	marshal := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	batch := func(round int) *remote.MessageBatch {
		b := &remote.MessageBatch{
			TypeNames: []string{"actor.Terminated", "actor.Watch", "actorlog.v1.OpenSession", "actorlog.v1.ProduceRequest"},
			Targets:   []*actor.PID{sessions},
		}
		for i := range attackBatch {
			k := round*attackBatch + i
			spoofed := &actor.PID{Address: "127.0.0.1:" + strings.Repeat("0", 1+k%500) + port, Id: "x"}
			e := &remote.MessageEnvelope{TypeId: int32(i % 4), Target: 0}
			switch i % 4 {
			case 0:
				e.MessageData = marshal(&actor.Terminated{Who: spoofed})
			case 1:
				e.MessageData = marshal(&actor.Watch{Watcher: spoofed})
			case 2:
				b.Senders = append(b.Senders, &actor.PID{Address: announced, Id: "req" + strconv.Itoa(k)})
				e.Sender = int32(len(b.Senders))
				e.MessageData = marshal(&messages.OpenSession{})
			default:
				b.Senders = append(b.Senders, &actor.PID{Address: n.ActorAddr(), Id: "future$" + strconv.Itoa(k%20000)})
				e.Sender = int32(len(b.Senders))
				e.MessageData = marshal(&messages.ProduceRequest{Records: []*messages.Record{{Value: []byte("x")}}})
			}
			b.Envelopes = append(b.Envelopes, e)
		}
		return b
	}
	round := 0
	tick := time.NewTicker(attackEvery)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithCancel(context.Background())
		stream, err := remote.NewRemotingClient(conn).Receive(ctx)
		if err == nil {
			err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{
				ConnectRequest: &remote.ConnectRequest{ConnectionType: &remote.ConnectRequest_ServerConnection{
					ServerConnection: &remote.ServerConnection{SystemId: "attacker", Address: announced},
				}},
			}})
		}
		for err == nil {
			select {
			case <-stop:
				cancel()
				return
			case <-tick.C:
			}
			err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: batch(round)}})
			if err == nil {
				sent.Add(attackBatch)
				round++
			}
		}
		cancel()
		select {
		case <-stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// benchCerts writes a CA and the named certificates into dir and loads
// them.
func benchCerts(b *testing.B, dir string, nodes, clients []string) map[string]*tls.Config {
	ca, err := certs.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFiles(caFile, filepath.Join(dir, "ca-key.pem"), false); err != nil {
		b.Fatal(err)
	}
	out := map[string]*tls.Config{}
	for _, name := range append(slices.Clone(nodes), clients...) {
		kp, err := certs.Issue(ca, certs.Options{CommonName: name, Node: slices.Contains(nodes, name), Hosts: []string{"127.0.0.1"}})
		if err != nil {
			b.Fatal(err)
		}
		f := certs.Files{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem"), CA: caFile}
		if err := kp.WriteFiles(f.Cert, f.Key, false); err != nil {
			b.Fatal(err)
		}
		if out[name], err = certs.Load(f); err != nil {
			b.Fatal(err)
		}
	}
	return out
}
