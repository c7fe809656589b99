package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/console"
)

// TestConsoleMounted: the console is served beside the API, branded from Config, and a session's URL points at it.
func TestConsoleMounted(t *testing.T) {
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Data: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Console: console.Config{Title: "Acme EMM", FrameAncestors: "https://emm.example.com"}})
	resp, err := http.Get(g.base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasSuffix(resp.Header.Get("Content-Security-Policy"), "frame-ancestors https://emm.example.com") {
		t.Errorf("/console/: %d %v", resp.StatusCode, resp.Header)
	}
	g.call(201, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	s := g.call(201, "POST", "/v1/tenants/acme/portal-sessions", g.token, nil)
	if url := s["url"].(string); !strings.HasPrefix(url, g.base+"/console/#tenant=acme&token=whp_") {
		t.Errorf("session URL %s", url)
	}
	g.call(404, "GET", "/consolex", g.token, nil) // the API's 404, not the console's
}

func TestConsoleDisabledAndRefused(t *testing.T) {
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Data: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		DisableConsole: true, ConsoleURL: "https://hooks.example.com/console/"})
	if m := g.call(404, "GET", "/console/", "", nil); m["code"] != "not_found" {
		t.Errorf("disabled console answers %v", m)
	}
	g.call(201, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	if url := g.call(201, "POST", "/v1/tenants/acme/portal-sessions", g.token, nil)["url"].(string); !strings.HasPrefix(url, "https://hooks.example.com/console/#") {
		t.Errorf("session URL %s", url)
	}

	_, err := New(context.Background(), Config{Data: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Console: console.Config{FrameAncestors: "*"}})
	if !errors.Is(err, ErrConfig) || !errors.Is(err, console.ErrConfig) {
		t.Errorf("New with a bad frame-ancestors: %v", err)
	}
}
