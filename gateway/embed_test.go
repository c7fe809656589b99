package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestEmbedHandler: with no listener the gateway serves nothing itself; the caller mounts Handler on its own server,
// and Run runs the background work: /readyz reports the engine not ready before Run and ready while it runs. Run
// returns nil when its context ends, and a second Run is refused.
func TestEmbedHandler(t *testing.T) {
	g, err := New(context.Background(), Config{Data: t.TempDir(), OperatorToken: "operator-token-0123456789abcdef",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Addr() != "" {
		t.Fatalf("Addr %q without a listener", g.Addr())
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	ready := func() (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz before Run: %d %v", code, m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, m := ready()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz while running: %d %v", code, m)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not waiting for time to pass
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := g.Run(context.Background()); err != ErrRunning {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
}

// TestEmbedListener: a Listener in Config is where the API is served; Addr is its address.
func TestEmbedListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, Config{Listener: ln, Listen: "127.0.0.1:1", Data: t.TempDir(),
		OperatorToken: "operator-token-0123456789abcdef", Logger: slog.New(slog.DiscardHandler)})
	if g.base != "http://"+ln.Addr().String() {
		t.Fatalf("served at %s, want the listener's %s", g.base, ln.Addr())
	}
	g.call(200, "GET", "/healthz", "", nil)
	g.call(201, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
}

// TestNewRefusesNegative: a negative size or duration is refused before anything is opened.
func TestNewRefusesNegative(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{{HandshakeTimeout: -1}, {RotationGrace: -1}, {MaxEventBytes: -1}} {
		cfg.Data, cfg.OperatorToken = dir, "operator-token-0123456789abcdef"
		if g, err := New(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			if g != nil {
				g.Close()
			}
			t.Errorf("%+v: %v, want ErrConfig", cfg, err)
		}
	}
}
