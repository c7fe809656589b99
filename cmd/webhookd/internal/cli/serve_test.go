package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/secrets"
	"github.com/webhookd/webhookd/signing"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/verifier"
)

// lockedBuffer is a log sink shared by the gateway's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testServeConfig returns serve's configuration with its defaults and args applied.
func testServeConfig(t *testing.T, args ...string) serveConfig {
	t.Helper()
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// gatewayT is one in-process gateway.
type gatewayT struct {
	t     *testing.T
	base  string
	token string
	done  chan error
	stop  context.CancelFunc
}

// startServe runs serve until the test ends (or g.shutdown) and returns once it listens.
func startServe(t *testing.T, cfg serveConfig, logs io.Writer) *gatewayT {
	t.Helper()
	logger, err := newLogger(logs, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gatewayT{t: t, token: cfg.OperatorToken, done: make(chan error, 1), stop: cancel}
	addrc := make(chan string, 1)
	go func() { g.done <- serve(ctx, cfg, logger, func(addr string) { addrc <- addr }) }()
	select {
	case addr := <-addrc:
		g.base = "http://" + addr
	case err := <-g.done:
		cancel()
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("serve did not listen within 20s")
	}
	t.Cleanup(g.shutdown)
	return g
}

// shutdown cancels serve and waits for it to return nil.
func (g *gatewayT) shutdown() {
	if g.stop == nil {
		return
	}
	g.stop()
	g.stop = nil
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Errorf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		g.t.Error("serve did not return within 20s of cancel")
	}
}

// call sends a request with the bearer token (none when ""), requires status want, and decodes a JSON answer.
func (g *gatewayT) call(want int, method, path, token string, body any) map[string]any {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			g.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.base+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		g.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, out)
	}
	m := map[string]any{}
	if json.Valid(out) {
		json.Unmarshal(out, &m)
	}
	if len(out) > 0 && !json.Valid(out) {
		m["text"] = string(out)
	}
	return m
}

// hook is a verifying receiver: every verified POST is sent on got; the signature headers it saw are kept.
type hook struct {
	*httptest.Server
	got    chan map[string]any
	status atomic.Int32
	mu     sync.Mutex
	sigs   []string
}

func newHook(t *testing.T, keys ...string) *hook {
	t.Helper()
	v, err := verifier.New(verifier.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	h := &hook{got: make(chan map[string]any, 16)}
	h.status.Store(http.StatusNoContent)
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sig := r.Header.Get("webhook-signature"); sig != "" {
				h.mu.Lock()
				h.sigs = append(h.sigs, strings.Fields(sig)...)
				h.mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}
	h.Server = httptest.NewServer(record(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		res, _ := verifier.ResultFrom(r.Context())
		body["_verified_with_key"] = res.KeyIndex
		// The status is read before the test hears of this request, so that a status it sets after next returns
		// applies to the following requests only, never to this one.
		status := int(h.status.Load())
		h.got <- body
		w.WriteHeader(status)
	}))))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) signatures() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.sigs...)
}

// next waits for the hook's next verified message.
func (h *hook) next(t *testing.T, what string) map[string]any {
	t.Helper()
	select {
	case m := <-h.got:
		return m
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s within 15s", what)
		return nil
	}
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, _, err := profiles.Standard.GenerateKey(signing.HMAC)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGatewayLogsNoSecrets runs a whole gateway in process, with JSON logs at debug level and an operator key, through
// tenant, token, endpoints with known secrets, publish, delivery, rotation, reveal, a 410 and a manual disable, and
// checks that no secret, token, operator key or signature reaches any log line, that the endpoint.disabled event
// reaches the endpoint subscribed to endpoint.*, and what the probes and metrics say.
func TestGatewayLogsNoSecrets(t *testing.T) {
	opKey, err := secrets.GenerateKey("ops1")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envSecretKey, opKey)
	t.Setenv(envSecretKeys, "")
	dir := t.TempDir()
	const opToken = "operator-token-for-the-log-test-0123456789"
	cfg := testServeConfig(t, "--listen", "127.0.0.1:0", "--data", dir, "--operator-token", opToken,
		"--allow-private-endpoints", "--allow-http-endpoints", "--retry-initial", "50ms", "--retry-cap", "200ms",
		"--log-format", "json", "--log-level", "debug", "--shutdown-timeout", "5s")
	logs := &lockedBuffer{}
	g := startServe(t, cfg, logs)

	secret1, secret2, secret3 := newSecret(t), newSecret(t), newSecret(t)
	devices := newHook(t, secret1, secret2) // knows the rotated-in key too
	watcher := newHook(t, secret3)

	g.call(201, "POST", "/v1/tenants", opToken, map[string]any{"id": "acme", "name": "Acme"})
	tenantToken := g.call(201, "POST", "/v1/tenants/acme/tokens", opToken, map[string]any{"name": "ci"})["token"].(string)
	epDevices := g.call(201, "POST", "/v1/tenants/acme/endpoints", tenantToken, map[string]any{
		"url": devices.URL, "events": []string{"device.*"}, "secret": secret1,
	})["id"].(string)
	epWatcher := g.call(201, "POST", "/v1/tenants/acme/endpoints", tenantToken, map[string]any{
		"url": watcher.URL, "events": []string{"endpoint.*"}, "secret": secret3,
	})["id"].(string)

	// Publish and deliver, signed with secret1.
	g.call(202, "POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": "device.enrolled", "data": map[string]any{"device": "d1"}})
	if m := devices.next(t, "device.enrolled delivery"); m["type"] != "device.enrolled" || m["_verified_with_key"] != 0 {
		t.Fatalf("delivered %v", m)
	}

	// Rotate to secret2; both sign during the grace period, and reveal shows both.
	g.call(200, "POST", "/v1/tenants/acme/endpoints/"+epDevices+"/rotate", tenantToken, map[string]any{"secret": secret2, "grace": "1h"})
	keys := g.call(200, "GET", "/v1/tenants/acme/endpoints/"+epDevices+"/secret", tenantToken, nil)["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["secret"] != secret2 || keys[1].(map[string]any)["secret"] != secret1 {
		t.Fatalf("revealed keys %v", keys)
	}
	g.call(202, "POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": "device.updated"})
	if m := devices.next(t, "device.updated delivery"); m["type"] != "device.updated" {
		t.Fatalf("delivered %v", m)
	}

	// The receiver answers 410: the endpoint is disabled, and endpoint.disabled reaches the watcher.
	devices.status.Store(http.StatusGone)
	g.call(202, "POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": "device.removed"})
	devices.next(t, "device.removed delivery")
	note := watcher.next(t, "endpoint.disabled event")
	data, _ := note["data"].(map[string]any)
	if note["type"] != "endpoint.disabled" || data["endpoint_id"] != epDevices || data["reason"] != "gone" {
		t.Fatalf("watcher got %v", note)
	}
	ep := g.call(200, "GET", "/v1/tenants/acme/endpoints/"+epDevices, tenantToken, nil)
	if ep["disabled"] != true || ep["disabled_reason"] != "gone" {
		t.Fatalf("endpoint after 410: %v", ep)
	}
	g.call(200, "POST", "/v1/tenants/acme/endpoints/"+epWatcher+"/disable", tenantToken, nil)

	// Probes and metrics, without a token.
	if r := g.call(200, "GET", "/readyz", "", nil); r["status"] != "ready" {
		t.Fatalf("readyz %v", r)
	}
	g.call(200, "GET", "/healthz", "", nil)
	// A receiver sees a message before the engine records the answer: wait for the metrics to show every attempt.
	wantMetrics := []string{
		`webhookd_delivery_attempts_total{outcome="success",profile="standard"} 3`, // 2 devices + 1 watcher
		`webhookd_delivery_attempts_total{outcome="gone",profile="standard"} 1`,
		`webhookd_delivery_attempt_duration_seconds_count{profile="standard"} 4`,
		`webhookd_endpoint_disables_total{reason="gone"} 1`,
		`webhookd_events_ingested_total{tenant="acme"} 3`,
		`webhookd_http_requests_total{code="202",method="POST",route="/v1/tenants/{tenant}/events"} 3`,
		`webhookd_queue_deliveries{state="due"} 0`,
		`webhookd_queue_deliveries{state="in_flight"} 0`,
		`webhookd_queue_deliveries{state="scheduled"} 0`,
		`webhookd_queue_lag_seconds 0`,
		`webhookd_delivery_in_flight 0`,
	}
	var metricsText string
	for deadline := time.Now().Add(10 * time.Second); ; {
		metricsText = g.call(200, "GET", "/metrics", "", nil)["text"].(string)
		missing := 0
		for _, want := range wantMetrics {
			if !strings.Contains(metricsText, want+"\n") {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, want := range wantMetrics {
				if !strings.Contains(metricsText, want+"\n") {
					t.Errorf("metrics lack %q", want)
				}
			}
			t.Fatalf("metrics:\n%s", metricsText)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not waiting for time to pass
	}
	g.shutdown()

	// Every line is JSON; none holds a secret, a token, the operator key or a signature.
	forbidden := map[string]string{"operator token": opToken, "tenant token": tenantToken}
	for name, s := range map[string]string{"secret1": secret1, "secret2": secret2, "secret3": secret3} {
		forbidden[name] = s
		b64 := strings.TrimPrefix(s, "whsec_")
		forbidden[name+" base64"] = b64
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		forbidden[name+" raw bytes"] = string(raw)
		forbidden[name+" base64url"] = base64.RawURLEncoding.EncodeToString(raw)
	}
	_, opKeyB64, _ := strings.Cut(opKey, ":")
	forbidden["operator key"] = opKeyB64
	opKeyRaw, _ := base64.StdEncoding.DecodeString(opKeyB64)
	forbidden["operator key base64url"] = base64.RawURLEncoding.EncodeToString(opKeyRaw)
	sigs := append(devices.signatures(), watcher.signatures()...)
	// devices: 1 before the rotation, 2 each for the two messages after it (both keys sign); watcher: 1.
	if len(sigs) != 6 {
		t.Fatalf("receivers saw %d signatures, want 6: %q", len(sigs), sigs)
	}
	for i, sig := range sigs {
		forbidden[fmt.Sprintf("signature %d", i)] = sig
		_, b64, _ := strings.Cut(sig, ",")
		forbidden[fmt.Sprintf("signature %d base64", i)] = b64
	}

	attemptLines, requestLines := 0, 0
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %d is not JSON: %s", n, line)
			continue
		}
		for name, s := range forbidden {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("log line %d holds the %s: %s", n, name, line)
			}
		}
		switch rec["msg"] {
		case "delivery attempt":
			attemptLines++
			for _, f := range []string{"tenant", "endpoint_id", "msg_id", "delivery_id", "attempt", "status", "latency_ms", "outcome"} {
				if _, ok := rec[f]; !ok {
					t.Errorf("attempt line %d lacks %s: %s", n, f, line)
				}
			}
		case "http request":
			requestLines++
			if id, _ := rec["request_id"].(string); id == "" {
				t.Errorf("request line %d has no request id: %s", n, line)
			}
		}
	}
	if attemptLines != 4 {
		t.Errorf("%d delivery attempt lines, want 4 (one per attempt)", attemptLines)
	}
	if requestLines < 12 {
		t.Errorf("%d http request lines, want one per API call", requestLines)
	}

	// At rest, the database file holds none of the secrets either.
	db, err := os.ReadFile(filepath.Join(dir, boltstore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"secret1", "secret2", "secret3"} {
		if bytes.Contains(db, []byte(forbidden[name+" base64"])) {
			t.Errorf("the database file holds %s", name)
		}
	}
}

// TestServeHelpListsEveryFlag checks that serve --help shows every flag with its WEBHOOKD_* variable and default, and
// the environment-only operator key variables.
func TestServeHelpListsEveryFlag(t *testing.T) {
	code, out, errOut := run(t, "", "serve", "--help")
	if code != 0 || out != "" {
		t.Fatalf("serve --help: exit %d, stdout %q", code, out)
	}
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.flags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		want := fmt.Sprintf("  --%s\n        %s (default %s; env %s)\n", f.Name, f.Usage, def, envName(f.Name))
		if !strings.Contains(errOut, want) {
			t.Errorf("help lacks --%s as %q", f.Name, want)
		}
	})
	if n < 25 {
		t.Fatalf("serve has %d flags?", n)
	}
	for _, env := range []string{envSecretKey, envSecretKeys} {
		if !strings.Contains(errOut, env) {
			t.Errorf("help does not mention %s", env)
		}
	}
}

// TestServeFlagsFromEnv checks that every serve flag is read from its variable.
func TestServeFlagsFromEnv(t *testing.T) {
	var cfg serveConfig
	fs := newFlagSet("serve", "", io.Discard)
	cfg.flags(fs)
	t.Setenv("WEBHOOKD_METRICS_TENANT_LABELS", "7")
	t.Setenv("WEBHOOKD_CONFIG", "/etc/webhookd.json")
	t.Setenv("WEBHOOKD_METRICS", "false")
	t.Setenv("WEBHOOKD_WORKERS", "3")
	if err := parseWithEnv(fs, []string{"--workers", "5"}); err != nil {
		t.Fatal(err)
	}
	if cfg.TenantLabels != 7 || cfg.ConfigFile != "/etc/webhookd.json" || cfg.Metrics || cfg.Workers != 5 {
		t.Fatalf("%+v", cfg)
	}
}

// TestOperationsDocListsEveryFlag keeps the flag table of docs/operations.md in step with serve's flags.
func TestOperationsDocListsEveryFlag(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if row := fmt.Sprintf("| `--%s` | `%s` |", f.Name, envName(f.Name)); !strings.Contains(doc, row) {
			t.Errorf("docs/operations.md has no row %q", row)
		}
	})
	for _, env := range []string{envSecretKey, envSecretKeys} {
		if !strings.Contains(doc, "| `"+env+"` |") {
			t.Errorf("docs/operations.md has no row for %s", env)
		}
	}
}

// TestPprofListener checks that --pprof-listen serves the runtime profiles on its own address, and that the API
// listener never does.
func TestPprofListener(t *testing.T) {
	if cfg := testServeConfig(t); cfg.PprofListen != "" {
		t.Fatalf("--pprof-listen defaults to %q, want off", cfg.PprofListen)
	}
	addr, stop, err := servePprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	// The blocking and mutex profiles sample while the listener is on: a goroutine blocked on a channel for longer
	// than the sampling rate shows in the blocking profile.
	ch := make(chan struct{})
	go func() { time.Sleep(5 * time.Millisecond); close(ch) }()
	<-ch
	for path, want := range map[string]string{
		"/debug/pprof/block?debug=1": "cli.TestPprofListener",
		"/debug/pprof/mutex?debug=1": fmt.Sprintf("sampling period=%d", mutexProfileFraction),
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, no %q in:\n%.600s", path, resp.StatusCode, want, b)
		}
	}
	if _, _, err := servePprof(addr); err == nil {
		t.Error("a second listener on the same address did not fail")
	}
}
