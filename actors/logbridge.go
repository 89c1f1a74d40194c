package actors

import (
	"context"
	"log/slog"
	"sync"
	"time"

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
	return &slogHandler{entry: entry, limit: &msgLimiter{last: map[string]time.Time{}}}
}

type slogHandler struct {
	entry  *logrus.Entry
	group  string
	fields logrus.Fields
	limit  *msgLimiter
}

// msgLimiter lets one line per message text through each second.
type msgLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *msgLimiter) allow(msg string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[msg]; ok && now.Sub(t) < time.Second {
		return false
	}
	if len(l.last) > 1024 {
		clear(l.last)
	}
	l.last[msg] = now
	return true
}

func (h *slogHandler) level(l slog.Level) logrus.Level {
	switch {
	case l >= slog.LevelError:
		return logrus.ErrorLevel
	case l >= slog.LevelWarn:
		return logrus.WarnLevel
	default:
		return logrus.DebugLevel
	}
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.entry.Logger.IsLevelEnabled(h.level(l))
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && !h.limit.allow(r.Message, time.Now()) {
		return nil
	}
	fields := make(logrus.Fields, len(h.fields)+r.NumAttrs())
	for k, v := range h.fields {
		fields[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		h.add(fields, h.group, a)
		return true
	})
	h.entry.WithFields(fields).Log(h.level(r.Level), r.Message)
	return nil
}

func (h *slogHandler) add(f logrus.Fields, group string, a slog.Attr) {
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, ga := range v.Group() {
			h.add(f, key, ga)
		}
		return
	}
	f[key] = v.Any()
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	f := make(logrus.Fields, len(h.fields)+len(attrs))
	for k, v := range h.fields {
		f[k] = v
	}
	for _, a := range attrs {
		h.add(f, h.group, a)
	}
	return &slogHandler{entry: h.entry, group: h.group, fields: f, limit: h.limit}
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &slogHandler{entry: h.entry, group: g, fields: h.fields, limit: h.limit}
}
