// Package raftmux carries many raft groups of a node over one listener
// and one TCP connection per pair of nodes.
//
// A node that holds replicas of many partitions runs one raft group per
// partition. Giving each its own hashicorp/raft NetworkTransport on its own
// port would open a port per group and a pool of connections per group
// and peer. Instead a Mux owns one listener; Group(name) returns a
// raft.StreamLayer for one group, to build that group's NetworkTransport
// on. Every group's connections to a peer are yamux streams of one session
// over one TCP connection (hashicorp/yamux).
//
// # Wire
//
// A node that dials a peer sends a hello before yamux starts: a magic
// string, then its own listen address (uvarint length, bytes). The peer
// keeps the session under that address, so its own groups reach the
// dialer over the same connection rather than dialling back. Each stream
// starts with the group's name (uvarint length, bytes); the accepting side
// hands the stream to that group's Accept, or closes it when no such group
// is open here (yet: a partition replica being created), and the raft
// transport of the dialer retries as it does for a peer that is down.
//
// If two nodes dial each other at the same moment, each keeps the session
// it dialled and serves the other's streams on the spare: a pair of nodes
// then has two connections, one each way, never one per group. A session
// that fails is forgotten, and the next dial to that address makes a new
// one.
//
// TLS, when configured, wraps the single TCP connection (the listener the
// Mux is given and its Dial function), so every group is covered by one
// handshake per pair of nodes.
package raftmux
