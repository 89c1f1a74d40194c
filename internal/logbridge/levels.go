package logbridge

import (
	"log/slog"

	"github.com/hashicorp/go-hclog"
	"github.com/sirupsen/logrus"
)

// namesake is the logrus level named like the highest slog level that l
// reaches: Error, Warn, Info, and Debug for anything below Info.
func namesake(l slog.Level) logrus.Level {
	switch {
	case l >= slog.LevelError:
		return logrus.ErrorLevel
	case l >= slog.LevelWarn:
		return logrus.WarnLevel
	case l >= slog.LevelInfo:
		return logrus.InfoLevel
	default:
		return logrus.DebugLevel
	}
}

// DemoteInfo keeps slog's warnings and errors at their level and sends
// everything below Warn to logrus Debug. protoactor logs every connection,
// endpoint and actor-system event at Info: lifecycle chatter for an operator
// of a node, not news.
func DemoteInfo(l slog.Level) logrus.Level {
	if lv := namesake(l); lv <= logrus.WarnLevel {
		return lv
	}
	return logrus.DebugLevel
}

// OneStepDown shifts every slog level down one step: Error becomes logrus
// Warn, Warn becomes Info, Info becomes Debug and anything lower Trace. For a
// client, protoactor's connection churn (Info) and a node going away (Error)
// are not the application's errors: the client retries and reports what
// still fails through return values.
func OneStepDown(l slog.Level) logrus.Level {
	// logrus levels grow with verbosity, from Panic to Trace.
	return namesake(l) + 1
}

// logrusLevel is the logrus level an hclog line at l is written at. A line
// without a level is Info, as in hclog.
func logrusLevel(l hclog.Level) logrus.Level {
	switch l {
	case hclog.Trace:
		return logrus.TraceLevel
	case hclog.Debug:
		return logrus.DebugLevel
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return logrus.InfoLevel
	case hclog.Warn:
		return logrus.WarnLevel
	default:
		return logrus.ErrorLevel
	}
}

// hclogLevel is the most verbose hclog level whose lines a logrus logger at
// l writes, so that hclog's IsDebug and the like answer as logrus would.
// Below Warn (logrus Error, Fatal, Panic) it is Error.
func hclogLevel(l logrus.Level) hclog.Level {
	for _, h := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if logrusLevel(h) <= l {
			return h
		}
	}
	return hclog.Error
}

// joinName joins a parent's name and a child's with a dot, as hclog names
// derived loggers and slog prefixes the keys of a group.
func joinName(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
