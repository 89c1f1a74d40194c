package actors

import (
	"log/slog"
	"time"

	"actorlog/internal/logbridge"
	"github.com/sirupsen/logrus"
)

// NewSlogHandler returns a slog.Handler that writes to entry. protoactor
// logs through log/slog; the node hands it this handler (with
// actor.WithLoggerFactory) so that every line ends up in the one logrus
// logger, with protoactor's attributes as fields.
//
// protoactor logs every connection, endpoint and actor-system event at
// Info; those are lifecycle chatter for an operator, so they are demoted to
// Debug. Warnings and errors keep their level, at most one a second per
// message: a peer that sends invalid protobuf in a loop makes protoactor
// log each failure, and must not flood the log.
func NewSlogHandler(entry *logrus.Entry) slog.Handler {
	return logbridge.NewSlogHandler(entry, logbridge.SlogOptions{
		Level:       logbridge.DemoteInfo,
		RepeatEvery: time.Second,
	})
}
