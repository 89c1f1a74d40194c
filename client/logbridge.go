package client

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
)

// logrusHandler is a slog.Handler that writes into logrus, so protoactor's
// logs (it logs through log/slog) land in the same place, with the same
// format and level switch, as the client's own.
//
// protoactor logs routine connection churn at Info and a node going away at
// Error. For a client those are not the application's errors: the client
// retries and reports what still fails through return values. So levels are
// shifted down one step: slog Info becomes logrus Debug, Warn becomes Info,
// and Error becomes Warn.
//
// While the client closes, protoactor reports its own connections closing as
// errors; quiet (set by Close) sends everything to Debug then.
type logrusHandler struct {
	entry *logrus.Entry
	group string
	quiet *atomic.Bool
}

func newLogrusHandler(entry *logrus.Entry, quiet *atomic.Bool) *logrusHandler {
	return &logrusHandler{entry: entry, quiet: quiet}
}

func (h *logrusHandler) level(l slog.Level) logrus.Level {
	if h.quiet.Load() {
		return logrus.DebugLevel
	}
	return shiftLevel(l)
}

func shiftLevel(l slog.Level) logrus.Level {
	switch {
	case l >= slog.LevelError:
		return logrus.WarnLevel
	case l >= slog.LevelWarn:
		return logrus.InfoLevel
	case l >= slog.LevelInfo:
		return logrus.DebugLevel
	default:
		return logrus.TraceLevel
	}
}

func (h *logrusHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.entry.Logger.IsLevelEnabled(h.level(l))
}

func (h *logrusHandler) Handle(_ context.Context, r slog.Record) error {
	fields := make(logrus.Fields, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		h.addAttr(fields, h.group, a)
		return true
	})
	h.entry.WithFields(fields).Log(h.level(r.Level), r.Message)
	return nil
}

func (h *logrusHandler) addAttr(fields logrus.Fields, prefix string, a slog.Attr) {
	key := a.Key
	if prefix != "" {
		key = prefix + "." + key
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, ga := range v.Group() {
			h.addAttr(fields, key, ga)
		}
		return
	}
	fields[key] = v.Any()
}

func (h *logrusHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := make(logrus.Fields, len(attrs))
	for _, a := range attrs {
		h.addAttr(fields, h.group, a)
	}
	return &logrusHandler{entry: h.entry.WithFields(fields), group: h.group, quiet: h.quiet}
}

func (h *logrusHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &logrusHandler{entry: h.entry, group: g, quiet: h.quiet}
}

// discardLogger is the default: a library writes nothing unless asked to.
// It is one logger for the process, so Clients without a Logger can share
// their transport.
var discardLogger = sync.OnceValue(func() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.PanicLevel)
	return l
})
