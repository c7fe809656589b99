package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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

// receiveEnv names receive's environment variables: WEBHOOKD_RECEIVE_LISTEN and so on, apart from serve's.
func receiveEnv(flagName string) string { return envName("receive-" + flagName) }

const receiveSynopsis = `Listens for webhooks and verifies each with the verifier package. Every verified message is
printed on standard output as one JSON line: {"id", "timestamp", "verified_with": "v1 (key 1)", "body"}, key 1
being the first --key. Every other request gets one line on standard error: the handshake, a duplicate (answered
200, not printed again), or a rejection and why (no_matching_signature, timestamp_too_old, ...). It answers the
endpoint handshake (OPTIONS) as webhookd requires, and exits 1 at once if it cannot listen.`

func runReceive(ctx context.Context, args []string, stdio IO) int {
	var (
		listen, profile string
		keys            stringList
		status          int
	)
	fs := newFlagSetEnv("receive --key KEY [flags]", receiveSynopsis, stdio.Out, receiveEnv)
	fs.StringVar(&listen, "listen", "127.0.0.1:9000", "address to listen on")
	fs.StringVar(&profile, "profile", profiles.Default().Name(), "sender profile: "+profiles.Names())
	fs.Var(&keys, "key", "trusted key (whsec_ secret or whpk_ public key for standard; repeat for several)")
	fs.IntVar(&status, "status", http.StatusNoContent, "status to answer verified messages with (try 500 to watch retries)")
	if err := parseWithEnvNamed(fs, args, receiveEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stdio.Err, "webhookd receive: %v\nRun 'webhookd receive -h' for usage.\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stdio.Err, "webhookd receive: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if status < 100 || status > 599 {
		fmt.Fprintf(stdio.Err, "webhookd receive: --status %d: want an HTTP status, 100 to 599\n", status)
		return 2
	}
	v, err := verifier.New(verifier.Config{Profile: profile, Keys: keys})
	if err != nil {
		fmt.Fprintf(stdio.Err, "webhookd receive: %v (pass --key, or set %s)\n", err, receiveEnv("key"))
		return 2
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(stdio.Err, "webhookd receive: cannot listen on %s: %v\n", listen, err)
		return 1
	}
	fmt.Fprintf(stdio.Err, "webhookd receive: listening on http://%s/ (profile %s)\n", ln.Addr(), profile)

	var mu sync.Mutex
	printed := func(w io.Writer, line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, line)
	}
	verified := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		res, _ := verifier.ResultFrom(r.Context())
		line, _ := json.Marshal(struct {
			ID        string    `json:"id"`
			Timestamp time.Time `json:"timestamp"`
			Signature string    `json:"verified_with"`
		}{res.MessageID, res.Timestamp, fmt.Sprintf("%s (key %d)", res.Version, res.KeyIndex+1)})
		// The body as it came (encoding/json would compact it and escape <, > and &), on one line.
		line = append(append(line[:len(line)-1], `,"body":`...), oneLine(body)...)
		line = append(line, '}')
		if p, ok := r.Context().Value(printedKey{}).(*bool); ok {
			*p = true
		}
		printed(stdio.Out, string(line))
		w.WriteHeader(status)
	}))
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := false
		rec := &answer{ResponseWriter: w}
		verified.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), printedKey{}, &done)))
		if !done {
			printed(stdio.Err, "webhookd receive: "+describeAnswer(r, rec))
		}
	})}
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

// printedKey marks, in a request's context, whether the message was printed on standard output.
type printedKey struct{}

// answer records the status and the start of the body of an answer, for the line receive prints about it.
type answer struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (a *answer) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answer) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if n := min(len(p), 1024-len(a.body)); n > 0 {
		a.body = append(a.body, p[:n]...)
	}
	return a.ResponseWriter.Write(p)
}

// describeAnswer is the line about a request that printed no message: the handshake, a duplicate, or a rejection
// with the verifier's code and message.
func describeAnswer(r *http.Request, a *answer) string {
	status := cmp.Or(a.status, http.StatusOK)
	id := cmp.Or(r.Header.Get("webhook-id"), "-")
	switch {
	case r.Method == http.MethodOptions:
		return fmt.Sprintf("OPTIONS %s: handshake answered %d", r.URL.Path, status)
	case status/100 == 2:
		return fmt.Sprintf("POST %s %s: duplicate, answered %d, not printed again", r.URL.Path, id, status)
	}
	var e struct{ Code, Message string }
	if json.Unmarshal(a.body, &e) != nil || e.Code == "" {
		e.Code, e.Message = "http_"+strconv.Itoa(status), strings.TrimSpace(string(a.body))
	}
	return fmt.Sprintf("%s %s %s: rejected %d %s: %s", r.Method, r.URL.Path, id, status, e.Code, e.Message)
}

// oneLine is a body as it came when it is JSON on one line, the same JSON compacted when it spans lines, and a JSON
// string of it when it is not JSON.
func oneLine(b []byte) []byte {
	if !json.Valid(b) {
		s, _ := json.Marshal(string(b))
		return s
	}
	b = bytes.TrimSpace(b)
	if bytes.ContainsAny(b, "\r\n") {
		var c bytes.Buffer
		json.Compact(&c, b)
		return c.Bytes()
	}
	return b
}
