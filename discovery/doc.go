// Package discovery registers an actorlog node with its local Consul agent,
// keeps its health check alive, watches the healthy members with blocking
// queries, and deregisters the node when it leaves. It talks to Consul only
// through hashicorp/consul/api.
package discovery
