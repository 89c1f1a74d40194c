// Package logbridge sends the logs of the libraries actorlog is built on to
// logrus, the project's one logger, so that every line carries the caller's
// fields and obeys its level switch and format.
//
// Two adapters, both on top of a *logrus.Entry the caller passes in:
//
//   - NewSlogHandler, a log/slog Handler for protoactor (given to
//     actor.WithLoggerFactory). SlogOptions say how slog levels map onto
//     logrus levels (DemoteInfo for a node, OneStepDown for a client), can
//     send every line to Debug while the owner shuts down (Quiet), and can
//     let a repeated warning through only once per interval (RepeatEvery).
//     slog attributes become logrus fields; groups prefix their keys with
//     "group.".
//   - NewHCLogger, an hclog.Logger for hashicorp/raft, its network
//     transport and raft-wal. Key/value pairs become fields, the logger's
//     name goes into the "logger" field, and SetLevel narrows the level for
//     the whole family of derived loggers, as hclog does.
//
// The package owns only the translation. It never creates or configures a
// logrus logger, never changes the level of the one it is given, and never
// writes to stdout or stderr on its own: without an entry, NewHCLogger
// discards everything.
package logbridge
