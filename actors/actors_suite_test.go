package actors_test

import (
	"log/slog"
	"testing"
	"time"

	"actorlog/actors"
	"actorlog/messages"
	"actorlog/segmentstore"
	"github.com/asynkron/protoactor-go/actor"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gcustom"
	"github.com/onsi/gomega/types"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

func TestActors(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Actors Suite")
}

const askTimeout = 5 * time.Second

func testLogger() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(GinkgoWriter)
	l.SetLevel(logrus.InfoLevel)
	return logrus.NewEntry(l)
}

// harness runs a log actor and a session acceptor on a local actor system,
// over real segment files in a temporary directory.
type harness struct {
	sys      *actor.ActorSystem
	sup      *actors.Supervisor
	log      *actor.PID
	sessions *actor.PID
	logCfg   actors.LogConfig
	sessCfg  actors.SessionConfig
	stopped  bool
}

func smallStorage() segmentstore.Config {
	c := segmentstore.DefaultConfig()
	c.Sync = segmentstore.SyncNone
	return c
}

func newHarness(dir string, configure func(*actors.LogConfig, *actors.SessionConfig)) *harness {
	h := &harness{}
	logger := testLogger()
	h.logCfg = actors.LogConfig{Dir: dir, Storage: smallStorage(), Logger: logger}
	h.sessCfg = actors.SessionConfig{Logger: logger}
	if configure != nil {
		configure(&h.logCfg, &h.sessCfg)
	}
	Expect(h.logCfg.Validate()).To(Succeed())
	h.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(actors.NewSlogHandler(logger.WithField("lib", "protoactor")))
	}))
	h.sup = actors.NewSupervisor(logger, 0, 0)
	var err error
	h.log, err = h.sys.Root.SpawnNamed(actors.NewLogProps(h.logCfg).Configure(actor.WithGuardian(h.sup)), actors.LogName)
	Expect(err).NotTo(HaveOccurred())
	st := h.ask(h.log, &messages.LogStatusRequest{WaitReady: true})
	Expect(st).To(BeAssignableToTypeOf(&messages.LogStatus{}))
	h.sessCfg.Log = h.log
	Expect(h.sessCfg.Validate()).To(Succeed())
	h.sessions, err = h.sys.Root.SpawnNamed(actors.NewSessionsProps(h.sessCfg).Configure(actor.WithGuardian(h.sup)), actors.SessionsName)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(h.stop)
	return h
}

// stop stops the actors and the system; a spec may stop a harness early
// (to reopen its directory), the cleanup then does nothing.
func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	Expect(h.sys.Root.StopFuture(h.sessions).Wait()).To(Succeed())
	Expect(h.sys.Root.StopFuture(h.log).Wait()).To(Succeed())
	h.sys.Shutdown()
}

func (h *harness) ask(pid *actor.PID, msg any) any {
	GinkgoHelper()
	res, err := h.sys.Root.RequestFuture(pid, msg, askTimeout).Result()
	Expect(err).NotTo(HaveOccurred())
	return res
}

func (h *harness) status() *messages.LogStatus {
	GinkgoHelper()
	st, ok := h.ask(h.log, &messages.LogStatusRequest{}).(*messages.LogStatus)
	Expect(ok).To(BeTrue())
	return st
}

func (h *harness) openSession() *actor.PID {
	GinkgoHelper()
	opened, ok := h.ask(h.sessions, &messages.OpenSession{ClientName: "spec"}).(*messages.SessionOpened)
	Expect(ok).To(BeTrue())
	return actor.NewPID(opened.GetAddress(), opened.GetId())
}

func values(vs ...string) []*messages.Record {
	out := make([]*messages.Record, len(vs))
	for i, v := range vs {
		out[i] = &messages.Record{Value: []byte(v)}
	}
	return out
}

func (h *harness) produce(sess *actor.PID, vs ...string) []uint64 {
	GinkgoHelper()
	resp, ok := h.ask(sess, &messages.ProduceRequest{Records: values(vs...)}).(*messages.ProduceResponse)
	Expect(ok).To(BeTrue())
	return resp.GetOffsets()
}

func (h *harness) consume(sess *actor.PID, off uint64, max uint32) *messages.ConsumeResponse {
	GinkgoHelper()
	resp := h.ask(sess, &messages.ConsumeRequest{Offset: off, MaxRecords: max})
	Expect(resp).To(BeAssignableToTypeOf(&messages.ConsumeResponse{}))
	return resp.(*messages.ConsumeResponse)
}

func valuesOf(recs []*messages.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.GetValue())
	}
	return out
}

// inbox is a local actor that collects what a subscription pushes.
type inbox struct {
	ch chan any
}

func (in *inbox) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.SubscriptionRecords, *messages.SubscriptionEnded:
		in.ch <- m
	}
}

func (h *harness) spawnInbox() (*actor.PID, chan any) {
	ch := make(chan any, 1024)
	pid := h.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &inbox{ch: ch} }))
	return pid, ch
}

// EqualProto compares protobuf messages by content (gomega's Equal would
// compare their internal state too).
func EqualProto(want proto.Message) types.GomegaMatcher {
	return gcustom.MakeMatcher(func(got proto.Message) (bool, error) {
		return proto.Equal(got, want), nil
	}).WithTemplate("Expected\n{{.FormattedActual}}\n{{.To}} equal\n{{format .Data 1}}", prototext.Format(want))
}
