package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/secrets"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

// TestGatewayLogsNoSecrets runs a whole gateway in process, with JSON logs at debug level and an operator key, through
// tenant, token, endpoints with known secrets, publish, delivery, rotation, reveal, a 410 and a manual disable, and
// checks that no secret, token, operator key or signature reaches any log line, that the endpoint.disabled event
// reaches the endpoint subscribed to endpoint.*, and what the probes and metrics say.
func TestGatewayLogsNoSecrets(t *testing.T) {
	opKey, err := secrets.GenerateKey("ops1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.ParseKeyring(opKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const opToken = "operator-token-for-the-log-test-0123456789"
	logs := &lockedBuffer{}
	g := startGateway(t, Config{
		Listen: "127.0.0.1:0", Data: dir, OperatorToken: opToken, Keyring: kr,
		Egress: egress.Policy{AllowPrivate: true, AllowHTTP: true},
		Delivery: delivery.Config{
			Retry: delivery.Retry{Initial: 50 * time.Millisecond, Cap: 200 * time.Millisecond}, ShutdownTimeout: 5 * time.Second,
		},
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})

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

// TestPprofListener checks that Config.PprofListen serves the runtime profiles on its own address, and that the API
// listener never does.
func TestPprofListener(t *testing.T) {
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
		"/debug/pprof/block?debug=1": "gateway.TestPprofListener",
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

// TestNewRefusesSealedWithoutKey: a store with sealed secrets does not start without its key (ErrNoKeyring), nor
// with another key; with its key it starts.
func TestNewRefusesSealedWithoutKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme"})
	kr1 := keyringOf(t, "k1")
	now := time.Now().UTC()
	ep := &endpoints.Endpoint{ID: "ep_a", TenantID: "acme", URL: "https://example.com/hook", Events: []string{"*"},
		Profile: "standard", Algorithm: "hmac", Keys: []endpoints.Key{{Secret: newSecret(t), CreatedAt: now}},
		Timeout: time.Second, CreatedAt: now, UpdatedAt: now}
	if err := secrets.NewEndpoints(st, kr1).CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := Config{Data: dir, OperatorToken: "operator-token-0123456789abcdef", Logger: slog.New(slog.DiscardHandler)}
	for _, kr := range []*secrets.Keyring{nil, keyringOf(t, "k2")} {
		cfg.Keyring = kr
		g, err := New(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "k1") || (kr == nil) != errors.Is(err, ErrNoKeyring) {
			if g != nil {
				g.Close()
			}
			t.Fatalf("keyring %v: New: %v", kr != nil, err)
		}
	}
	cfg.Keyring = kr1
	g, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("with its key: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
}

func keyringOf(t *testing.T, id string) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.ParseKeyring(mustKey(t, id))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
