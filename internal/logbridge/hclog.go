package logbridge

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/sirupsen/logrus"
)

// NewHCLogger returns an hclog.Logger that writes through entry, so that
// hashicorp/raft, its transport and raft-wal log with the node's logrus
// fields instead of to stderr. A nil entry gives a logger that discards
// everything: library code never writes to stdout or stderr on its own.
//
// The level starts at the logrus logger's level; SetLevel on the returned
// logger (or on any logger derived from it with Named or With) narrows it
// for the whole family, as hclog does.
func NewHCLogger(entry *logrus.Entry, name string) hclog.Logger {
	if entry == nil {
		return hclog.NewNullLogger()
	}
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclogLevel(entry.Logger.GetLevel())))
	return &hcLogger{entry: entry, name: name, level: lvl}
}

// hcLogger adapts a logrus entry to hclog.Logger. Its fields are immutable
// after construction except level, which is shared by the family.
type hcLogger struct {
	entry   *logrus.Entry
	name    string
	implied []interface{}
	level   *atomic.Int32
}

var _ hclog.Logger = (*hcLogger)(nil)

func (l *hcLogger) enabled(level hclog.Level) bool {
	if level == hclog.Off {
		return false
	}
	if level == hclog.NoLevel || level == hclog.DefaultLevel {
		level = hclog.Info
	}
	min := hclog.Level(l.level.Load())
	return min != hclog.Off && level >= min
}

func (l *hcLogger) fields(args []interface{}) logrus.Fields {
	all := append(append([]interface{}{}, l.implied...), args...)
	f := make(logrus.Fields, len(all)/2+1)
	if l.name != "" {
		f["logger"] = l.name
	}
	for i := 0; i < len(all); i += 2 {
		if i+1 == len(all) {
			f["EXTRA_VALUE_AT_END"] = all[i]
			break
		}
		key, ok := all[i].(string)
		if !ok {
			key = fmt.Sprint(all[i])
		}
		f[key] = all[i+1]
	}
	return f
}

func (l *hcLogger) Log(level hclog.Level, msg string, args ...interface{}) {
	if !l.enabled(level) {
		return
	}
	l.entry.WithFields(l.fields(args)).Log(logrusLevel(level), msg)
}

func (l *hcLogger) Trace(msg string, args ...interface{}) { l.Log(hclog.Trace, msg, args...) }
func (l *hcLogger) Debug(msg string, args ...interface{}) { l.Log(hclog.Debug, msg, args...) }
func (l *hcLogger) Info(msg string, args ...interface{})  { l.Log(hclog.Info, msg, args...) }
func (l *hcLogger) Warn(msg string, args ...interface{})  { l.Log(hclog.Warn, msg, args...) }
func (l *hcLogger) Error(msg string, args ...interface{}) { l.Log(hclog.Error, msg, args...) }

func (l *hcLogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *hcLogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *hcLogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *hcLogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *hcLogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *hcLogger) ImpliedArgs() []interface{} { return l.implied }

func (l *hcLogger) With(args ...interface{}) hclog.Logger {
	c := *l
	c.implied = append(append([]interface{}{}, l.implied...), args...)
	return &c
}

func (l *hcLogger) Name() string { return l.name }

func (l *hcLogger) Named(name string) hclog.Logger {
	c := *l
	c.name = joinName(l.name, name)
	return &c
}

func (l *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	return &c
}

func (l *hcLogger) SetLevel(level hclog.Level) { l.level.Store(int32(level)) }

func (l *hcLogger) GetLevel() hclog.Level { return hclog.Level(l.level.Load()) }

func (l *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &hcWriter{l: l, opts: *opts}
}

// hcWriter turns lines written by a standard library *log.Logger into log
// calls, inferring "[ERROR]"-style level prefixes the way hclog does.
type hcWriter struct {
	l    *hcLogger
	opts hclog.StandardLoggerOptions
}

func (w *hcWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		msg := string(line)
		level := hclog.Info
		if w.opts.ForceLevel != hclog.NoLevel {
			level = w.opts.ForceLevel
		} else if w.opts.InferLevels || w.opts.InferLevelsWithTimestamp {
			level, msg = inferLevel(msg)
		}
		w.l.Log(level, msg)
	}
	return len(p), nil
}

func inferLevel(msg string) (hclog.Level, string) {
	prefixes := []struct {
		p string
		l hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
	}
	for _, p := range prefixes {
		if i := strings.Index(msg, p.p); i >= 0 {
			return p.l, strings.TrimSpace(msg[i+len(p.p):])
		}
	}
	return hclog.Info, msg
}
