package main

import (
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:   "actorlog",
		Short: "A replicated commit log built from actors",
		Long: `actorlog is a replicated commit log: clients append records and read them
back by offset. Every node runs its parts as actors that exchange protobuf
messages.

Run a node with 'actorlog agent', then use 'produce', 'consume' and 'servers'
from any shell, or the HTTP JSON API of the node.`,
		Example: `  actorlog agent --id n1 --data-dir ./data/n1
  seq 1 10 | actorlog produce
  actorlog consume --from 0
  actorlog servers
  actorlog bench --records 100000 --size 1024`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&logLevel, "log-level", "",
		`log level on stderr: panic, fatal, error, warn, info, debug or trace
(default "info" for agent, "error" for the client commands, which stay quiet)`)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		newAgentCommand(&logLevel),
		newProduceCommand(&logLevel),
		newConsumeCommand(&logLevel),
		newServersCommand(&logLevel),
		newBenchCommand(&logLevel),
		newCertsCommand(),
		newHealthCommand(),
		newLeaveCommand(),
	)
	return root
}

// newLogger builds the logger of a command: text on stderr at the given
// level, or at def when none was given. Nothing ever goes to stdout, which
// belongs to the command's output.
func newLogger(level, def string) (*logrus.Logger, error) {
	if level == "" {
		level = def
	}
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--log-level: %w", err)}
	}
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(lvl)
	return l, nil
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}
