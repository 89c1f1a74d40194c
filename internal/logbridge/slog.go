package logbridge

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// SlogOptions say how a slog Handler of NewSlogHandler writes to logrus.
type SlogOptions struct {
	// Level maps the level of a slog record to the logrus level it is
	// written at. Nil means DemoteInfo.
	Level func(slog.Level) logrus.Level
	// Quiet, when not nil and set, sends every record to logrus Debug,
	// whatever its level. An owner sets it while it shuts down, when the
	// library reports its own connections closing as errors.
	Quiet *atomic.Bool
	// RepeatEvery, when positive, lets records at slog Warn and above
	// through at most once per RepeatEvery for each message text, so that a
	// failure the library logs in a loop (a peer sending invalid protobuf)
	// cannot flood the log. Zero lets every record through.
	RepeatEvery time.Duration
}

// NewSlogHandler returns a slog.Handler that writes to entry as opts say.
// protoactor logs through log/slog; the node and the client hand it this
// handler (with actor.WithLoggerFactory) so that its lines end up in their
// logrus logger, with protoactor's attributes as fields.
func NewSlogHandler(entry *logrus.Entry, opts SlogOptions) slog.Handler {
	return newSlogHandler(entry, opts, time.Now)
}

// newSlogHandler is NewSlogHandler with the clock of RepeatEvery.
func newSlogHandler(entry *logrus.Entry, opts SlogOptions, now func() time.Time) *slogHandler {
	if opts.Level == nil {
		opts.Level = DemoteInfo
	}
	h := &slogHandler{entry: entry, opts: opts}
	if opts.RepeatEvery > 0 {
		h.limit = &msgLimiter{every: opts.RepeatEvery, now: now, last: map[string]time.Time{}}
	}
	return h
}

// slogHandler is immutable; WithAttrs and WithGroup return a copy that
// shares the limiter, so a message is limited across all of them.
type slogHandler struct {
	entry  *logrus.Entry
	opts   SlogOptions
	group  string
	fields logrus.Fields
	limit  *msgLimiter // nil: no limit
}

// msgLimiter lets one record per message text through each interval.
type msgLimiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

// maxLimited bounds the memory of a limiter: beyond it, it forgets every
// message, which at worst lets one more line of each through.
const maxLimited = 1024

func (l *msgLimiter) allow(msg string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[msg]; ok && now.Sub(t) < l.every {
		return false
	}
	if len(l.last) > maxLimited {
		clear(l.last)
	}
	l.last[msg] = now
	return true
}

func (h *slogHandler) level(l slog.Level) logrus.Level {
	if h.opts.Quiet != nil && h.opts.Quiet.Load() {
		return logrus.DebugLevel
	}
	return h.opts.Level(l)
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.entry.Logger.IsLevelEnabled(h.level(l))
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	if h.limit != nil && r.Level >= slog.LevelWarn && !h.limit.allow(r.Message) {
		return nil
	}
	fields := make(logrus.Fields, len(h.fields)+r.NumAttrs())
	for k, v := range h.fields {
		fields[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(fields, h.group, a)
		return true
	})
	h.entry.WithFields(fields).Log(h.level(r.Level), r.Message)
	return nil
}

// addAttr adds a as a field, with its groups' names as a dotted prefix.
func addAttr(f logrus.Fields, group string, a slog.Attr) {
	key := joinName(group, a.Key)
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, ga := range v.Group() {
			addAttr(f, key, ga)
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
		addAttr(f, h.group, a)
	}
	c := *h
	c.fields = f
	return &c
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.group = joinName(h.group, name)
	return &c
}
