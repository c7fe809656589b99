// Command webhookd is a Standard Webhooks gateway: it signs events and delivers them to registered endpoints.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/webhookd/webhookd/cmd/webhookd/internal/cli"
)

func main() {
	if err := cli.ExecPollingMonitor(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "webhookd: could not execute itself again (%v); going on without --polling-monitor\n", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
