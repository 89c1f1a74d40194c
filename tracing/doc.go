// Package tracing sets up OpenTelemetry tracing for actorlog and carries a
// trace's context across the actor messages of one request.
//
// A produce is traced from the client through the node: the client's
// request span (actorlog.produce), the session that accepts it
// (session.produce), the raft actor that commits it (raft.apply), the state
// machine that applies the committed entries on every replica (fsm.apply)
// and the segment that writes the records (segment.append). The context
// travels in the protoactor message headers (W3C Trace Context keys
// "traceparent" and "tracestate"), and inside the raft entry, which is the
// only way it reaches the replicas' state machines.
//
// The package owns the exporter and the tracer provider, nothing else. It
// never installs a global provider or propagator: every component is given
// its trace.TracerProvider in its Config, so several nodes and clients in
// one process can trace to different places. A nil provider, or the one
// Setup returns when tracing is off, records nothing, and the components
// check Enabled once so that the hot path then builds no attributes and
// sends no headers.
package tracing
