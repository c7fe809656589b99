package api

import (
	"net/http"
	"testing"
)

// TestDeleteTenantRefusedByDefault: without the operator's flag the route answers 403 tenant_deletion_disabled and
// the tenant stays.
func TestDeleteTenantRefusedByDefault(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	status, out := e.do("DELETE", "/v1/tenants/acme", opToken, nil)
	if code, _, _ := errorOf(t, out); status != 403 || code != "tenant_deletion_disabled" {
		t.Fatalf("DELETE without the flag: %d %s", status, out)
	}
	e.must(200, "GET", "/v1/tenants/acme", tok, nil)
}

// TestDeleteTenant: the tenant is gone for every call at once, listed as deleting until the reaper removed it, and
// another tenant is untouched.
func TestDeleteTenant(t *testing.T) {
	e := newEnv(t, func(c *testConfig) { c.AllowTenantDeletion = true })
	tok := e.tenant("acme")
	other := e.tenant("globex")
	rc := newReceiver(t, http.StatusNoContent, "OPTIONS, POST")
	e.endpoint("acme", tok, map[string]any{"url": rc.URL + "/a"})
	e.endpoint("globex", other, map[string]any{"url": rc.URL + "/g"})

	if status, out := e.do("DELETE", "/v1/tenants/acme", tok, nil); status != 403 {
		t.Fatalf("DELETE with the tenant's own token: %d %s", status, out)
	}
	got := e.must(202, "DELETE", "/v1/tenants/acme", opToken, nil)
	if got["state"] != "deleting" || got["deleting_at"] == nil || got["id"] != "acme" {
		t.Fatalf("DELETE answered %v", got)
	}
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/v1/tenants/acme", opToken},
		{"GET", "/v1/tenants/acme/endpoints", opToken},
		{"POST", "/v1/tenants/acme/events", opToken},
		{"DELETE", "/v1/tenants/acme", opToken},
	} {
		if status, out := e.do(c.method, c.path, c.token, map[string]any{"type": "device.enrolled"}); status != 404 {
			t.Errorf("%s %s after delete: %d %s", c.method, c.path, status, out)
		}
	}
	if status, out := e.do("GET", "/v1/tenants/acme/endpoints", tok, nil); status != 401 {
		t.Errorf("the tenant's token after delete: %d %s", status, out)
	}
	list := e.must(200, "GET", "/v1/tenants", opToken, nil)["data"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["state"] != "deleting" || list[1].(map[string]any)["state"] != "active" {
		t.Fatalf("list while deleting: %v", list)
	}

	if n := e.s.tenants.Reap(t.Context()); n != 1 {
		t.Fatalf("Reap finished %d tenants, want 1", n)
	}
	list = e.must(200, "GET", "/v1/tenants", opToken, nil)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != "globex" {
		t.Fatalf("list after the reaper: %v", list)
	}
	if eps := e.must(200, "GET", "/v1/tenants/globex/endpoints", other, nil)["data"].([]any); len(eps) != 1 {
		t.Fatalf("the other tenant's endpoints: %v", eps)
	}
	// The id is free again.
	e.tenant("acme")
	if eps := e.must(200, "GET", "/v1/tenants/acme/endpoints", opToken, nil)["data"].([]any); len(eps) != 0 {
		t.Fatalf("a new tenant with the old id sees %v", eps)
	}
}

// TestTenantRetention: a tenant's own retention period is set at creation or later, shown, reset with "0s", and
// refused outside the operator's limits with 422 validation_failed.
func TestTenantRetention(t *testing.T) {
	e := newEnv(t)
	got := e.must(201, "POST", "/v1/tenants", opToken, map[string]any{"id": "acme", "name": "Acme", "retention": "48h"})
	if got["retention"] != "48h0m0s" {
		t.Fatalf("create with a retention: %v", got)
	}
	tok := e.must(201, "POST", "/v1/tenants/acme/tokens", opToken, map[string]any{})["token"].(string)
	if got := e.must(200, "GET", "/v1/tenants/acme", tok, nil); got["retention"] != "48h0m0s" {
		t.Fatalf("GET: %v", got)
	}
	if got := e.must(200, "PATCH", "/v1/tenants/acme", opToken, map[string]any{"retention": "720h"}); got["retention"] != "720h0m0s" {
		t.Fatalf("PATCH: %v", got)
	}
	if got := e.must(200, "PATCH", "/v1/tenants/acme", opToken, map[string]any{"retention": "0s"}); got["retention"] != nil {
		t.Fatalf("PATCH 0s: %v", got)
	}
	for _, body := range []map[string]any{{"retention": "30m"}, {"retention": "9000h"}, {"retention": "-1h"}, {}} {
		status, out := e.do("PATCH", "/v1/tenants/acme", opToken, body)
		if code, field, _ := errorOf(t, out); status != 422 || code != "validation_failed" || field != "retention" {
			t.Errorf("PATCH %v: %d %s", body, status, out)
		}
	}
	status, out := e.do("POST", "/v1/tenants", opToken, map[string]any{"name": "x", "retention": "1m"})
	if code, field, _ := errorOf(t, out); status != 422 || code != "validation_failed" || field != "retention" {
		t.Errorf("create with 1m: %d %s", status, out)
	}
	if status, _ := e.do("PATCH", "/v1/tenants/acme", tok, map[string]any{"retention": "48h"}); status != 403 {
		t.Errorf("PATCH with the tenant's token: %d", status)
	}
	if status, _ := e.do("PATCH", "/v1/tenants/nobody", opToken, map[string]any{"retention": "48h"}); status != 404 {
		t.Errorf("PATCH of an unknown tenant: %d", status)
	}
}
