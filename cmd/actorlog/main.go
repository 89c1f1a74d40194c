package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT and SIGTERM cancel the command's context: the agent shuts down
	// gracefully, produce stops reading and reports what was acknowledged,
	// consume --follow ends.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "actorlog:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(os.Stderr, "Run 'actorlog --help' (or add --help to the command) for usage.")
		os.Exit(exitUsage)
	}
	os.Exit(exitFailure)
}
