package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"actorlog/consensus"
	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// RaftName is the raft actor's well-known name. Peers address it on each
// other's actor remote to forward produces, consistent reads, joins and
// leaves.
const RaftName = "raft"

// RaftConfig configures the raft actor.
type RaftConfig struct {
	// Raft is the node's raft server; the actor uses it, the node owns its
	// lifecycle (the node shuts raft down before it stops the actor).
	Raft *raft.Raft
	// FSM is the node's state machine: the member table comes from it.
	FSM *consensus.FSM
	// Log is the log actor: consistent reads go there after a barrier.
	Log *actor.PID
	// Self is this node's member entry, applied when it becomes leader.
	Self *messages.Member
	// MaxEntryBytes is the largest raft entry the log store takes; a
	// larger command is refused with InvalidRequest.
	MaxEntryBytes int
	// Limits are the request limits the leader checks every produce
	// against before it becomes a raft entry, whatever path it came by
	// (a session on this node, a follower's forward, a peer that
	// addressed the raft actor directly): the leader's limits are the
	// cluster's, so an entry that commits can always be applied. Zero
	// fields take the session defaults (DefaultMaxRecordBytes...).
	Limits Limits
	// MemberStatus, when set, is how the leader asks a non-voter for its
	// status; the leader then promotes a non-voter that stayed caught up
	// and answering for StabilizationTime (see goPromote). Nil promotes
	// nobody: members added by JoinRequest stay non-voters.
	MemberStatus func(ctx context.Context, m *messages.Member) (MemberStatus, error)
	// StabilizationTime, MaxTrailingEntries, PromoteInterval: see their
	// Default constants.
	StabilizationTime  time.Duration
	MaxTrailingEntries uint64
	PromoteInterval    time.Duration
	// VerifyMember, when set, must pass before a JoinRequest adds or
	// changes a member: with mutual TLS the node checks that the
	// certificates at the member's raft and actor addresses are node
	// certificates named as the member, so no node takes another's id.
	VerifyMember func(ctx context.Context, m *messages.Member) error
	// RequestTimeout bounds raft.Apply and the wait for its commit.
	RequestTimeout time.Duration
	// Healthy, when set, reports a storage failure: produces are then
	// refused with Unavailable instead of being committed to raft and
	// waiting for a log that cannot take them.
	Healthy func() error
	// Logger receives the actor's logs. Nil discards them.
	Logger *logrus.Entry
	// TracerProvider, when set, traces produces (span raft.apply, or
	// raft.forward on a follower) and carries their trace context into
	// the raft entry. Nil traces nothing.
	TracerProvider trace.TracerProvider
	// ChecksumInterval is how often the leader commits a checkpoint and
	// its checksum for every replica to compare (repair.go). Zero means
	// DefaultChecksumInterval; negative turns the checks off.
	ChecksumInterval time.Duration
}

// NewRaftProps returns the props of the raft actor; spawn it with the name
// RaftName.
func NewRaftProps(cfg RaftConfig) *actor.Props {
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.MaxEntryBytes <= 0 {
		cfg.MaxEntryBytes = consensus.DefaultMaxEntryBytes
	}
	if cfg.StabilizationTime <= 0 {
		cfg.StabilizationTime = DefaultStabilizationTime
	}
	if cfg.MaxTrailingEntries == 0 {
		cfg.MaxTrailingEntries = DefaultMaxTrailingEntries
	}
	if cfg.PromoteInterval <= 0 {
		cfg.PromoteInterval = DefaultPromoteInterval
	}
	if cfg.Limits.MaxRecordBytes == 0 {
		cfg.Limits.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.Limits.MaxBatchBytes == 0 {
		cfg.Limits.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.Limits.MaxBatchRecords == 0 {
		cfg.Limits.MaxBatchRecords = DefaultMaxBatchRecords
	}
	if cfg.ChecksumInterval == 0 {
		cfg.ChecksumInterval = DefaultChecksumInterval
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &raftActor{cfg: cfg, log: cfg.Logger.WithField("actor", RaftName)}
	}, raftTracing(cfg)...)
}

// raftActor turns produces into raft entries on the leader and forwards
// them to the leader elsewhere. Waiting for a raft future happens on a
// goroutine of the actor (tracked by wg), never on the actor's own, so
// many entries are in flight at once and raft's BatchApplyCh writes them
// with one log write and one fsync. raft.Apply itself is called on the
// actor's goroutine, so entries keep the order their requests arrived in.
type raftActor struct {
	cfg  RaftConfig
	log  *logrus.Entry
	root *actor.RootContext
	self *actor.PID

	obs  *raft.Observer
	stop chan struct{}
	wg   sync.WaitGroup
}

func (a *raftActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.root, a.self = ctx.ActorSystem().Root, ctx.Self()
		a.stop = make(chan struct{})
		a.observe()
		a.goPromote()
		a.startChecks()
		if a.cfg.Raft.State() == raft.Leader {
			a.announceSelf()
		}
	case *actor.Stopping:
		a.cfg.Raft.DeregisterObserver(a.obs)
		close(a.stop)
		a.wg.Wait()
	case *messages.LeaderChanged:
		a.log.WithFields(logrus.Fields{"leader": m.GetLeaderId(), "self": m.GetIsSelf()}).Info("raft leader changed")
		if m.GetIsSelf() {
			a.announceSelf()
		}
	case *messages.ProduceRequest:
		a.produce(ctx, m, false)
	case *messages.ForwardedProduce:
		a.produce(ctx, m.GetRequest(), true)
	case *messages.ConsumeRequest:
		a.consistentRead(ctx, m, false)
	case *messages.ForwardedConsume:
		a.consistentRead(ctx, m.GetRequest(), true)
	case *messages.ServersRequest:
		a.servers(ctx)
	case *messages.JoinRequest:
		a.join(ctx, m)
	case *messages.LeaveRequest:
		a.leave(ctx, m)
	case *messages.ChecksumQuery:
		a.checksumQuery(ctx, m)
	case *messages.RepairRequest:
		a.repairRequest(ctx, m)
	case *messages.RepairDone:
		a.repairDone(ctx, m)
	case *messages.LeaderSuspect:
		a.leaderSuspect(ctx, m)
	}
}

// observe turns raft's leader observations into LeaderChanged messages.
func (a *raftActor) observe() {
	ch := make(chan raft.Observation, 16)
	a.obs = raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	a.cfg.Raft.RegisterObserver(a.obs)
	selfID := raft.ServerID(a.cfg.Self.GetId())
	root, self, stop := a.root, a.self, a.stop
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			select {
			case <-stop:
				return
			case o := <-ch:
				lo := o.Data.(raft.LeaderObservation)
				root.Send(self, &messages.LeaderChanged{LeaderId: string(lo.LeaderID), IsSelf: lo.LeaderID == selfID})
			}
		}
	}()
}

// async runs wait on a goroutine of the actor.
func (a *raftActor) async(wait func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		wait()
	}()
}

// errStopped answers futures still pending when the actor stops.
var errStopped = errors.New("the node is stopping")

// await waits for a raft future, or for the actor to stop. raft does not
// answer the futures still queued in its apply channel when it shuts down,
// so a future may never complete: its Error runs on a helper goroutine that
// is abandoned then (at most the apply channel's capacity per shutdown).
func await(f raft.Future, stop <-chan struct{}) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-stop:
		return errStopped
	}
}

// leader returns the leader's member entry, or a reply for the client when
// the request cannot go to a leader.
func (a *raftActor) leader(forwarded bool) (*messages.Member, any) {
	_, id := a.cfg.Raft.LeaderWithID()
	if id == "" {
		return nil, unavailable("no raft leader is known; retry")
	}
	m, ok := a.cfg.FSM.Member(string(id))
	if !ok {
		return nil, unavailable("the address of raft leader %s is not known yet; retry", id)
	}
	if forwarded || string(id) == a.cfg.Self.GetId() {
		// Forwarded once already, or raft says we lead but we do not: the
		// view is changing. Tell the client where to go.
		return nil, &messages.NotLeader{LeaderId: m.GetId(), LeaderActorAddress: m.GetActorAddress(), LeaderGrpcAddress: m.GetGrpcAddress()}
	}
	return m, nil
}

func (a *raftActor) produce(ctx actor.Context, m *messages.ProduceRequest, forwarded bool) {
	sender := ctx.Sender()
	if a.cfg.Raft.State() != raft.Leader {
		l, reply := a.leader(forwarded)
		if reply != nil {
			ctx.Respond(reply)
			return
		}
		ctx.RequestWithCustomSender(actor.NewPID(l.GetActorAddress(), RaftName), &messages.ForwardedProduce{Request: m}, sender)
		return
	}
	if bad := ValidateProduce(m, a.cfg.Limits); bad != nil {
		ctx.Respond(bad)
		return
	}
	if a.cfg.Healthy != nil {
		if err := a.cfg.Healthy(); err != nil {
			ctx.Respond(unavailable("storage failed: %v", err))
			return
		}
	}
	data, err := proto.Marshal(&messages.RaftCommand{
		Command:           &messages.RaftCommand_Produce{Produce: m},
		TimestampUnixNano: time.Now().UnixNano(),
		Trace:             entryTrace(ctx),
	})
	if err != nil {
		ctx.Respond(&messages.InvalidRequest{Field: "records", Reason: fmt.Sprintf("cannot encode: %v", err)})
		return
	}
	if len(data) > a.cfg.MaxEntryBytes {
		ctx.Respond(&messages.InvalidRequest{Field: "records", Reason: fmt.Sprintf(
			"the request encodes to %d bytes, above the %d bytes of one raft entry", len(data), a.cfg.MaxEntryBytes)})
		return
	}
	f := a.cfg.Raft.Apply(data, a.cfg.RequestTimeout)
	// The request's span, when it is traced, ends with the commit.
	root, stop, r, span := a.root, a.stop, a.cfg.Raft, keepSpan(ctx)
	a.async(func() {
		reply := produceReply(f, await(f, stop))
		endApply(span, r, f, reply)
		replyTo(root, sender, reply)
	})
}

func produceReply(f raft.ApplyFuture, err error) any {
	if err != nil {
		// The entry may or may not commit: a retry with the same producer
		// id and sequence is answered with the original offsets.
		return unavailable("raft: %v; retry", err)
	}
	switch r := f.Response().(type) {
	case *consensus.ProduceResult:
		if r.Err != nil {
			return unavailable("the node is stopping: %v", r.Err)
		}
		return &messages.ProduceResponse{Offsets: r.Offsets()}
	case error:
		return unavailable("apply failed: %v", r)
	default:
		return unavailable("apply returned %T", r)
	}
}

// consistentRead serves a read on the leader after a barrier: every entry
// committed before the read is applied to the log when it is served.
func (a *raftActor) consistentRead(ctx actor.Context, m *messages.ConsumeRequest, forwarded bool) {
	sender := ctx.Sender()
	if a.cfg.Raft.State() != raft.Leader {
		l, reply := a.leader(forwarded)
		if reply != nil {
			ctx.Respond(reply)
			return
		}
		ctx.RequestWithCustomSender(actor.NewPID(l.GetActorAddress(), RaftName), &messages.ForwardedConsume{Request: m}, sender)
		return
	}
	f := a.cfg.Raft.Barrier(a.cfg.RequestTimeout)
	root, logPID := a.root, a.cfg.Log
	stop := a.stop
	a.async(func() {
		if err := await(f, stop); err != nil {
			replyTo(root, sender, unavailable("raft barrier: %v; retry", err))
			return
		}
		root.RequestWithCustomSender(logPID, m, sender)
	})
}

// servers answers the raft configuration, with addresses from the member
// table.
func (a *raftActor) servers(ctx actor.Context) {
	sender := ctx.Sender()
	r, fsm, root := a.cfg.Raft, a.cfg.FSM, a.root
	a.async(func() {
		replyTo(root, sender, Servers(r, fsm))
	})
}

// Servers builds the ServersResponse of the raft configuration (or an
// Unavailable when raft cannot say).
func Servers(r *raft.Raft, fsm *consensus.FSM) any {
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return unavailable("raft configuration: %v", err)
	}
	_, leader := r.LeaderWithID()
	resp := &messages.ServersResponse{}
	for _, s := range f.Configuration().Servers {
		srv := &messages.Server{Id: string(s.ID), RaftAddress: string(s.Address), IsLeader: s.ID == leader}
		if m, ok := fsm.Member(string(s.ID)); ok {
			srv.ActorAddress, srv.HttpAddress, srv.GrpcAddress = m.GetActorAddress(), m.GetHttpAddress(), m.GetGrpcAddress()
		}
		resp.Servers = append(resp.Servers, srv)
	}
	return resp
}

// join adds the member as a non-voter (on the leader) and applies its
// member entry; elsewhere it forwards the request to the leader once. The
// leader's promotion loop (goPromote) makes it a voter once it has caught
// up and stayed healthy, so a member that registers and cannot serve never
// costs quorum. A member that is a voter already keeps its vote; its
// address is updated.
func (a *raftActor) join(ctx actor.Context, m *messages.JoinRequest) {
	sender := ctx.Sender()
	mem := m.GetMember()
	if mem.GetId() == "" || mem.GetRaftAddress() == "" || mem.GetActorAddress() == "" {
		ctx.Respond(&messages.InvalidRequest{Field: "member", Reason: "id, raft_address and actor_address are required"})
		return
	}
	if a.cfg.Raft.State() != raft.Leader {
		l, reply := a.leader(m.GetForwarded())
		if reply != nil {
			ctx.Respond(reply)
			return
		}
		ctx.RequestWithCustomSender(actor.NewPID(l.GetActorAddress(), RaftName), &messages.JoinRequest{Member: mem, Forwarded: true}, sender)
		return
	}
	if a.cfg.FSM.UnderRepair(mem.GetId()) {
		// A member rebuilding its log becomes a voter only through
		// RepairDone, once it has verified what it rebuilt.
		ctx.Respond(unavailable("member %s is rebuilding its log after a divergence; it becomes a voter when it has verified it", mem.GetId()))
		return
	}
	r, root, timeout, log, stop, verify := a.cfg.Raft, a.root, a.cfg.RequestTimeout, a.log, a.stop, a.cfg.VerifyMember
	a.async(func() {
		if verify != nil {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := verify(ctx, mem)
			cancel()
			if err != nil {
				log.WithField("member", mem.GetId()).WithError(err).Warn("refused a join: the member's certificates do not match its id")
				replyTo(root, sender, &messages.InvalidRequest{Field: "member", Reason: err.Error()})
				return
			}
		}
		if err := await(r.AddNonvoter(raft.ServerID(mem.GetId()), raft.ServerAddress(mem.GetRaftAddress()), 0, timeout), stop); err != nil {
			replyTo(root, sender, unavailable("add member %s: %v", mem.GetId(), err))
			return
		}
		if err := applyMember(r, mem, timeout, stop); err != nil {
			replyTo(root, sender, unavailable("record member %s: %v", mem.GetId(), err))
			return
		}
		log.WithFields(logrus.Fields{"member": mem.GetId(), "raft_addr": mem.GetRaftAddress(), "actor_addr": mem.GetActorAddress()}).Info("member joined")
		replyTo(root, sender, &messages.JoinResponse{})
	})
}

// announceSelf applies this node's member entry when the table lacks it or
// holds other addresses: a new leader makes sure every node can find it.
//
// A leader restarted on another raft port also corrects its own address in
// the raft configuration, which followers use to reach it after a change of
// leader.
func (a *raftActor) announceSelf() {
	r, self, timeout, log, stop := a.cfg.Raft, a.cfg.Self, a.cfg.RequestTimeout, a.log, a.stop
	staleAddr := false
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if string(s.ID) == self.GetId() && s.Suffrage == raft.Voter && string(s.Address) != self.GetRaftAddress() {
				staleAddr = true
			}
		}
	}
	if m, ok := a.cfg.FSM.Member(self.GetId()); ok && proto.Equal(m, self) && !staleAddr {
		return
	}
	a.async(func() {
		var err error
		if staleAddr {
			err = await(r.AddVoter(raft.ServerID(self.GetId()), raft.ServerAddress(self.GetRaftAddress()), 0, timeout), stop)
		}
		if err == nil {
			err = applyMember(r, self, timeout, stop)
		}
		if err != nil && !errors.Is(err, raft.ErrRaftShutdown) && !errors.Is(err, errStopped) {
			log.WithError(err).Warn("could not record this node's addresses")
		}
	})
}

func applyMember(r *raft.Raft, m *messages.Member, timeout time.Duration, stop <-chan struct{}) error {
	data, err := proto.Marshal(&messages.RaftCommand{Command: &messages.RaftCommand_Member{Member: m}, TimestampUnixNano: time.Now().UnixNano()})
	if err != nil {
		return err
	}
	return await(r.Apply(data, timeout), stop)
}

// replyTo sends an answer to the sender of a request, unless it had none:
// a request from the wire may come without a sender, and protoactor
// dereferences the target of a send (a panic that would end the node).
func replyTo(root *actor.RootContext, sender *actor.PID, msg any) {
	if sender != nil {
		root.Send(sender, msg)
	}
}
