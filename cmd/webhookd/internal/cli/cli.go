// Package cli holds webhookd's subcommands. main only calls Main.
package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
)

// IO is a command's standard streams.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdio IO) int
}

// commands is filled by each subcommand's file in init, so that adding one touches one file.
var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string, stdio IO) int) {
	commands[name] = command{summary: summary, run: run}
}

// Main runs the subcommand named by args[0] and returns the process exit code: 0 success, 1 failure, 2 usage. Help
// that was asked for goes to standard output; errors, and the usage that follows a mistake, to standard error.
func Main(ctx context.Context, args []string, stdio IO) int {
	if len(args) == 0 {
		usage(stdio.Err)
		return 2
	}
	if isHelp(args[0]) {
		usage(stdio.Out)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stdio.Err, "webhookd: unknown command %q%s\nRun 'webhookd -h' for the commands.\n", args[0],
			didYouMean(args[0], slices.Collect(maps.Keys(commands))))
		return 2
	}
	return c.run(ctx, args[1:], stdio)
}

// didYouMean is " (did you mean X?)" for the candidate nearest to s, or "" when none is near.
func didYouMean(s string, candidates []string) string {
	if c := closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: webhookd <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'webhookd <command> -h' for a command's flags.")
}
