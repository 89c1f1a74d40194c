// Package client is the Go client of actorlog. It runs a small local actor
// system with its own listener (replies from a node are dialled back to it)
// and sends Produce and Consume requests to a node's session actor as a
// remote actor client.
package client
