// Package grpcroute is client-side discovery and balancing for actorlog's
// gRPC Log service (messages/log.proto), usable by any grpc-go program:
//
//	import _ "actorlog/grpcroute" // registers the resolver and the balancer
//
//	conn, err := grpc.NewClient("actorlog:///10.0.0.1:7490,10.0.0.2:7490",
//		grpc.WithTransportCredentials(creds))
//	log := messages.NewLogClient(conn)
//
// # The resolver
//
// The actorlog scheme names seed nodes, as a static list of gRPC addresses
// in the target's path or, with ?consul=host:port[&service=name], as the
// passing instances of the service in Consul (their grpc_addr meta). The
// resolver asks a seed for the member list (GetServers) and hands gRPC
// every member's gRPC address, the leader marked. It asks again every
// Config.Interval, and soon after gRPC or the application (Builder.Refresh)
// signals that something changed (a connection failed, a NotLeader), so
// the list follows members joining, leaving and leadership moving. It
// reaches the seeds with the channel's own transport credentials.
//
// The resolver also selects the balancer below, through the service config
// it returns, so a program needs no further option.
//
// # The balancer
//
// The balancer (BalancerName) keeps a connection to every member and picks
// per call: Produce and ProduceStream go to the leader; Consume and
// ConsumeStream go round-robin over the followers, whose logs may lag
// slightly (Kafka's follower fetching); every other call round-robin over
// all. A call whose outgoing metadata carries RouteHeader "leader" goes to
// the leader (a read that must see the latest writes). Until a leader is
// known, or when no follower is connected, any member serves: a follower
// forwards produces to the leader itself.
package grpcroute
