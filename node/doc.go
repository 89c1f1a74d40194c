// Package node wires one actorlog node together and owns its lifecycle: the
// configuration, the actor system and its remote endpoint, the actor tree,
// the HTTP API, startup order and graceful shutdown.
package node
