package api

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/tenants"
)

// portalToken stores a portal session of tenant directly (so its times can be anything) and returns its token.
func (e *env) portalToken(tenant, id string, readOnly bool, created, expires time.Time) string {
	e.t.Helper()
	text := tenants.PortalTokenPrefix + strings.Repeat("A", 42) + id[len(id)-1:]
	p := &tenants.PortalSession{ID: id, TenantID: tenant, Hash: sha256.Sum256([]byte(text)), ReadOnly: readOnly,
		CreatedAt: created, ExpiresAt: expires}
	if err := e.store.CreatePortalSession(e.t.Context(), p); err != nil {
		e.t.Fatal(err)
	}
	return text
}

func TestPortalSessions(t *testing.T) {
	e := newEnv(t)
	tokA := e.tenant("ten_a")
	tokB := e.tenant("ten_b")
	rc := okReceiver(t)

	// The operator and the tenant itself may open a session; the URL carries the token in its fragment only.
	s := e.must(201, "POST", "/v1/tenants/ten_a/portal-sessions", opToken, nil)
	token, url := s["token"].(string), s["url"].(string)
	if !strings.HasPrefix(token, "whp_") || url != e.srv.URL+"/console/#tenant=ten_a&token="+token || s["read_only"] != false {
		t.Fatalf("session %v", s)
	}
	exp, err := time.Parse(time.RFC3339Nano, s["expires_at"].(string))
	if err != nil || time.Until(exp) > time.Hour || time.Until(exp) < 59*time.Minute {
		t.Errorf("expires_at %v (%v), want in 1 h", s["expires_at"], err)
	}
	ro := e.must(201, "POST", "/v1/tenants/ten_a/portal-sessions", tokA, map[string]any{"ttl": "24h", "read_only": true})
	roToken := ro["token"].(string)
	if ro["read_only"] != true || !strings.HasSuffix(ro["url"].(string), "#ro=1&tenant=ten_a&token="+roToken) {
		t.Errorf("read-only session %v", ro)
	}
	for _, tc := range []struct {
		body  any
		want  int
		field string
	}{
		{map[string]any{"ttl": "24h1s"}, 422, "ttl"},
		{map[string]any{"ttl": "0s"}, 422, "ttl"},
		{map[string]any{"ttl": "-1m"}, 422, "ttl"},
		{map[string]any{"ttl": "soon"}, 422, "ttl"},
		{map[string]any{"scope": "all"}, 400, "scope"},
	} {
		status, out := e.do("POST", "/v1/tenants/ten_a/portal-sessions", opToken, tc.body)
		if _, field, _ := errorOf(t, out); status != tc.want || field != tc.field {
			t.Errorf("%v: %d %s, want %d field %q", tc.body, status, out, tc.want, tc.field)
		}
	}
	// Another tenant's token cannot open one for A.
	if status, _ := e.do("POST", "/v1/tenants/ten_a/portal-sessions", tokB, nil); status != 404 {
		t.Errorf("B opens a session of A: %d", status)
	}

	// A session acts on its tenant's routes and nothing else.
	ep := e.endpoint("ten_a", token, map[string]any{"url": rc.URL})
	e.must(200, "GET", "/v1/tenants/ten_a/endpoints/"+ep+"/secret", token, nil)
	e.must(200, "GET", "/v1/event-types", token, nil)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/tenants/ten_b/endpoints", 404},
		{"GET", "/v1/tenants", 403},
		{"POST", "/v1/tenants/ten_a/tokens", 403},
		{"GET", "/v1/tenants/ten_a/tokens", 403},
		{"POST", "/v1/tenants/ten_a/events", 403},
		{"POST", "/v1/event-types", 403},
		{"POST", "/v1/tenants/ten_a/portal-sessions", 403}, // a session cannot mint sessions
		{"DELETE", "/v1/tenants/ten_a/portal-sessions/" + ro["id"].(string), 403},
	} {
		if status, out := e.do(tc.method, tc.path, token, map[string]any{"name": "x", "type": "device.enrolled"}); status != tc.want {
			t.Errorf("session: %s %s: %d %s, want %d", tc.method, tc.path, status, out, tc.want)
		}
	}

	// A read-only session reads, and changes nothing.
	e.must(200, "GET", "/v1/tenants/ten_a/endpoints", roToken, nil)
	e.must(200, "GET", "/v1/tenants/ten_a/endpoints/"+ep+"/secret", roToken, nil)
	for _, tc := range []struct{ method, path string }{
		{"POST", "/v1/tenants/ten_a/endpoints"},
		{"PATCH", "/v1/tenants/ten_a/endpoints/" + ep},
		{"DELETE", "/v1/tenants/ten_a/endpoints/" + ep},
		{"POST", "/v1/tenants/ten_a/endpoints/" + ep + "/disable"},
		{"POST", "/v1/tenants/ten_a/endpoints/" + ep + "/rotate"},
		{"POST", "/v1/tenants/ten_a/endpoints/" + ep + "/test"},
	} {
		status, out := e.do(tc.method, tc.path, roToken, map[string]any{"url": rc.URL})
		if code, _, m := errorOf(t, out); status != 403 || code != "forbidden" || !strings.Contains(m["message"].(string), "read-only") {
			t.Errorf("read-only: %s %s: %d %s", tc.method, tc.path, status, out)
		}
	}
	if got := e.must(200, "GET", "/v1/tenants/ten_a/endpoints/"+ep, opToken, nil); got["disabled"] == true {
		t.Errorf("read-only session changed the endpoint: %v", got)
	}

	// Revocation: B cannot revoke A's session; A's own token can, and it stops at once with session_revoked.
	id := s["id"].(string)
	if status, _ := e.do("DELETE", "/v1/tenants/ten_b/portal-sessions/"+id, tokB, nil); status != 404 {
		t.Errorf("B revokes A's session: %d", status)
	}
	e.must(200, "GET", "/v1/tenants/ten_a/endpoints", token, nil)
	e.must(204, "DELETE", "/v1/tenants/ten_a/portal-sessions/"+id, tokA, nil)
	status, out := e.do("GET", "/v1/tenants/ten_a/endpoints", token, nil)
	if code, _, _ := errorOf(t, out); status != 401 || code != "session_revoked" {
		t.Errorf("revoked session: %d %s", status, out)
	}

	// Expiry: session_expired; an unknown portal token is plain unauthorized.
	now := time.Now().UTC()
	old := e.portalToken("ten_a", "ps_old1", false, now.Add(-2*time.Hour), now.Add(-time.Hour))
	status, out = e.do("GET", "/v1/tenants/ten_a/endpoints", old, nil)
	if code, _, _ := errorOf(t, out); status != 401 || code != "session_expired" {
		t.Errorf("expired session: %d %s", status, out)
	}
	status, out = e.do("GET", "/v1/tenants/ten_a/endpoints", "whp_"+strings.Repeat("B", 43), nil)
	if code, _, _ := errorOf(t, out); status != 401 || code != "unauthorized" {
		t.Errorf("unknown session: %d %s", status, out)
	}
}

func TestPortalConsoleURL(t *testing.T) {
	e := newEnv(t, func(c *testConfig) { c.ConsoleURL = "https://hooks.example.com/console/#ignored" })
	e.tenant("ten_a")
	s := e.must(201, "POST", "/v1/tenants/ten_a/portal-sessions", opToken, nil)
	if want := "https://hooks.example.com/console/#tenant=ten_a&token=" + s["token"].(string); s["url"] != want {
		t.Errorf("url %v, want %s", s["url"], want)
	}
}
