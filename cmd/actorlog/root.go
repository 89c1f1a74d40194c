package main

import "github.com/spf13/cobra"

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "actorlog",
		Short:         "A replicated commit log built from actors",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	return root
}
