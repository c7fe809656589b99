package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/secrets"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

var testPolicy = egress.Policy{AllowHTTP: true, AllowPrivate: true}

// handshakeOK is a receiver that passes the OPTIONS handshake.
func handshakeOK(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// configEnv is a store and the services applyConfig works with.
type configEnv struct {
	t     *testing.T
	store *boltstore.Store
	ts    *tenants.Service
	es    *endpoints.Service
	env   map[string]string
}

func newConfigEnv(t *testing.T) *configEnv {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.ParseKeyring(mustKey(t, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	eps := secrets.NewEndpoints(st, kr)
	return &configEnv{
		t: t, store: st,
		ts:  tenants.NewService(st, tenants.ServiceConfig{}),
		es:  endpoints.NewService(eps, endpoints.Config{Policy: testPolicy}),
		env: map[string]string{},
	}
}

func mustKey(t *testing.T, id string) string {
	t.Helper()
	k, err := secrets.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (c *configEnv) getenv(name string) (string, bool) { v, ok := c.env[name]; return v, ok }

// write writes v as the config file and returns its path.
func (c *configEnv) write(v any) string {
	c.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.MarshalIndent(v, "", "  "); err != nil {
			c.t.Fatal(err)
		}
	}
	path := filepath.Join(c.t.TempDir(), "webhookd.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// apply loads and applies the file at path.
func (c *configEnv) apply(path string) (applyResult, error) {
	fc, err := loadConfigFile(path, testPolicy, c.getenv)
	if err != nil {
		return applyResult{}, err
	}
	return applyConfig(context.Background(), fc, c.ts, c.es, slog.New(slog.NewTextHandler(c.t.Output(), nil)))
}

// endpoints returns the tenant's endpoints, as stored (secrets opened).
func (c *configEnv) endpoints(tenant string) []*endpoints.Endpoint {
	c.t.Helper()
	es, _, err := c.es.List(context.Background(), tenant, "", 100)
	if err != nil {
		c.t.Fatal(err)
	}
	return es
}

func doc(url string, mod ...func(ep map[string]any)) map[string]any {
	ep := map[string]any{
		"id": "billing", "url": url, "events": []string{"invoice.*"}, "secret_env": "ACME_SECRET",
		"headers": map[string]string{"X-Team": "billing"}, "rate_limit": 5, "timeout": "2s",
		"metadata": map[string]string{"owner": "billing"},
	}
	for _, m := range mod {
		m(ep)
	}
	return map[string]any{"tenants": []any{
		map[string]any{"id": "acme", "name": "Acme", "endpoints": []any{ep}},
	}}
}

func TestConfigApplyIdempotent(t *testing.T) {
	c := newConfigEnv(t)
	rc := handshakeOK(t)
	secret := newSecret(t)
	c.env["ACME_SECRET"] = secret
	path := c.write(doc(rc.URL))

	res, err := c.apply(path)
	if err != nil {
		t.Fatal(err)
	}
	if res != (applyResult{TenantsCreated: 1, EndpointsCreated: 1}) {
		t.Fatalf("first apply %+v", res)
	}
	es := c.endpoints("acme")
	if len(es) != 1 {
		t.Fatalf("%d endpoints", len(es))
	}
	ep := es[0]
	if ep.URL != rc.URL || ep.Keys[0].Secret != secret || ep.RateLimit != 5 || ep.Timeout != 2*time.Second ||
		ep.Headers["X-Team"] != "billing" || ep.Metadata[configIDKey] != "billing" || ep.Metadata["owner"] != "billing" {
		t.Fatalf("created %+v", ep)
	}

	// The same file again changes nothing, not even UpdatedAt.
	res, err = c.apply(path)
	if err != nil {
		t.Fatal(err)
	}
	if res != (applyResult{Unchanged: 1}) {
		t.Fatalf("second apply %+v", res)
	}
	if again := c.endpoints("acme")[0]; !again.UpdatedAt.Equal(ep.UpdatedAt) || again.ID != ep.ID {
		t.Fatalf("second apply rewrote the endpoint: %+v", again)
	}

	// A changed URL is updated in place; the key stays.
	rc2 := handshakeOK(t)
	res, err = c.apply(c.write(doc(rc2.URL)))
	if err != nil {
		t.Fatal(err)
	}
	if res != (applyResult{EndpointsUpdated: 1}) {
		t.Fatalf("apply with a new URL %+v", res)
	}
	es = c.endpoints("acme")
	if len(es) != 1 || es[0].ID != ep.ID || es[0].URL != rc2.URL || es[0].Keys[0].Secret != secret {
		t.Fatalf("after the URL change %+v", es)
	}

	// A new secret in the variable rotates the key; the old one keeps signing for the grace.
	secret2 := newSecret(t)
	c.env["ACME_SECRET"] = secret2
	res, err = c.apply(c.write(doc(rc2.URL)))
	if err != nil || res != (applyResult{EndpointsRotated: 1}) {
		t.Fatalf("apply with a new secret: %+v, %v", res, err)
	}
	keys := c.endpoints("acme")[0].Keys
	if len(keys) != 2 || keys[0].Secret != secret2 || keys[1].Secret != secret || keys[1].ExpiresAt.IsZero() {
		t.Fatalf("keys after rotation %+v", keys)
	}

	// An endpoint the file no longer mentions is left alone, and so is one made through the API.
	if _, err := c.es.Create(context.Background(), "acme", endpoints.CreateInput{URL: rc.URL}); err != nil {
		t.Fatal(err)
	}
	res, err = c.apply(c.write(map[string]any{"tenants": []any{map[string]any{"id": "acme", "name": "Acme"}}}))
	if err != nil || res != (applyResult{}) {
		t.Fatalf("apply without endpoints: %+v, %v", res, err)
	}
	if n := len(c.endpoints("acme")); n != 2 {
		t.Fatalf("%d endpoints after an apply that mentions none, want 2", n)
	}
}

func TestConfigBadFile(t *testing.T) {
	rc := handshakeOK(t)
	tests := []struct {
		name string
		file any
		want []string // substrings of the error
	}{
		{"syntax", "{\n  \"tenants\": [\n    {\"id\": \"acme\",}\n  ]\n}", []string{"line 3"}},
		{"unknown field", `{"tenants": [{"id": "acme", "name": "A", "endpoints": [{"id": "x", "url": "` + rc.URL + `", "secrett": "s"}]}]}`,
			[]string{"unknown field", "secrett"}},
		{"bad filter", doc(rc.URL, func(ep map[string]any) { ep["events"] = []string{"not a type!"} }),
			[]string{"tenants[acme].endpoints[billing]", "events"}},
		{"bad header", doc(rc.URL, func(ep map[string]any) { ep["headers"] = map[string]string{"Content-Type": "x"} }),
			[]string{"tenants[acme].endpoints[billing]", "Content-Type"}},
		{"missing secret variable", doc(rc.URL, func(ep map[string]any) { ep["secret_env"] = "NOT_SET" }),
			[]string{"tenants[acme].endpoints[billing]", "NOT_SET is not set"}},
		{"secret of the wrong profile", doc(rc.URL, func(ep map[string]any) { ep["profile"] = "mender" }),
			[]string{"tenants[acme].endpoints[billing]", "secret_env", "not a mender secret"}},
		{"bad timeout", doc(rc.URL, func(ep map[string]any) { ep["timeout"] = "soon" }), []string{"soon"}},
		{"no endpoint id", doc(rc.URL, func(ep map[string]any) { delete(ep, "id") }),
			[]string{"tenants[acme].endpoints[0]", "id is required"}},
		{"bad url", doc("ftp://example.com/x"), []string{"tenants[acme].endpoints[billing]", "url"}},
		{"duplicate endpoint", map[string]any{"tenants": []any{map[string]any{"id": "acme", "name": "A", "endpoints": []any{
			map[string]any{"id": "a", "url": rc.URL}, map[string]any{"id": "a", "url": rc.URL}}}}},
			[]string{"tenants[acme].endpoints[a]", "declared twice"}},
		{"tenant without a name", map[string]any{"tenants": []any{map[string]any{"id": "acme"}}}, []string{"tenants[acme]", "name"}},
		{"reserved metadata", doc(rc.URL, func(ep map[string]any) { ep["metadata"] = map[string]string{configIDKey: "x"} }),
			[]string{configIDKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConfigEnv(t)
			c.env["ACME_SECRET"] = newSecret(t)
			_, err := c.apply(c.write(tt.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), c.env["ACME_SECRET"]) {
				t.Errorf("error shows the secret: %v", err)
			}
			// A file that fails its checks writes nothing.
			if ts, _ := c.store.ListTenants(context.Background(), "", 10); len(ts) != 0 {
				t.Errorf("a bad file created %d tenants", len(ts))
			}
		})
	}
}

func TestConfigHandshakeFailureNamesEntry(t *testing.T) {
	c := newConfigEnv(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	t.Cleanup(down.Close)
	c.env["ACME_SECRET"] = newSecret(t)
	_, err := c.apply(c.write(doc(down.URL)))
	if !errors.Is(err, endpoints.ErrHandshake) || !strings.Contains(err.Error(), "tenants[acme].endpoints[billing]") {
		t.Fatalf("apply to a failing receiver: %v", err)
	}
}

// TestNewConfigFile: the config file is applied when the gateway is built, and a bad one stops the start before
// anything listens.
func TestNewConfigFile(t *testing.T) {
	rc := handshakeOK(t)
	c := newConfigEnv(t)
	secret := newSecret(t)
	env := func(name string) (string, bool) { return secret, name == "ACME_SECRET" }
	cfg := Config{Listen: "127.0.0.1:0", Data: t.TempDir(), OperatorToken: "operator-token-0123456789abcdef",
		Egress: testPolicy, Getenv: env, Logger: slog.New(slog.DiscardHandler)}

	bad := cfg
	bad.ConfigFile = c.write(doc(rc.URL, func(ep map[string]any) { ep["events"] = []string{"bad type"} }))
	if g, err := New(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "tenants[acme].endpoints[billing]") {
		if g != nil {
			g.Close()
		}
		t.Fatalf("New with a bad file: %v", err)
	}

	cfg.ConfigFile = c.write(doc(rc.URL))
	g := startGateway(t, cfg)
	list := g.call(200, "GET", "/v1/tenants/acme/endpoints", cfg.OperatorToken, nil)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["url"] != rc.URL {
		t.Fatalf("endpoints after start %v", list)
	}
}
