package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func init() {
	register("healthcheck", "probe a running gateway's /readyz (for container health checks: the image has no curl)", runHealthcheck)
}

const healthcheckSynopsis = `Gets --url and exits 0 when it answers 2xx, 1 otherwise (printing why). Without --url it probes
/readyz on the address WEBHOOKD_LISTEN names (0.0.0.0 and :: become loopback), else on 127.0.0.1:8080.
/readyz checks the store and the delivery engine; use /healthz to check only that the process serves.`

func runHealthcheck(ctx context.Context, args []string, stdio IO) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(stdio.Out, "usage: webhookd healthcheck [--url URL] [--timeout D]\n\n%s\n\nflags:\n", healthcheckSynopsis)
		fs.SetOutput(stdio.Out)
		fs.PrintDefaults()
	}
	target := fs.String("url", probeURL(os.Getenv(envName("listen"))), "URL to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "time the whole probe may take")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stdio.Err, "webhookd healthcheck: %v\nRun 'webhookd healthcheck -h' for usage.\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		fmt.Fprintln(stdio.Err, "webhookd healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stdio.Err, "webhookd healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stdio.Err, "webhookd healthcheck: %s: %s %s\n", *target, resp.Status, body)
		return 1
	}
	return 0
}

// probeURL is the /readyz URL of a gateway listening on listen ("host:port"; empty for the default).
func probeURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://127.0.0.1:8080/readyz"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}
