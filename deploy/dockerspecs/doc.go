// Package dockerspecs runs the Compose cluster of deploy/compose.yaml for
// real: images built from this checkout (`make image`), real containers on a
// private Docker network, and the host's `actorlog produce` and `consume`
// talking to them. Every spec only talks to this machine: loopback ports
// published by the stack, and the stack's own private network.
//
// The suite needs Docker with Compose and the variables `make test-docker`
// sets: ACTORLOG_BIN (the host's CLI), ACTORLOG_IMAGE, CONSUL_IMAGE and
// COMPOSE ("docker compose" or "docker-compose"). It is not part of
// `make test`. README.md, "Docker and Compose", describes the stack.
package dockerspecs
