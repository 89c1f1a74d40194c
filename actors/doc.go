// Package actors holds every actor of an actorlog node: the segment actors
// and the log actor that supervises them, the session acceptor and the
// per-client sessions, and (as the cluster grows) the raft peer and
// membership actors.
//
// Actors talk to each other only through the protobuf messages of package
// messages, never by sharing structs. Each piece of mutable state has exactly
// one owning actor: a segment's files are written only by its segment actor.
package actors
