package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/verifier"
)

func init() {
	register("receive", "run a receiver that verifies webhooks and prints each one (for trying webhookd out)", runReceive)
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runReceive(ctx context.Context, args []string, stdio IO) int {
	var (
		listen, profile string
		keys            stringList
		status          int
	)
	fs := newFlagSet("receive --key KEY [flags]", "Listens for webhooks, verifies each with the verifier package, and prints one JSON line per\nmessage on stdout. It answers the endpoint handshake (OPTIONS) as webhookd requires.", stdio.Err)
	fs.StringVar(&listen, "listen", "127.0.0.1:9000", "address to listen on")
	fs.StringVar(&profile, "profile", profiles.Default().Name(), "sender profile: "+profiles.Names())
	fs.Var(&keys, "key", "trusted key (whsec_ secret or whpk_ public key for standard; repeat for several)")
	fs.IntVar(&status, "status", http.StatusNoContent, "status to answer verified messages with (try 500 to watch retries)")
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(keys) == 0 {
		if k := strings.TrimSpace(lookupEnv("WEBHOOKD_KEY")); k != "" {
			keys = append(keys, k)
		}
	}
	v, err := verifier.New(verifier.Config{Profile: profile, Keys: keys})
	if err != nil {
		fmt.Fprintln(stdio.Err, "webhookd receive:", err)
		return 2
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(stdio.Err, "webhookd receive:", err)
		return 1
	}
	fmt.Fprintf(stdio.Err, "webhookd receive: listening on http://%s/ (profile %s)\n", ln.Addr(), profile)

	var mu sync.Mutex
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		res, _ := verifier.ResultFrom(r.Context())
		line, _ := json.Marshal(struct {
			ID        string          `json:"id"`
			Timestamp time.Time       `json:"timestamp"`
			Signature string          `json:"verified_with"`
			Body      json.RawMessage `json:"body"`
		}{res.MessageID, res.Timestamp, fmt.Sprintf("%s (key %d)", res.Version, res.KeyIndex), jsonOrString(body)})
		mu.Lock()
		fmt.Fprintln(stdio.Out, string(line))
		mu.Unlock()
		w.WriteHeader(status)
	}))}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stdio.Err, "webhookd receive:", err)
		return 1
	}
	return 0
}

func jsonOrString(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}
