package cli

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

const clOperatorToken = "client-test-operator-token-0123456789"

// clAPI is a real API over a bolt store in a temp dir, with a delivery engine that retries once after 5ms, and a
// receiver that answers the handshake, 204 on /hooks and 500 on /fail.
type clAPI struct {
	url  string
	rcv  *httptest.Server
	mu   sync.Mutex
	hits map[string]int // POSTs by path
}

func newClAPI(t *testing.T) *clAPI {
	t.Helper()
	// Nothing from the developer's environment may leak into the commands.
	for _, name := range []string{"WEBHOOKD_URL", "WEBHOOKD_TOKEN", "WEBHOOKD_TOKEN_FILE", "WEBHOOKD_TENANT", "WEBHOOKD_OPERATOR_TOKEN", "WEBHOOKD_DATA"} {
		t.Setenv(name, "")
	}
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &clAPI{hits: map[string]int{}}
	a.rcv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		a.hits[r.URL.Path]++
		a.mu.Unlock()
		if r.URL.Path == "/fail" {
			http.Error(w, "receiver is down", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(a.rcv.Close)

	policy := egress.Policy{AllowHTTP: true, AllowPrivate: true}
	logger := slog.New(slog.DiscardHandler)
	eng, err := delivery.NewEngine(delivery.Config{
		Retry:  delivery.Retry{Initial: 5 * time.Millisecond, Cap: 10 * time.Millisecond, Count: 1, Jitter: -1},
		Logger: logger,
	}, delivery.Deps{Queue: st, Messages: st, Endpoints: st, Client: egress.NewClient(egress.ClientConfig{Policy: policy})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	h, err := api.New(api.Config{OperatorToken: clOperatorToken, Logger: logger}, api.Deps{
		Tenants:   tenants.NewService(st, tenants.ServiceConfig{AllowDeletion: true, Logger: logger}),
		Endpoints: endpoints.NewService(st, endpoints.Config{Policy: policy}),
		Events:    events.NewService(st, events.Config{Endpoints: st, Log: st, Queue: st, Waker: eng}),
		Log:       st,
		Calls:     calls.New(st, st, calls.Config{Policy: policy}),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// wh runs a client command against the API with the operator token; the connection flags go last, which also tests
// that flags may follow arguments.
func (a *clAPI) wh(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return run(t, "", append(args, "--url", a.url, "--token", clOperatorToken)...)
}

// ok runs a command that must succeed and returns its standard output.
func (a *clAPI) ok(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := a.wh(t, args...)
	if code != 0 {
		t.Fatalf("webhookd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// okJSON runs a command with --json and decodes its output.
func (a *clAPI) okJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := a.ok(t, append(args, "--json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("webhookd %s --json: not one JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

func mustContain(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q is missing from\n%s", what, w, got)
		}
	}
}

// waitSettled polls the delivery log until no delivery of the tenant is pending.
func (a *clAPI) waitSettled(t *testing.T, tenant string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if strings.TrimSpace(a.ok(t, "deliveries", "list", "--tenant", tenant, "--status", "pending", "-q")) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("deliveries still pending after 15s")
		}
		<-tick.C
	}
}

func TestClientCommands(t *testing.T) {
	a := newClAPI(t)

	// Tenants.
	out := a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme Devices")
	if f := fieldsOf(out); f["id"] != "acme" || f["name"] != "Acme Devices" || f["created"] == "" {
		t.Errorf("tenants create: %q", out)
	}
	if id := strings.TrimSpace(a.ok(t, "tenants", "create", "--name", "Globex", "-q")); !strings.HasPrefix(id, "ten_") {
		t.Errorf("tenants create -q: %q, want a generated ten_ id", id)
	}
	out = a.ok(t, "tenants", "list")
	mustContain(t, "tenants list", out, "ID", "NAME", "CREATED", "Acme Devices", "Globex")
	if m := a.okJSON(t, "tenants", "show", "acme"); m["name"] != "Acme Devices" {
		t.Errorf("tenants show --json: %v", m)
	}

	// Tokens: the text alone on stdout, usable at once.
	tok := strings.TrimSpace(a.ok(t, "tokens", "create", "--tenant", "acme", "--name", "acme-admin"))
	if !strings.HasPrefix(tok, "wht_") || strings.Contains(tok, "\n") {
		t.Fatalf("tokens create: %q, want the token text alone", tok)
	}
	out = a.ok(t, "tokens", "list", "--tenant", "acme")
	mustContain(t, "tokens list", out, "acme-admin", "REVOKED")
	if strings.Contains(out, tok) {
		t.Error("tokens list shows the token text")
	}
	if code, out, errOut := run(t, "", "tenants", "show", "acme", "--url", a.url, "--token", tok); code != 0 || !strings.Contains(out, "acme") {
		t.Errorf("tenants show with the tenant token: exit %d %s %s", code, out, errOut)
	}

	// Endpoints.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	out = a.ok(t, "endpoints", "create", "--tenant", "acme", a.rcv.URL+"/hooks", "--events", "device.*, app.*",
		"--secret", secret, "--header", "X-Env: dev", "--metadata", "team=devices", "--timeout", "2s", "--description", "sync")
	wantFields(t, "endpoints create", out, "url", a.rcv.URL+"/hooks", "events", "device.*, app.*", "profile", "standard",
		"signing", "hmac", "headers", "X-Env: dev", "metadata", "team=devices", "timeout", "2s", "status", "enabled",
		"description", "sync")
	ep := a.okJSON(t, "endpoints", "list", "--tenant", "acme")["data"].([]any)[0].(map[string]any)["id"].(string)
	failing := strings.TrimSpace(a.ok(t, "endpoints", "create", "--tenant", "acme", a.rcv.URL+"/fail", "--events", "device.enrolled", "-q"))
	mender := strings.TrimSpace(a.ok(t, "endpoints", "create", "--tenant", "acme", a.rcv.URL+"/mender", "--profile", "mender", "-q"))
	out = a.ok(t, "endpoints", "list", "--tenant", "acme")
	mustContain(t, "endpoints list", out, "STATUS", ep, failing, "mender/hmac", "device.*,app.*")
	if ids := strings.Fields(a.ok(t, "endpoints", "list", "--tenant", "acme", "-q")); len(ids) != 3 {
		t.Errorf("endpoints list -q: %v", ids)
	}
	if got := strings.TrimSpace(a.ok(t, "endpoints", "secret", "--tenant", "acme", ep, "-q")); got != secret {
		t.Errorf("endpoints secret -q: %q, want %q", got, secret)
	}
	out = a.ok(t, "endpoints", "update", "--tenant", "acme", ep, "--events", "device.*", "--rate-limit", "5", "--no-headers")
	wantFields(t, "endpoints update", out, "events", "device.*", "rate limit", "5/s", "timeout", "2s", "headers", "")
	if strings.Contains(out, "X-Env") {
		t.Errorf("endpoints update --no-headers kept the header:\n%s", out)
	}
	out = a.ok(t, "endpoints", "update", "--tenant", "acme", ep, "--retries", "8", "--retry-initial", "2s", "--retry-cap", "10m")
	wantFields(t, "endpoints update --retries", out, "retry schedule", "8 retries, from 2s, at most 10m0s")
	if code, _, errOut := a.wh(t, "endpoints", "update", "--tenant", "acme", ep, "--retries", "11"); code != 1 || !strings.Contains(errOut, "retries") {
		t.Errorf("endpoints update --retries 11: exit %d, %s", code, errOut)
	}
	out = a.ok(t, "endpoints", "update", "--tenant", "acme", ep, "--ordering-on-failure", "block")
	wantFields(t, "endpoints update --ordering-on-failure", out, "ordering on failure", "block (a dead delivery holds its ordering key)")
	if code, _, errOut := a.wh(t, "endpoints", "update", "--tenant", "acme", ep, "--ordering-on-failure", "halt"); code != 1 || !strings.Contains(errOut, "ordering_on_failure") {
		t.Errorf("endpoints update --ordering-on-failure halt: exit %d, %s", code, errOut)
	}
	wantFields(t, "endpoints disable", a.ok(t, "endpoints", "disable", "--tenant", "acme", ep), "status", "disabled (manual)")
	wantFields(t, "endpoints enable", a.ok(t, "endpoints", "enable", "--tenant", "acme", ep), "status", "enabled")
	out = a.ok(t, "endpoints", "rotate", "--tenant", "acme", ep, "--grace", "1h")
	mustContain(t, "endpoints rotate", out, "key 1", "key 2", "signs until")
	out = a.ok(t, "endpoints", "secret", "--tenant", "acme", ep)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[2], secret) {
		t.Errorf("endpoints secret after a rotation: want the new key then the old one:\n%s", out)
	}
	wantFields(t, "endpoints show", a.ok(t, "endpoints", "show", "--tenant", "acme", mender), "profile", "mender", "events", "*")

	// Events.
	out = a.ok(t, "events", "publish", "--tenant", "acme", "--type", "device.enrolled", "--id", "console-evt-1",
		`{"device_id": "d-42"}`)
	if f := fieldsOf(out); !strings.HasPrefix(f["message"], "msg_") || f["deliveries"] != "3" {
		t.Errorf("events publish: want a message and 3 deliveries (device.*, device.enrolled, *):\n%s", out)
	}
	msg := a.okJSON(t, "events", "publish", "--tenant", "acme", "--type", "device.enrolled", "--id", "console-evt-1")
	if msg["duplicate"] != true {
		t.Errorf("events publish of a repeated id: %v", msg)
	}
	if code, out, errOut := run(t, `{"device_id": "d-43"}`, "events", "publish", "--tenant", "acme", "--type", "device.heartbeat",
		"-", "-q", "--url", a.url, "--token", clOperatorToken); code != 0 || !strings.HasPrefix(out, "msg_") {
		t.Errorf("events publish - (stdin): exit %d %q %s", code, out, errErrOrEmpty(errOut))
	}
	test := strings.TrimSpace(a.ok(t, "endpoints", "test", "--tenant", "acme", mender, "-q"))
	if !strings.HasPrefix(test, "dlv_") {
		t.Errorf("endpoints test -q: %q, want the delivery id", test)
	}
	mustContain(t, "events types", a.ok(t, "events", "types"), "NAME")

	// Deliveries: the failing endpoint's delivery dies after its one retry.
	a.waitSettled(t, "acme")
	out = a.ok(t, "deliveries", "list", "--tenant", "acme")
	mustContain(t, "deliveries list", out, "STATUS", "succeeded", "dead", "500", "device.heartbeat", "webhookd.test")
	dead := strings.TrimSpace(a.ok(t, "deliveries", "list", "--tenant", "acme", "--status", "dead", "--endpoint", failing, "-q"))
	if !strings.HasPrefix(dead, "dlv_") || strings.Contains(dead, "\n") {
		t.Fatalf("deliveries list --status dead -q: %q, want one id", dead)
	}
	out = a.ok(t, "deliveries", "show", "--tenant", "acme", dead)
	wantFields(t, "deliveries show", out, "status", "dead", "attempts", "2", "last status", "500")
	mustContain(t, "deliveries show", out, "ATTEMPT", "retry", "dead", "receiver is down")
	if d := a.okJSON(t, "deliveries", "show", "--tenant", "acme", dead); len(d["attempt_log"].([]any)) != 2 {
		t.Errorf("deliveries show --json: want 2 attempts: %v", d)
	}
	if n := len(strings.Fields(a.ok(t, "deliveries", "list", "--tenant", "acme", "--since", "1h", "--limit", "1", "-q"))); n != 1 {
		t.Errorf("deliveries list --limit 1: %d lines", n)
	}
	_, _, errOut := a.wh(t, "deliveries", "list", "--tenant", "acme", "--limit", "1")
	mustContain(t, "deliveries list --limit 1 (stderr)", errOut, "more: add --after dlv_")

	// Retry a delivery (to its own endpoint), and a message to another endpoint.
	out = a.ok(t, "deliveries", "retry", "--tenant", "acme", dead)
	wantFields(t, "deliveries retry", out, "endpoint", failing, "status", "pending", "attempts", "0")
	msgID := a.okJSON(t, "deliveries", "show", "--tenant", "acme", dead)["message_id"].(string)
	out = a.ok(t, "deliveries", "retry", "--tenant", "acme", msgID, "--endpoint", mender, "-q")
	if !strings.HasPrefix(out, "dlv_") {
		t.Errorf("deliveries retry MSG --endpoint -q: %q", out)
	}
	a.waitSettled(t, "acme")
	out = a.ok(t, "deliveries", "recover", "--tenant", "acme", failing, "--since", "1h")
	mustContain(t, "deliveries recover", out, "redelivering 1 message(s) to "+failing)

	// Revoke and delete.
	tokID := strings.TrimSpace(a.ok(t, "tokens", "list", "--tenant", "acme", "-q"))
	mustContain(t, "tokens revoke", a.ok(t, "tokens", "revoke", "--tenant", "acme", tokID), "revoked "+tokID)
	if code, _, errOut := run(t, "", "tenants", "show", "acme", "--url", a.url, "--token", tok); code != 1 ||
		!strings.Contains(errOut, "error: unauthorized: ") {
		t.Errorf("a revoked token: exit %d, %s", code, errOut)
	}
	mustContain(t, "endpoints delete", a.ok(t, "endpoints", "delete", "--tenant", "acme", mender), "deleted "+mender)
}

func errErrOrEmpty(s string) string { return strings.TrimSpace(s) }

// fieldsOf reads the name/value lines a command prints for one object (the lines before a blank line).
func fieldsOf(out string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, "  ")
		f[name] = strings.TrimSpace(value)
	}
	return f
}

// wantFields checks name/value pairs of a command's output; an empty value means the line must be absent.
func wantFields(t *testing.T, what, out string, pairs ...string) {
	t.Helper()
	f := fieldsOf(out)
	for i := 0; i+1 < len(pairs); i += 2 {
		if got := f[pairs[i]]; got != pairs[i+1] {
			t.Errorf("%s: %s is %q, want %q\n%s", what, pairs[i], got, pairs[i+1], out)
		}
	}
}

func TestClientErrors(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme")
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		// API errors: exit 1, "error: <code>: <message>".
		{[]string{"tenants", "create", "--id", "acme", "--name", "again"}, 1, "error: conflict: a tenant with this id exists\n"},
		// not_found names what was looked for.
		{[]string{"endpoints", "show", "--tenant", "acme", "ep_nope"}, 1, "error: not_found: endpoint not found (looked for endpoint ep_nope of tenant acme)\n"},
		{[]string{"endpoints", "list", "--tenant", "nope"}, 1, "error: not_found: tenant not found (looked for tenant nope)\n"},
		{[]string{"tokens", "revoke", "--tenant", "acme", "tok_nope"}, 1, "(looked for token tok_nope of tenant acme)\n"},
		{[]string{"events", "types", "no.such"}, 1, "error: not_found: event type not found (looked for event type no.such)\n"},
		{[]string{"events", "publish", "--tenant", "acme", "--type", "bad type!"}, 1, "error: validation_failed: type: "},
		{[]string{"endpoints", "create", "--tenant", "acme", "http://127.0.0.1:1/hooks"}, 1, "error: handshake_failed: OPTIONS http://127.0.0.1:1/hooks"},
		{[]string{"deliveries", "list", "--tenant", "acme", "--status", "lost"}, 1, "error: invalid_parameter: status must be"},
		// Usage errors: exit 2.
		{[]string{"endpoints"}, 2, "want a subcommand before the flags: create, list, "},
		{[]string{"endpoints", "frob"}, 2, `unknown subcommand "frob"; want one of: create, list, `},
		{[]string{"endpoints", "creat"}, 2, `unknown subcommand "creat" (did you mean "create"?)`},
		{[]string{"endpoints", "list"}, 2, "--tenant (or WEBHOOKD_TENANT) is required"},
		{[]string{"endpoints", "show", "--tenant", "acme"}, 2, "want ENDPOINT_ID, got 0 argument(s)"},
		{[]string{"endpoints", "show", "--tenant", "acme", "a", "b"}, 2, "want ENDPOINT_ID, got 2 argument(s)"},
		{[]string{"endpoints", "list", "--tenant", "acme", "--frob"}, 2, "unknown flag --frob\n"},
		{[]string{"endpoints", "list", "--tenant", "acme", "--limt", "3"}, 2, "webhookd endpoints list: unknown flag --limt (did you mean --limit?)\nRun 'webhookd endpoints list -h' for usage.\n"},
		{[]string{"endpoints", "list", "--tenant", "acme", "--limit", "x"}, 2, `invalid value "x" for flag --limit`},
		{[]string{"endpoints", "update", "--tenant", "acme", "ep_x"}, 2, "nothing to change"},
		{[]string{"endpoints", "create", "--tenant", "acme", "https://x.example", "--header", "no colon"}, 2, `--header "no colon"`},
		{[]string{"tenants", "create"}, 2, "--name is required"},
		{[]string{"events", "publish", "--tenant", "acme", "--type", "a.b", "{not json"}, 2, "DATA is not valid JSON"},
		{[]string{"deliveries", "recover", "--tenant", "acme", "ep_x"}, 2, "--since is required"},
		{[]string{"deliveries", "list", "--tenant", "acme", "--since", "yesterday"}, 2, `--since "yesterday"`},
		{[]string{"deliveries", "retry", "--tenant", "acme", "msg_x"}, 2, "--endpoint is required with a message id"},
	}
	for _, tt := range tests {
		code, out, errOut := a.wh(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("webhookd %s: exit %d, stderr %q; want exit %d and %q (stdout %q)",
				strings.Join(tt.args, " "), code, errOut, tt.code, tt.stderr, out)
		}
	}

	// A wrong token: the message says where it came from.
	if code, _, errOut := run(t, "", "tenants", "list", "--url", a.url, "--token", "wrong"); code != 1 ||
		errOut != "error: unauthorized: a valid bearer token is required (the token came from --token and was sent to "+a.url+")\n" {
		t.Errorf("wrong token: exit %d, %q", code, errOut)
	}
	t.Setenv("WEBHOOKD_TOKEN", "wrong")
	if code, _, errOut := run(t, "", "tenants", "list", "--url", a.url); code != 1 ||
		!strings.Contains(errOut, "(the token came from WEBHOOKD_TOKEN and was sent to "+a.url+")") {
		t.Errorf("wrong WEBHOOKD_TOKEN: exit %d, %q", code, errOut)
	}
	t.Setenv("WEBHOOKD_TOKEN", "")
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "", "tenants", "list", "--url", a.url, "--token-file", file); code != 1 ||
		!strings.Contains(errOut, "(the token came from --token-file "+file+" and ") {
		t.Errorf("wrong --token-file: exit %d, %q", code, errOut)
	}

	// A base URL ending in /v1 (or /v1/) is the server's address all the same; another path is not webhookd's API.
	for _, u := range []string{a.url + "/v1", a.url + "/v1/", a.url + "/"} {
		if code, _, errOut := run(t, "", "tenants", "list", "-q", "--url", u, "--token", clOperatorToken); code != 0 {
			t.Errorf("--url %s: exit %d, %q", u, code, errOut)
		}
	}
	if code, _, errOut := run(t, "", "tenants", "list", "--url", a.url+"/api", "--token", clOperatorToken); code != 1 ||
		!strings.Contains(errOut, "(is "+a.url+"/api webhookd's API?") {
		t.Errorf("--url with a wrong path: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "", "tenants", "list", "--url", "127.0.0.1:8080", "--token", "x"); code != 2 ||
		!strings.Contains(errOut, "want the server's address, e.g. http://127.0.0.1:8080") {
		t.Errorf("--url without a scheme: exit %d, %q", code, errOut)
	}

	// Nothing listening: one line that names the URL once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	if code, _, errOut := run(t, "", "tenants", "list", "--url", closed, "--token", "x"); code != 1 ||
		errOut != "error: connection refused: is webhookd serve running at "+closed+"? (set --url or WEBHOOKD_URL)\n" {
		t.Errorf("nothing listening: exit %d, %q", code, errOut)
	}
}

func TestClientTokenAndURLSources(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme")
	list := func(extra ...string) (int, string) {
		t.Helper()
		code, out, errOut := run(t, "", append([]string{"endpoints", "list", "-q"}, extra...)...)
		return code, out + errOut
	}

	// WEBHOOKD_URL, WEBHOOKD_TOKEN and WEBHOOKD_TENANT.
	t.Setenv("WEBHOOKD_URL", a.url)
	t.Setenv("WEBHOOKD_TENANT", "acme")
	t.Setenv("WEBHOOKD_TOKEN", clOperatorToken)
	if code, out := list(); code != 0 {
		t.Fatalf("from the environment: exit %d %s", code, out)
	}
	// The command line wins over the environment.
	if code, out := list("--token", "wrong"); code != 1 || !strings.Contains(out, "unauthorized") {
		t.Errorf("--token over WEBHOOKD_TOKEN: exit %d %s", code, out)
	}
	if code, out := list("--tenant", "nope"); code != 1 || !strings.Contains(out, "not_found") {
		t.Errorf("--tenant over WEBHOOKD_TENANT: exit %d %s", code, out)
	}
	t.Setenv("WEBHOOKD_TOKEN", "")

	// --token-file and WEBHOOKD_TOKEN_FILE.
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(clOperatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := list("--token-file", file); code != 0 {
		t.Errorf("--token-file: exit %d %s", code, out)
	}
	t.Setenv("WEBHOOKD_TOKEN_FILE", file)
	if code, out := list(); code != 0 {
		t.Errorf("WEBHOOKD_TOKEN_FILE: exit %d %s", code, out)
	}
	if code, out := list("--token-file", filepath.Join(dir, "missing")); code != 2 || !strings.Contains(out, "token file") {
		t.Errorf("a missing --token-file: exit %d %s", code, out)
	}
	t.Setenv("WEBHOOKD_TOKEN_FILE", "")

	// No token anywhere: a usage error that says where tokens come from.
	t.Chdir(dir)
	if code, out := list(); code != 2 || !strings.Contains(out, "no token") {
		t.Errorf("no token: exit %d %s", code, out)
	}
	// WEBHOOKD_OPERATOR_TOKEN, as webhookd serve reads it.
	t.Setenv("WEBHOOKD_OPERATOR_TOKEN", clOperatorToken)
	if code, out := list(); code != 0 {
		t.Errorf("WEBHOOKD_OPERATOR_TOKEN: exit %d %s", code, out)
	}
	t.Setenv("WEBHOOKD_OPERATOR_TOKEN", "")
	// data/operator-token in the working directory, where make run's webhookd serve creates it.
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "operator-token"), []byte(clOperatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := list(); code != 0 {
		t.Errorf("data/operator-token: exit %d %s", code, out)
	}
	// WEBHOOKD_DATA moves it, as it moves serve's data directory (the container image sets it to /data).
	other := t.TempDir()
	t.Setenv("WEBHOOKD_DATA", other)
	if code, out := list(); code != 2 || !strings.Contains(out, "run where "+filepath.Join(other, "operator-token")+" is") {
		t.Errorf("WEBHOOKD_DATA without a token file: exit %d %s", code, out)
	}
	if err := os.WriteFile(filepath.Join(other, "operator-token"), []byte(clOperatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := list(); code != 0 {
		t.Errorf("$WEBHOOKD_DATA/operator-token: exit %d %s", code, out)
	}
}

// TestClientHelp: help that was asked for is printed once, on stdout, and exits 0; nothing goes to stderr.
func TestClientHelp(t *testing.T) {
	for _, noun := range []string{"tenants", "tokens", "events", "endpoints", "deliveries"} {
		code, out, errOut := run(t, "", noun, "-h")
		if code != 0 || errOut != "" || strings.Count(out, "usage: webhookd "+noun+" <subcommand>") != 1 {
			t.Errorf("%s -h: exit %d, stderr %q\n%s", noun, code, errOut, out)
		}
	}
	for _, h := range []string{"-h", "--help", "-help"} {
		code, out, errOut := run(t, "", "endpoints", "create", h)
		if code != 0 || errOut != "" || strings.Count(out, "usage: webhookd endpoints create") != 1 {
			t.Errorf("endpoints create %s: exit %d, stderr %q, usage printed %d times", h, code, errOut,
				strings.Count(out, "usage: webhookd endpoints create"))
		}
	}
	code, errOut, _ := run(t, "", "endpoints", "create", "-h")
	if code != 0 {
		t.Errorf("endpoints create -h: exit %d", code)
	}
	mustContain(t, "endpoints create -h", errOut, "usage: webhookd endpoints create [flags] URL", "--url",
		"env WEBHOOKD_URL", "env WEBHOOKD_TOKEN", "env WEBHOOKD_TENANT", "--events", "--header", "-q", "OPTIONS")
	if strings.Contains(errOut, "WEBHOOKD_EVENTS") {
		t.Error("endpoints create -h: only the connection flags come from the environment")
	}
	// webhookd alone is a mistake: the list of commands, on stderr, exit 2; webhookd -h is the same list on stdout.
	code, _, errOut = run(t, "")
	if code != 2 {
		t.Errorf("webhookd alone: exit %d", code)
	}
	for _, noun := range []string{"tenants", "tokens", "events", "endpoints", "deliveries", "healthcheck"} {
		mustContain(t, "webhookd (usage)", errOut, "  "+noun+" ")
	}
	if code, out, errOut := run(t, "", "-h"); code != 0 || errOut != "" || !strings.Contains(out, "  endpoints ") {
		t.Errorf("webhookd -h: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	if code, out, errOut := run(t, "", "endpont"); code != 2 || out != "" ||
		errOut != "webhookd: unknown command \"endpont\" (did you mean \"endpoints\"?)\nRun 'webhookd -h' for the commands.\n" {
		t.Errorf("webhookd endpont: exit %d, stderr %q", code, errOut)
	}
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args      []string
		pos       []string
		tenant, q string
	}{
		{[]string{"a", "--tenant", "t", "b"}, []string{"a", "b"}, "t", "false"},
		{[]string{"--tenant=t", "a", "-q"}, []string{"a"}, "t", "true"},
		{[]string{"a", "--", "--tenant", "-q"}, []string{"a", "--tenant", "-q"}, "", "false"},
		{[]string{"-", "-q"}, []string{"-"}, "", "true"},
		{nil, nil, "", "false"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		tenant := fs.String("tenant", "", "")
		q := fs.Bool("q", false, "")
		pos, err := parseInterleaved(fs, tt.args)
		if err != nil || !slices.Equal(pos, tt.pos) || *tenant != tt.tenant || (map[bool]string{true: "true", false: "false"})[*q] != tt.q {
			t.Errorf("%q: pos %q tenant %q q %v err %v", tt.args, pos, *tenant, *q, err)
		}
	}
}

// deliveries unblock: a dead delivery of a block endpoint shows blocked and holds its key; --skip lets the next go.
func TestClientUnblock(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme Devices")
	ep := strings.TrimSpace(a.ok(t, "endpoints", "create", "--tenant", "acme", a.rcv.URL+"/fail", "--retries", "0",
		"--ordering-on-failure", "block", "-q"))
	for range 2 {
		a.ok(t, "events", "publish", "--tenant", "acme", "--type", "app.ping", "--ordering-key", "dev-1")
	}
	deadIDs := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			ids := strings.Fields(a.ok(t, "deliveries", "list", "--tenant", "acme", "--endpoint", ep, "--status", "dead", "-q"))
			if len(ids) >= n {
				return ids
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d dead deliveries after 15s, want %d", len(ids), n)
			}
			time.Sleep(10 * time.Millisecond) // the engine's work: a poll with a deadline
		}
	}
	dead := deadIDs(1)[0]
	out := a.ok(t, "deliveries", "show", "--tenant", "acme", dead)
	wantFields(t, "deliveries show (blocked)", out, "status", "dead",
		"blocked", "yes: the deliveries of its ordering key wait on it (webhookd deliveries unblock "+dead+" --retry or --skip)")
	all := strings.Fields(a.ok(t, "deliveries", "list", "--tenant", "acme", "--endpoint", ep, "-q"))
	var next string
	for _, id := range all {
		if id != dead {
			next = id
		}
	}
	wantFields(t, "deliveries show (waiting)", a.ok(t, "deliveries", "show", "--tenant", "acme", next),
		"status", "pending", "waiting on", dead)
	if code, _, errOut := a.wh(t, "deliveries", "unblock", "--tenant", "acme", dead); code != 2 || !strings.Contains(errOut, "--retry and --skip") {
		t.Errorf("deliveries unblock without an action: exit %d, %s", code, errOut)
	}
	out = a.ok(t, "deliveries", "unblock", "--tenant", "acme", dead, "--skip")
	wantFields(t, "deliveries unblock --skip", out, "status", "dead", "blocked", "")
	if got := deadIDs(2); len(got) != 2 {
		t.Fatalf("after the skip: dead %v", got)
	}
	if code, _, errOut := a.wh(t, "deliveries", "unblock", "--tenant", "acme", dead, "--retry"); code != 1 || !strings.Contains(errOut, "not_blocked") {
		t.Errorf("deliveries unblock of a released delivery: exit %d, %s", code, errOut)
	}
}
