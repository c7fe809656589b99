// Command webhookd is a Standard Webhooks gateway: it signs events and delivers them to registered endpoints.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/webhookd/webhookd/cmd/webhookd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
