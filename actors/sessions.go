package actors

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"actorlog/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/sirupsen/logrus"
)

// NewSessionsProps returns the props of the session acceptor. Spawn it under
// the root supervisor with the well-known name SessionsName.
func NewSessionsProps(cfg SessionConfig) *actor.Props {
	cfg = cfg.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor {
		return &acceptor{cfg: cfg, log: cfg.Logger.WithField("actor", SessionsName), sessions: make(map[string]*actor.PID),
			byIdentity: make(map[string]int), identities: make(map[string]string)}
	})
}

// acceptor is the well-known "sessions" actor. OpenSession spawns one
// session actor per client, as its child; the acceptor also turns
// protoactor's EndpointTerminatedEvent (the connection to a client is gone)
// into a message for that client's sessions.
type acceptor struct {
	cfg      SessionConfig
	log      *logrus.Entry
	sessions map[string]*actor.PID // by PID id
	clients  map[string]string     // session PID id -> client address
	// byIdentity counts the remote sessions of each identity, identities
	// maps a remote session's PID id to its identity (MaxSessionsPerIdentity).
	byIdentity map[string]int
	identities map[string]string
	sub        *eventstream.Subscription
}

// ActionOpenSession is the action an Unauthorized reply to OpenSession
// names: opening a session needs a grant of any action.
const ActionOpenSession = "open a session"

func header(ctx actor.Context, key string) string {
	if h := ctx.MessageHeader(); h != nil {
		return h.Get(key)
	}
	return ""
}

// remoteEnvelope reports whether the current message came over the wire:
// the transport guard stamps RemoteHeader on every envelope it passes, and
// local sends never pass it.
func remoteEnvelope(ctx actor.Context) bool {
	return header(ctx, RemoteHeader) == "true"
}

func (a *acceptor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.clients = make(map[string]string)
		sys, self := ctx.ActorSystem(), ctx.Self()
		// The handler runs on the publisher's goroutine: it only posts a
		// message, the acceptor does the work.
		a.sub = sys.EventStream.SubscribeWithPredicate(func(evt any) {
			sys.Root.Send(self, &messages.ClientEndpointTerminated{Address: evt.(*remote.EndpointTerminatedEvent).Address})
		}, func(evt any) bool {
			_, ok := evt.(*remote.EndpointTerminatedEvent)
			return ok
		})
	case *actor.Stopping, *actor.Restarting:
		if a.sub != nil {
			ctx.ActorSystem().EventStream.Unsubscribe(a.sub)
			a.sub = nil
		}
	case *messages.OpenSession:
		a.open(ctx, m)
	case *actor.Terminated:
		// Only the stop of one of its own children ends a session's entry:
		// the sessions gauge and the caps count what exists.
		id := m.GetWho().GetId()
		if pid, ok := a.sessions[id]; ok && pid.Equal(m.GetWho()) {
			delete(a.sessions, id)
			delete(a.clients, id)
			if who, ok := a.identities[id]; ok {
				delete(a.identities, id)
				if a.byIdentity[who]--; a.byIdentity[who] <= 0 {
					delete(a.byIdentity, who)
				}
			}
		}
	case *messages.ClientEndpointTerminated:
		for id, addr := range a.clients {
			if addr == m.GetAddress() {
				ctx.Send(a.sessions[id], m)
			}
		}
	case *messages.SessionsStatusRequest:
		ctx.Respond(&messages.SessionsStatus{Sessions: uint32(len(a.sessions))})
	default:
		refuse(ctx, m)
	}
}

func (a *acceptor) open(ctx actor.Context, m *messages.OpenSession) {
	client := ctx.Sender()
	if client == nil {
		return // nobody to tell the session's name
	}
	identity, node, remote := header(ctx, IdentityHeader), header(ctx, NodeHeader) == "true", remoteEnvelope(ctx)
	// Under authorisation a remote session needs a grant of some action
	// (node identities excepted): an identity with none must not hold
	// sessions, and with them the node's memory.
	if az := a.cfg.Authorizer; az != nil && remote && !node {
		granted := false
		for _, act := range []string{ActionProduce, ActionConsume, ActionAdmin} {
			if az.Authorize(identity, act) == nil {
				granted = true
				break
			}
		}
		if !granted {
			a.log.WithField("identity", identity).Debug("session refused: the identity has no grant")
			ctx.Respond(&messages.Unauthorized{Identity: identity, Action: ActionOpenSession})
			return
		}
	}
	if len(a.sessions) >= a.cfg.MaxSessions {
		ctx.Respond(unavailable("too many sessions (%d); retry later", a.cfg.MaxSessions))
		return
	}
	if remote && !node && a.byIdentity[identity] >= a.cfg.MaxSessionsPerIdentity {
		err := &SessionLimitError{Identity: identity, Limit: a.cfg.MaxSessionsPerIdentity}
		ctx.Respond(&messages.InvalidRequest{Field: SessionLimitField, Reason: err.Error()})
		return
	}
	// A random part makes session ids hard to guess for other clients.
	name := "session-" + strconv.FormatUint(rand.Uint64()>>16, 36)
	spec := sessionSpec{
		cfg:        a.cfg,
		clientAddr: client.GetAddress(),
		clientName: m.GetClientName(),
		identity:   identity,
		node:       node,
		// Sessions opened from inside the node (the HTTP API) belong to
		// node code, which closes them (and authorises its own callers);
		// only remote ones time out and are authorised here. Remote means
		// the envelope passed the transport guard: the sender address is
		// whatever the peer wrote, its own or this node's.
		remote: remote,
	}
	pid, err := ctx.SpawnNamed(newSessionProps(spec), name)
	if err != nil {
		ctx.Respond(unavailable("cannot open a session: %v", err))
		return
	}
	a.sessions[pid.GetId()] = pid
	a.clients[pid.GetId()] = spec.clientAddr
	if remote && !node {
		a.identities[pid.GetId()] = identity
		a.byIdentity[identity]++
	}
	a.log.WithFields(logrus.Fields{"session": pid.GetId(), "client": spec.clientAddr, "name": spec.clientName, "identity": spec.identity}).Debug("session opened")
	ctx.Respond(&messages.SessionOpened{
		Address:         pid.GetAddress(),
		Id:              pid.GetId(),
		MaxRecordBytes:  a.cfg.MaxRecordBytes,
		MaxBatchBytes:   a.cfg.MaxBatchBytes,
		MaxBatchRecords: a.cfg.MaxBatchRecords,
	})
}

// refuse answers a message an actor does not handle, when it came from a
// client that waits for an answer.
func refuse(ctx actor.Context, m any) {
	switch m.(type) {
	case actor.SystemMessage, actor.AutoReceiveMessage, *actor.ReceiveTimeout:
		return
	}
	if ctx.Sender() != nil {
		ctx.Respond(&messages.InvalidRequest{Reason: fmt.Sprintf("unsupported message %T here", m)})
	}
}

type sessionSpec struct {
	cfg        SessionConfig
	clientAddr string
	clientName string
	identity   string
	node       bool // the identity is a node certificate's
	remote     bool // opened over the wire (see open): idles out, is authorised
}

func newSessionProps(spec sessionSpec) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &session{spec: spec, subs: make(map[string]*actor.PID)}
	}, sessionTracing(spec.cfg)...)
}

// session serves one client: it validates every request, forwards
// produces to the configured produce target (the log today, raft later) and
// reads to the log, with the client as the sender so that replies go
// straight back to it, and owns the client's subscriptions (its children).
type session struct {
	spec    sessionSpec
	log     *logrus.Entry
	subs    map[string]*actor.PID // by subscription id
	nextSub uint64
	closing bool // the client is gone; stop once the subscriptions have
	// lastUsed is when the client last made a request that was served
	// (authorised); refused requests do not keep a session alive.
	lastUsed  time.Time
	idleTimer *time.Timer
	// parked counts this session's consumes that wait for records (long
	// polls), bounded by MaxParkedPerSession and, with the other
	// sessions', MaxParkedPolls.
	parked   int
	stopping bool
}

// sessionIdleCheck is the session's own idle timer firing.
type sessionIdleCheck struct{}

func (s *session) limits() Limits {
	c := s.spec.cfg
	return Limits{MaxRecordBytes: c.MaxRecordBytes, MaxBatchBytes: c.MaxBatchBytes, MaxBatchRecords: c.MaxBatchRecords}
}

func (s *session) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.log = s.spec.cfg.Logger.WithFields(logrus.Fields{"actor": ctx.Self().GetId(), "client": s.spec.clientAddr})
		s.lastUsed = time.Now()
		s.armIdle(ctx)
	case *actor.Stopping:
		if s.idleTimer != nil {
			s.idleTimer.Stop()
		}
		// The replies of parked polls find no session any more: give
		// their places back to the node.
		if c := s.spec.cfg.Counters; c != nil && s.parked > 0 {
			c.ParkedPolls.Add(-int64(s.parked))
		}
		s.parked, s.stopping = 0, true
	case sessionIdleCheck:
		s.idleTimer = nil
		if len(s.subs) > 0 || !s.spec.remote {
			return
		}
		if s.parked > 0 {
			// A parked poll is a request being served.
			s.lastUsed = time.Now()
		}
		if time.Since(s.lastUsed) >= s.spec.cfg.IdleTimeout {
			s.log.Debug("session idle; closing it")
			ctx.Stop(ctx.Self())
			return
		}
		s.armIdle(ctx)
	case *actor.Terminated:
		for id, pid := range s.subs {
			if pid.Equal(m.GetWho()) {
				delete(s.subs, id)
			}
		}
		if s.closing && len(s.subs) == 0 {
			ctx.Stop(ctx.Self())
			return
		}
		s.armIdle(ctx)

	case *messages.ProduceRequest:
		if !s.authorize(ctx, ActionProduce) {
			return
		}
		if bad := ValidateProduce(m, s.limits()); bad != nil {
			ctx.Respond(bad)
			return
		}
		if c := s.spec.cfg.Counters; c != nil {
			c.ProduceRequests.Add(1)
			c.ProduceRecords.Add(uint64(len(m.GetRecords())))
		}
		ctx.RequestWithCustomSender(s.spec.cfg.Produce, m, ctx.Sender())
	case *messages.ConsumeRequest:
		if !s.authorize(ctx, ActionConsume) {
			return
		}
		if bad := ValidateTopic(m.GetTopic(), m.GetPartition()); bad != nil {
			ctx.Respond(bad)
			return
		}
		if c := s.spec.cfg.Counters; c != nil {
			c.ConsumeRequests.Add(1)
		}
		target := s.spec.cfg.Log
		if m.GetConsistent() && s.spec.cfg.Raft != nil {
			target = s.spec.cfg.Raft
		}
		if m.GetWaitMs() > 0 && s.spec.remote {
			s.park(ctx, target, m)
			return
		}
		ctx.RequestWithCustomSender(target, m, ctx.Sender())
	case *messages.Subscribe:
		if !s.authorize(ctx, ActionConsume) {
			return
		}
		s.subscribe(ctx, m)
	case *messages.Credit:
		if pid, ok := s.subs[m.GetSubscriptionId()]; ok {
			ctx.Send(pid, m)
		} else if ctx.Sender() != nil {
			// A probe or a late credit for a subscription that has ended:
			// tell the subscriber, so that it subscribes again.
			ctx.Respond(&messages.SubscriptionEnded{SubscriptionId: m.GetSubscriptionId(), Reason: "no such subscription"})
		}
	case *messages.Unsubscribe:
		if pid, ok := s.subs[m.GetSubscriptionId()]; ok {
			delete(s.subs, m.GetSubscriptionId())
			ctx.RequestWithCustomSender(pid, m, ctx.Sender())
			s.armIdle(ctx)
		} else {
			ctx.Respond(&messages.SubscriptionEnded{SubscriptionId: m.GetSubscriptionId(), Reason: "no such subscription"})
		}
	case *messages.ServersRequest:
		// Clients route by the member list (produces to the leader,
		// reads to followers), so any granted action lets them read it.
		if !s.authorize(ctx, ActionAdmin, ActionProduce, ActionConsume) {
			return
		}
		if s.spec.cfg.Raft != nil {
			ctx.RequestWithCustomSender(s.spec.cfg.Raft, m, ctx.Sender())
			return
		}
		ctx.Respond(&messages.ServersResponse{Servers: []*messages.Server{s.spec.cfg.Server}})
	case *messages.CloseSession:
		if !s.ownClient(ctx) {
			return
		}
		ctx.Respond(&messages.SessionClosed{})
		s.log.Debug("session closed by the client")
		ctx.Stop(ctx.Self())
	case *messages.ClientEndpointTerminated:
		// Let the subscriptions end first, so that they know not to push a
		// goodbye to a client that is gone; the session follows them.
		s.log.Debug("connection to the client lost; closing the session")
		s.closing = true
		if len(s.subs) == 0 {
			ctx.Stop(ctx.Self())
			return
		}
		for _, pid := range s.subs {
			ctx.Send(pid, m)
		}
	case *messages.SessionInfoRequest:
		ctx.Respond(&messages.SessionInfo{
			Id: ctx.Self().GetId(), ClientAddress: s.spec.clientAddr, ClientName: s.spec.clientName,
			Identity: s.spec.identity, Subscriptions: uint32(len(s.subs)),
		})
	default:
		refuse(ctx, m)
	}
}

// authorize reports whether the session's identity may perform one of
// actions, and otherwise answers Unauthorized naming the first. It passes
// everything when authorisation is off, local requests to a session opened
// inside the node (the HTTP API authorises its own callers), and node
// identities. The identity is the one the session was opened with; a
// request stamped with another identity (someone else's session) is
// refused, and so is, under TLS, a remote request to a local session (a
// local session has no identity, a remote request always has one).
func (s *session) authorize(ctx actor.Context, actions ...string) bool {
	if !s.ownClient(ctx) {
		return false
	}
	a := s.spec.cfg.Authorizer
	if a == nil || (!s.spec.remote && !remoteEnvelope(ctx)) {
		s.lastUsed = time.Now()
		return true
	}
	if header(ctx, IdentityHeader) == s.spec.identity {
		if s.spec.node && header(ctx, NodeHeader) == "true" {
			s.lastUsed = time.Now()
			return true
		}
		for _, act := range actions {
			if a.Authorize(s.spec.identity, act) == nil {
				s.lastUsed = time.Now()
				return true
			}
		}
	}
	s.log.WithFields(logrus.Fields{"identity": header(ctx, IdentityHeader), "action": actions[0]}).Debug("request refused: unauthorized")
	ctx.Respond(&messages.Unauthorized{Identity: header(ctx, IdentityHeader), Action: actions[0]})
	return false
}

// ownClient reports whether a request to a remote client's session comes
// from that client's own address (the transport guard binds the sender to
// the connection): replies go nowhere else. Requests without a sender,
// sessions of node identities and sessions opened inside the node pass.
// Anything else is dropped without an answer.
func (s *session) ownClient(ctx actor.Context) bool {
	if !s.spec.remote || s.spec.node {
		return true
	}
	if snd := ctx.Sender(); snd != nil && snd.GetAddress() != s.spec.clientAddr {
		s.log.WithField("sender", snd.GetAddress()).Debug("request refused: not from the session's client")
		return false
	}
	return true
}

// armIdle runs the idle timer only while there is no subscription: a
// subscription keeps its session alive for as long as its subscriber lives.
// The session keeps its own timer rather than protoactor's receive
// timeout, which every message resets: only served requests (lastUsed)
// keep a session alive, never refused ones.
func (s *session) armIdle(ctx actor.Context) {
	if !s.spec.remote || len(s.subs) > 0 || s.idleTimer != nil {
		return
	}
	wait := max(s.spec.cfg.IdleTimeout-time.Since(s.lastUsed), time.Millisecond)
	sys, self := ctx.ActorSystem(), ctx.Self()
	s.idleTimer = time.AfterFunc(wait, func() { sys.Root.Send(self, sessionIdleCheck{}) })
}

// park passes a consume that may wait for records (a long poll) on to
// target, unless the session, or the node, already holds as many parked
// polls as it may: the client is then told to retry later. The session
// answers the client itself when the reply comes, so it knows when the
// poll ends.
func (s *session) park(ctx actor.Context, target *actor.PID, m *messages.ConsumeRequest) {
	c := s.spec.cfg
	if s.parked >= c.MaxParkedPerSession {
		ctx.Respond(unavailable("the session already waits on %d consumes, the limit; retry later", c.MaxParkedPerSession))
		return
	}
	var nodeParked *atomic.Int64
	if c.Counters != nil {
		nodeParked = &c.Counters.ParkedPolls
		if nodeParked.Add(1) > int64(c.MaxParkedPolls) {
			nodeParked.Add(-1)
			ctx.Respond(unavailable("the node already waits on %d consumes, the limit; retry later", c.MaxParkedPolls))
			return
		}
	}
	s.parked++
	sender := ctx.Sender()
	// The log caps a wait at its MaxWait; the future outlives the longest
	// wait the request may ask for by a margin, never forever.
	timeout := time.Duration(m.GetWaitMs())*time.Millisecond + c.PollWait + 10*time.Second
	f := ctx.RequestFuture(target, m, timeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		if s.stopping {
			return // counted off in Stopping
		}
		s.parked--
		if nodeParked != nil {
			nodeParked.Add(-1)
		}
		if sender == nil {
			return
		}
		if err != nil {
			res = unavailable("the read did not answer: %v; retry", err)
		}
		ctx.Send(sender, res)
	})
}

func (s *session) subscribe(ctx actor.Context, m *messages.Subscribe) {
	c := s.spec.cfg
	if bad := ValidateSubscribe(m, c.MaxCredit); bad != nil {
		ctx.Respond(bad)
		return
	}
	if s.spec.remote && !s.spec.node && m.GetSubscriberAddress() != s.spec.clientAddr {
		ctx.Respond(&messages.InvalidRequest{Field: "subscriber_address", Reason: fmt.Sprintf(
			"the subscriber must be on the session's client address %s", s.spec.clientAddr)})
		return
	}
	if len(s.subs) >= c.MaxSubscriptions {
		ctx.Respond(&messages.InvalidRequest{Field: "subscriptions", Reason: fmt.Sprintf(
			"the session already has %d subscriptions, the limit", c.MaxSubscriptions)})
		return
	}
	if n := c.Counters; n != nil && n.Subscriptions.Load() >= int64(c.MaxNodeSubscriptions) {
		ctx.Respond(unavailable("the node already serves %d subscriptions, the limit; retry later", c.MaxNodeSubscriptions))
		return
	}
	s.nextSub++
	id := "sub-" + strconv.FormatUint(s.nextSub, 10)
	spec := subscriptionSpec{
		id:         id,
		cfg:        c,
		replyTo:    ctx.Sender(),
		subscriber: actor.NewPID(m.GetSubscriberAddress(), m.GetSubscriberId()),
		offset:     m.GetOffset(),
		credit:     m.GetInitialCredit(),
		maxBytes:   m.GetMaxBytes(),
		log:        s.log.WithField("subscription", id),
	}
	pid, err := ctx.SpawnNamed(newSubscriptionProps(spec), id)
	if err != nil {
		ctx.Respond(unavailable("cannot start the subscription: %v", err))
		return
	}
	s.subs[id] = pid
	s.armIdle(ctx)
}

// subscriptionSpec is fixed at spawn time.
type subscriptionSpec struct {
	id         string
	cfg        SessionConfig
	replyTo    *actor.PID // gets SubscribeAck (or the error)
	subscriber *actor.PID // gets the pushes
	offset     uint64
	credit     uint32
	maxBytes   uint32
	log        *logrus.Entry
}

func newSubscriptionProps(spec subscriptionSpec) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &subscription{spec: spec, next: spec.offset, credit: uint64(spec.credit)}
	})
}

// subscription pushes records to one subscriber as they commit, never more
// than the credit the subscriber granted. It has at most one read in
// flight, a long poll at the end of the log, so it buffers nothing beyond
// the one reply it is about to push, however slow the subscriber is.
type subscription struct {
	spec    subscriptionSpec
	next    uint64
	credit  uint64
	acked   bool
	reading bool
	quiet   bool // end without telling the subscriber (it asked, or is gone)
	reason  string
	retry   *time.Timer
}

func (s *subscription) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if c := s.spec.cfg.Counters; c != nil {
			c.Subscriptions.Add(1)
		}
		ctx.Watch(s.spec.subscriber)
		ctx.Request(s.spec.cfg.Log, &messages.CheckOffset{Offset: s.spec.offset})
	case *actor.Restarting, *actor.Stopped:
		if c := s.spec.cfg.Counters; c != nil {
			c.Subscriptions.Add(-1)
		}
	case *actor.Stopping:
		if s.retry != nil {
			s.retry.Stop()
		}
		if s.acked && !s.quiet {
			reason := s.reason
			if reason == "" {
				reason = "the session ended"
			}
			ctx.Send(s.spec.subscriber, &messages.SubscriptionEnded{SubscriptionId: s.spec.id, Reason: reason})
		}
		// No Unwatch: for a remote subscriber it would make protoactor dial
		// the subscriber's address again, even when it is gone. A late
		// Terminated for this subscription is dropped as a dead letter.
	case *messages.OffsetAccepted:
		if !s.acked {
			s.acked = true
			ctx.Send(s.spec.replyTo, &messages.SubscribeAck{SubscriptionId: s.spec.id})
			s.spec.log.WithField("offset", s.next).Debug("subscription started")
		}
		s.pump(ctx)
	case *messages.OffsetOutOfRange:
		if !s.acked {
			s.quiet = true
			ctx.Send(s.spec.replyTo, m)
		} else {
			s.reason = fmt.Sprintf("offset %d is out of range [%d, %d)", m.GetOffset(), m.GetLowOffset(), m.GetNextOffset())
		}
		ctx.Stop(ctx.Self())
	case *messages.ConsumeResponse:
		s.reading = false
		if recs := m.GetRecords(); len(recs) > 0 {
			s.credit -= min(s.credit, uint64(len(recs)))
			s.next = recs[len(recs)-1].GetOffset() + 1
			// Sent as a request so that a subscriber that is gone answers
			// with a dead letter, which ends the subscription.
			ctx.Request(s.spec.subscriber, &messages.SubscriptionRecords{SubscriptionId: s.spec.id, Records: recs})
		}
		s.pump(ctx)
	case *messages.Unavailable:
		s.reading = false
		if !s.acked {
			ctx.Send(s.spec.replyTo, m)
			s.quiet = true
			ctx.Stop(ctx.Self())
			return
		}
		// A segment is restarting: read again shortly.
		sys, self := ctx.ActorSystem(), ctx.Self()
		s.retry = time.AfterFunc(s.spec.cfg.RetryBackoff, func() { sys.Root.Send(self, &messages.SubscriptionRetry{}) })
	case *messages.SubscriptionRetry:
		s.retry = nil
		s.pump(ctx)
	case *messages.Credit:
		s.credit = min(s.credit+uint64(m.GetRecords()), uint64(s.spec.cfg.MaxCredit))
		s.pump(ctx)
	case *messages.Unsubscribe:
		s.quiet = true
		ctx.Respond(&messages.SubscriptionEnded{SubscriptionId: s.spec.id, Reason: "unsubscribed"})
		ctx.Stop(ctx.Self())
	case *messages.ClientEndpointTerminated:
		if m.GetAddress() == s.spec.subscriber.GetAddress() {
			s.quiet = true // nobody left to tell
		} else {
			s.reason = "the session's client went away"
		}
		ctx.Stop(ctx.Self())
	case *actor.Terminated, *actor.DeadLetterResponse:
		// The subscriber is gone.
		s.quiet = true
		s.spec.log.Debug("subscriber gone; ending the subscription")
		ctx.Stop(ctx.Self())
	}
}

// pump asks the log for as many records as the credit allows, unless a read
// is already out.
func (s *subscription) pump(ctx actor.Context) {
	if !s.acked || s.reading || s.credit == 0 || s.retry != nil {
		return
	}
	s.reading = true
	ctx.Request(s.spec.cfg.Log, &messages.ConsumeRequest{
		Offset:     s.next,
		MaxRecords: uint32(min(s.credit, uint64(s.spec.cfg.MaxPushRecords))),
		MaxBytes:   s.spec.maxBytes,
		WaitMs:     uint32(s.spec.cfg.PollWait.Milliseconds()),
	})
}
