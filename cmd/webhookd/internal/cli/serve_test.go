package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/secrets"
	"github.com/webhookd/webhookd/signing"
)

// testServeConfig returns serve's configuration with its defaults and args applied.
func testServeConfig(t *testing.T, args ...string) serveConfig {
	t.Helper()
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg.set = setFlags(fs)
	return cfg
}

// TestServe runs serve with its flags mapped onto the gateway: it listens where --listen says, answers with the
// operator token of --operator-token, and returns nil once its context ends.
func TestServe(t *testing.T) {
	t.Setenv(envSecretKey, "")
	t.Setenv(envSecretKeys, "")
	cfg := testServeConfig(t, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--operator-token",
		"operator-token-0123456789abcdef", "--metrics=false", "--retention", "0", "--retries", "0")
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serve(ctx, cfg, discardLogger(), func(addr string) { addrc <- addr }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not listen within 20s")
	}
	for path, want := range map[string]int{"/v1/tenants": 200, "/metrics": 404} {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+cfg.OperatorToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestGatewayConfigNone: the flags whose 0 means "none" reach the gateway as negative, which it reads as none.
func TestGatewayConfigNone(t *testing.T) {
	t.Setenv(envSecretKey, "")
	t.Setenv(envSecretKeys, "")
	g, err := gatewayConfig(testServeConfig(t, "--retention", "0", "--retries", "0", "--retry-jitter", "0", "--metrics=false"), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if g.Retention >= 0 || g.Delivery.Retry.Count >= 0 || g.Delivery.Retry.Jitter >= 0 || !g.DisableMetrics {
		t.Fatalf("%+v", g)
	}
	g, err = gatewayConfig(testServeConfig(t), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if g.Retention <= 0 || g.Delivery.Retry.Count <= 0 || g.DisableMetrics || g.Keyring != nil {
		t.Fatalf("defaults %+v", g)
	}
}

// TestServeHelpListsEveryFlag checks that serve --help shows every flag with its WEBHOOKD_* variable and default, and
// the environment-only operator key variables.
func TestServeHelpListsEveryFlag(t *testing.T) {
	// Help that was asked for goes to stdout (serve --help | grep works), once.
	code, help, stderr := run(t, "", "serve", "--help")
	if code != 0 || stderr != "" || strings.Count(help, "usage: webhookd serve") != 1 {
		t.Fatalf("serve --help: exit %d, stderr %q, stdout %q", code, stderr, help)
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
		if !strings.Contains(help, want) {
			t.Errorf("help lacks --%s as %q", f.Name, want)
		}
	})
	if n < 25 {
		t.Fatalf("serve has %d flags?", n)
	}
	for _, env := range []string{envSecretKey, envSecretKeys} {
		if !strings.Contains(help, env) {
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

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newSecret(t *testing.T) string {
	t.Helper()
	s, _, err := profiles.Standard.GenerateKey(signing.HMAC)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustKey(t *testing.T, id string) string {
	t.Helper()
	k, err := secrets.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seedEndpoint returns a valid standard endpoint with one key, for seeding a store directly.
func seedEndpoint(t *testing.T, tenant, id, secret string) *endpoints.Endpoint {
	t.Helper()
	now := time.Now().UTC()
	return &endpoints.Endpoint{ID: id, TenantID: tenant, URL: "https://example.com/hook", Events: []string{"*"},
		Profile: "standard", Algorithm: "hmac", Keys: []endpoints.Key{{Secret: secret, CreatedAt: now}},
		Timeout: time.Second, CreatedAt: now, UpdatedAt: now}
}

func TestAdaptProcs(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMAXPROCS" {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name  string
		cfg   serveConfig
		env   string
		adapt bool
	}{
		{"redis", serveConfig{AdaptiveProcs: true, Store: "redis://127.0.0.1:6379/0"}, "", true},
		{"embedded store", serveConfig{AdaptiveProcs: true}, "", true},
		{"flag off", serveConfig{Store: "redis://127.0.0.1:6379/0"}, "", false},
		{"flag off, embedded", serveConfig{}, "", false},
		{"GOMAXPROCS set", serveConfig{AdaptiveProcs: true, Store: "redis://127.0.0.1:6379/0"}, "4", false},
		{"GOMAXPROCS set, embedded", serveConfig{AdaptiveProcs: true}, "1", false},
	} {
		if got := adaptProcs(tc.cfg, env(tc.env)); got != tc.adapt {
			t.Errorf("%s: adaptProcs = %v, want %v", tc.name, got, tc.adapt)
		}
	}
}
