// Package client is the Go client of actorlog. It runs a small local actor
// system with its own listener (replies from a node are dialled back to it)
// and sends Produce and Consume requests to a node's session actor as a
// remote actor client.
//
// # Using it
//
//	c, err := client.New(ctx, client.Config{Servers: []string{"127.0.0.1:7400"}})
//	if err != nil { ... }
//	defer c.Close()
//
//	offsets, err := c.Produce(ctx, []byte("a"), []byte("b"))
//	res, err := c.Consume(ctx, offsets[0], client.ConsumeOptions{MaxRecords: 100})
//
//	sub, err := c.Subscribe(ctx, 0, client.SubscribeOptions{Buffer: 1024})
//	defer sub.Close()
//	for r, err := range sub.Records(ctx) { ... }
//
// A Client is safe for concurrent use, and one per process is usually right:
// it multiplexes every call over one connection per node.
//
// # How a request travels
//
// New starts an actor system and a protoactor remote listening on
// Config.ListenAddr (by default the local address on the route to the first
// server, port 0). Protoactor delivers replies by dialling the sender's
// address, so a client needs a listener of its own, reachable from the nodes
// (see Config.AdvertisedAddr behind NAT).
//
// The client asks the node's well-known "sessions" actor for a session
// (OpenSession -> SessionOpened) and sends every later request to the
// session actor named in the reply. SessionOpened also carries the node's
// limits: Produce rejects a value above the record limit locally, with an
// *InvalidRequestError naming it, and splits a call above the batch limit
// into several requests.
//
// Each request waits for its reply on a process registered in the local
// actor system under a fresh id (not a protoactor Future, which can neither
// be abandoned when the caller's context ends nor failed from outside).
//
// # Routing in a cluster
//
// Any configured server is enough: New asks it for the member list
// (ServersRequest, the leader marked) and the client routes by it.
// Produce goes to the leader; while no leader is known it goes to any live
// node, which forwards it. Consume goes round-robin over the members that
// are not the leader, whose logs may lag slightly; ConsumeOptions.Consistent
// (a linearizable read) and ConsumeOptions.PreferLeader send it to the
// leader. A lone node is its own leader and serves everything.
//
// The member list is refreshed in the background after a NotLeader reply, an
// Unavailable reply, a timeout or a lost connection (at most every 100 ms,
// and then every 100 ms until a live leader is named), and every
// Config.RefreshInterval while the client is in use. Learning a new leader
// ends the backoff of every retry waiting, so requests resume within about
// 100 ms of an election. A node whose
// connection failed is skipped for a couple of seconds while other nodes
// remain. Configured servers are never forgotten, so the client can always
// start over from them. These decisions are the router's (routing.go), which
// only keeps the view of the cluster; the client does the talking.
//
// # Deadlines and retries
//
// Every call takes a context. Its deadline bounds the whole call, retries
// included; a context without one gets Config.Timeout. Each attempt is
// further bounded by Config.AttemptTimeout, so a lost request is retried
// rather than waited for until the end.
//
// Transient failures are retried with jittered exponential backoff:
// an Unavailable reply, an attempt that timed out, a connection to the node
// that dropped (protoactor's EndpointTerminatedEvent fails the requests in
// flight to that node at once), a session the node no longer knows (it
// restarted: the request was dead-lettered), and NotLeader, which also
// redirects the client to the leader it names (at once, without a backoff,
// when it names a new one). Rejections — invalid requests,
// offsets out of range, authorisation — are returned at once. When the
// deadline passes, the error matches both context.DeadlineExceeded and the
// last failure (ErrUnavailable, *NotLeaderError).
//
// # Idempotent produce
//
// The client owns Config.MaxInFlight producer identities ("lanes"). A
// produce request takes a lane, is stamped with the lane's random producer
// id and next sequence number, and keeps both across retries; the node
// answers a (producer id, sequence) it has already applied with the original
// offsets — also after a leader change, since the cluster's state machine
// remembers applied pairs. A lane carries one request at a time, so a node sees each
// producer's sequences in order, and lanes together give pipelining. A lane
// whose request failed for good takes a new producer id, so its fate can
// never be confused with the next request's.
//
// # Subscriptions and back-pressure
//
// Subscribe registers a local inbox and asks the session to push records to
// it, granting credit for SubscribeOptions.Buffer records. Next hands out
// buffered records and grants credit back in chunks as the buffer drains,
// so records held by the client plus records the node may still send never
// exceed Buffer. A consumer that stops reading stops the node from sending:
// neither side buffers more.
//
// A subscription survives a node restart or a dropped connection: it
// subscribes again from the offset after the last record received.
//
// # Protoactor hazards handled here
//
// The client's remote raises gRPC's message size limit
// (Config.MaxMessageBytes) in both directions and packs fewer messages per
// gRPC message (Config.EndpointWriterBatchSize), because protoactor's
// endpoint writer packs up to 1000 and an oversized gRPC message kills the
// stream. Its listener recovers panics in the stream handler (protoactor
// panics on a message type this binary does not know). It dials a node once
// per attempt instead of protoactor's five two-second retries.
//
// # The gRPC transport
//
// With Config.Transport set to TransportGRPC the client speaks the gRPC Log
// service (README.md, "gRPC") instead: Servers (and Consul's instances) are
// --grpc-addr addresses, there is no listener of the client's own, so it
// works through NAT, a port-forward or a TCP proxy, and routing is the
// grpcroute package's (produces to the leader, reads to the followers).
// Produce, Consume, Subscribe and Servers behave as above: the same
// idempotent lanes, retries within the deadline and typed errors (read
// from the status details). A Subscription reads a ConsumeStream, whose
// back-pressure is gRPC's flow control; Limits reports zero (unknown).
//
// # Logging
//
// Config.Logger receives the client's logs and protoactor's (which logs
// through log/slog; they are bridged into logrus, one level lower, since
// connection churn is routine for a client). A nil Logger discards both.
package client
