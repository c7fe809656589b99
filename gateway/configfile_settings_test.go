package gateway

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// TestConfigFileSettings: the file's operator settings fill what Config leaves zero; what Config sets wins; bad
// values fail the start.
func TestConfigFileSettings(t *testing.T) {
	write := func(doc string) string {
		p := filepath.Join(t.TempDir(), "webhookd.json")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	doc := `{"operator_tenant": "ops", "allow_tenant_deletion": true,
		"recheck": {"every": "0s", "per_host": "2s", "disable_after": 5},
		"retry_limits": {"max_retries": 4, "min_initial": "1s", "max_cap": "1h"}, "tenants": []}`
	open := func(cfg Config) *Gateway {
		t.Helper()
		cfg.Data, cfg.Listen, cfg.OperatorToken = t.TempDir(), "127.0.0.1:0", "operator-token-0123456789"
		cfg.Logger = slog.New(slog.DiscardHandler)
		g, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}

	g := open(Config{ConfigFile: write(doc)})
	want := endpoints.RecheckConfig{Every: -1, PerHost: 2 * time.Second, DisableAfter: 5}
	if r := g.cfg.Recheck; g.cfg.OperatorTenant != "ops" || r.Every != want.Every || r.PerHost != want.PerHost ||
		r.DisableAfter != want.DisableAfter {
		t.Errorf("from the file: operator tenant %q, recheck %+v", g.cfg.OperatorTenant, r)
	}
	if l := g.cfg.RetryLimits; l != (endpoints.RetryLimits{MaxRetries: 4, MinInitial: time.Second, MaxCap: time.Hour}) {
		t.Errorf("retry limits from the file: %+v", l)
	}
	if _, err := g.tenants.Delete(context.Background(), "nobody"); err == nil || strings.Contains(err.Error(), "disabled") {
		t.Errorf("deletion is not allowed by the file: %v", err)
	}

	g = open(Config{ConfigFile: write(doc), OperatorTenant: "root", Recheck: endpoints.RecheckConfig{Every: time.Hour},
		RetryLimits: endpoints.RetryLimits{MaxRetries: 2}})
	if g.cfg.OperatorTenant != "root" || g.cfg.Recheck.Every != time.Hour || g.cfg.Recheck.DisableAfter != 5 ||
		g.cfg.RetryLimits.MaxRetries != 2 || g.cfg.RetryLimits.MaxCap != time.Hour {
		t.Errorf("Config should win where set: %+v %+v %q", g.cfg.Recheck, g.cfg.RetryLimits, g.cfg.OperatorTenant)
	}

	for _, bad := range []string{
		`{"operator_tenant": "no spaces"}`,
		`{"recheck": {"every": "-1s"}}`,
		`{"recheck": {"disable_after": -1}}`,
		`{"retry_limits": {"min_initial": "2h", "max_cap": "1h"}}`,
		`{"retry_limits": {"max_retries": -1}}`,
	} {
		_, err := New(context.Background(), Config{Data: t.TempDir(), Listen: "127.0.0.1:0", ConfigFile: write(bad),
			OperatorToken: "operator-token-0123456789", Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
