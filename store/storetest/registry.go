package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/tenants"
)

func testTenantCreateGet(t *testing.T, s Store) {
	ctx := t.Context()
	want := &tenants.Tenant{ID: "ten_a", Name: "Acme", CreatedAt: base}
	noErr(t, "CreateTenant", s.CreateTenant(ctx, want))
	got, err := s.GetTenant(ctx, "ten_a")
	noErr(t, "GetTenant", err)
	same(t, "GetTenant", got, want)

	isErr(t, "CreateTenant duplicate", s.CreateTenant(ctx, &tenants.Tenant{ID: "ten_a", Name: "Other"}), tenants.ErrExists)
	got, _ = s.GetTenant(ctx, "ten_a")
	same(t, "GetTenant after duplicate", got, want)
	_, err = s.GetTenant(ctx, "ten_b")
	isErr(t, "GetTenant unknown", err, tenants.ErrNotFound)
}

func testTenantListPaging(t *testing.T, s Store) {
	ctx := t.Context()
	for _, id := range []string{"ten_c", "ten_a", "ten_e", "ten_b", "ten_d"} {
		noErr(t, "CreateTenant", s.CreateTenant(ctx, &tenants.Tenant{ID: id, Name: id, CreatedAt: base}))
	}
	var got []string
	after := ""
	for range 10 {
		page, err := s.ListTenants(ctx, after, 2)
		noErr(t, "ListTenants", err)
		if len(page) > 2 {
			t.Fatalf("ListTenants limit 2: %d items", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, tn := range page {
			got = append(got, tn.ID)
		}
		after = page[len(page)-1].ID
	}
	same(t, "tenants paged", got, []string{"ten_a", "ten_b", "ten_c", "ten_d", "ten_e"})
}

func testTokens(t *testing.T, s Store) {
	ctx := t.Context()
	for _, id := range []string{"ten_a", "ten_b"} {
		noErr(t, "CreateTenant", s.CreateTenant(ctx, &tenants.Tenant{ID: id, CreatedAt: base}))
	}
	tok := func(id, tenant string) *tenants.Token {
		return &tenants.Token{ID: id, TenantID: tenant, Name: id, Hash: sha256.Sum256([]byte("secret-" + id)), CreatedAt: base}
	}
	a2, a1, b1 := tok("tok_2", "ten_a"), tok("tok_1", "ten_a"), tok("tok_3", "ten_b")
	for _, tk := range []*tenants.Token{a2, a1, b1} {
		noErr(t, "CreateToken", s.CreateToken(ctx, tk))
	}

	got, err := s.TokenByHash(ctx, a1.Hash)
	noErr(t, "TokenByHash", err)
	same(t, "TokenByHash", got, a1)
	_, err = s.TokenByHash(ctx, sha256.Sum256([]byte("unknown")))
	isErr(t, "TokenByHash unknown", err, tenants.ErrToken)

	list, err := s.ListTokens(ctx, "ten_a")
	noErr(t, "ListTokens", err)
	same(t, "ListTokens", list, []*tenants.Token{a1, a2})

	isErr(t, "RevokeToken of another tenant", s.RevokeToken(ctx, "ten_b", "tok_1", at(time.Hour)), tenants.ErrNotFound)
	isErr(t, "RevokeToken unknown", s.RevokeToken(ctx, "ten_a", "tok_9", at(time.Hour)), tenants.ErrNotFound)
	got, err = s.TokenByHash(ctx, a1.Hash)
	noErr(t, "TokenByHash after refused revoke", err)
	same(t, "token after refused revoke", got, a1)

	noErr(t, "RevokeToken", s.RevokeToken(ctx, "ten_a", "tok_1", at(time.Hour)))
	// A revoked token no longer authenticates: TokenByHash refuses it with ErrToken.
	_, err = s.TokenByHash(ctx, a1.Hash)
	isErr(t, "TokenByHash revoked", err, tenants.ErrToken)
	// ListTokens still shows it, with RevokedAt.
	list, err = s.ListTokens(ctx, "ten_a")
	noErr(t, "ListTokens", err)
	r := *a1
	r.RevokedAt = at(time.Hour)
	same(t, "ListTokens after revoke", list, []*tenants.Token{&r, a2})
	got, err = s.TokenByHash(ctx, b1.Hash)
	noErr(t, "TokenByHash other tenant", err)
	same(t, "other tenant's token", got, b1)
}

// endpoint returns a fully populated endpoint of tenant.
func endpoint(tenant, id string) *endpoints.Endpoint {
	return &endpoints.Endpoint{
		ID: id, TenantID: tenant, URL: "https://hooks.example.com/" + id, Description: "test " + id,
		Events: []string{"device.*"}, Profile: "standard", Algorithm: "hmac",
		Keys: []endpoints.Key{
			{Secret: "whsec_bmV3", CreatedAt: at(time.Hour)},
			{Secret: "whsec_b2xk", CreatedAt: base, ExpiresAt: at(25 * time.Hour)},
		},
		Headers:   map[string]string{"X-Team": "ops"},
		RateLimit: 2.5, Timeout: 3 * time.Second,
		Metadata:  map[string]string{"env": "test"},
		CreatedAt: base, UpdatedAt: base,
		TracePropagate: new(false),
	}
}

func testEndpointCRUD(t *testing.T, s Store) {
	ctx := t.Context()
	want := endpoint("ten_a", "ep_1")
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, want))
	got, err := s.GetEndpoint(ctx, "ten_a", "ep_1")
	noErr(t, "GetEndpoint", err)
	same(t, "GetEndpoint (secrets included)", got, want)

	upd := endpoint("ten_a", "ep_1")
	upd.URL, upd.Events, upd.Keys, upd.Disabled, upd.DisabledReason = "https://new.example.com/", []string{"*"}, upd.Keys[:1], true, "manual"
	upd.UpdatedAt = at(time.Minute)
	noErr(t, "UpdateEndpoint", s.UpdateEndpoint(ctx, upd))
	got, err = s.GetEndpoint(ctx, "ten_a", "ep_1")
	noErr(t, "GetEndpoint after update", err)
	same(t, "GetEndpoint after update", got, upd)

	isErr(t, "UpdateEndpoint unknown", s.UpdateEndpoint(ctx, endpoint("ten_a", "ep_9")), endpoints.ErrNotFound)
	_, err = s.GetEndpoint(ctx, "ten_a", "ep_9")
	isErr(t, "GetEndpoint after refused update", err, endpoints.ErrNotFound)

	noErr(t, "DeleteEndpoint", s.DeleteEndpoint(ctx, "ten_a", "ep_1"))
	_, err = s.GetEndpoint(ctx, "ten_a", "ep_1")
	isErr(t, "GetEndpoint deleted", err, endpoints.ErrNotFound)
	isErr(t, "DeleteEndpoint again", s.DeleteEndpoint(ctx, "ten_a", "ep_1"), endpoints.ErrNotFound)
	list, err := s.ListEndpoints(ctx, "ten_a", "", 10)
	noErr(t, "ListEndpoints", err)
	if len(list) != 0 {
		t.Fatalf("ListEndpoints after delete: %d endpoints", len(list))
	}
}

func testEndpointTenantScope(t *testing.T, s Store) {
	ctx := t.Context()
	want := endpoint("ten_a", "ep_1")
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, want))

	_, err := s.GetEndpoint(ctx, "ten_b", "ep_1")
	isErr(t, "GetEndpoint of another tenant", err, endpoints.ErrNotFound)
	isErr(t, "UpdateEndpoint of another tenant", s.UpdateEndpoint(ctx, endpoint("ten_b", "ep_1")), endpoints.ErrNotFound)
	isErr(t, "DeleteEndpoint of another tenant", s.DeleteEndpoint(ctx, "ten_b", "ep_1"), endpoints.ErrNotFound)
	isErr(t, "SetEndpointHealth of another tenant", s.SetEndpointHealth(ctx, "ten_b", "ep_1", base, true, "failing"), endpoints.ErrNotFound)
	list, err := s.ListEndpoints(ctx, "ten_b", "", 10)
	noErr(t, "ListEndpoints other tenant", err)
	if len(list) != 0 {
		t.Fatalf("ListEndpoints of another tenant: %d endpoints", len(list))
	}

	got, err := s.GetEndpoint(ctx, "ten_a", "ep_1")
	noErr(t, "GetEndpoint", err)
	same(t, "endpoint after another tenant's writes", got, want)
}

func testEndpointListPaging(t *testing.T, s Store) {
	ctx := t.Context()
	var want []string
	for _, id := range []string{"ep_4", "ep_1", "ep_7", "ep_3", "ep_2", "ep_6", "ep_5"} {
		noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, endpoint("ten_a", id)))
		want = append(want, id)
	}
	for _, id := range []string{"ep_0", "ep_35", "ep_8"} {
		noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, endpoint("ten_b", id)))
	}
	var got []string
	after := ""
	for range 10 {
		page, err := s.ListEndpoints(ctx, "ten_a", after, 3)
		noErr(t, "ListEndpoints", err)
		if len(page) > 3 {
			t.Fatalf("ListEndpoints limit 3: %d items", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.TenantID != "ten_a" {
				t.Fatalf("ListEndpoints(ten_a) returned %s of %s", e.ID, e.TenantID)
			}
			got = append(got, e.ID)
		}
		after = page[len(page)-1].ID
	}
	same(t, "endpoints paged", got, sorted(want))
}

func testEndpointHealth(t *testing.T, s Store) {
	ctx := t.Context()
	want := endpoint("ten_a", "ep_1")
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, want))

	noErr(t, "SetEndpointHealth failing", s.SetEndpointHealth(ctx, "ten_a", "ep_1", at(time.Minute), false, ""))
	want.FailingSince = at(time.Minute)
	want.Version++ // every write bumps the version
	got, _ := s.GetEndpoint(ctx, "ten_a", "ep_1")
	same(t, "after failing", got, want)

	// A disable is a change of the endpoint: it bumps UpdatedAt (the store's clock).
	before := time.Now().Add(-time.Second)
	noErr(t, "SetEndpointHealth disable", s.SetEndpointHealth(ctx, "ten_a", "ep_1", at(time.Minute), true, "failing"))
	want.Disabled, want.DisabledReason = true, "failing"
	want.Version++
	got, _ = s.GetEndpoint(ctx, "ten_a", "ep_1")
	if got == nil || got.UpdatedAt.Before(before) {
		t.Fatalf("after disable: updated_at %v, want the store's now (after %v)", got, before)
	}
	want.UpdatedAt = got.UpdatedAt
	same(t, "after disable", got, want)

	// Healthy again: failingSince cleared; disable=false leaves Disabled (and UpdatedAt) as it was.
	noErr(t, "SetEndpointHealth healthy", s.SetEndpointHealth(ctx, "ten_a", "ep_1", time.Time{}, false, ""))
	want.FailingSince = time.Time{}
	want.Version++
	got, _ = s.GetEndpoint(ctx, "ten_a", "ep_1")
	same(t, "after healthy", got, want)

	isErr(t, "SetEndpointHealth unknown", s.SetEndpointHealth(ctx, "ten_a", "ep_9", base, false, ""), endpoints.ErrNotFound)
}

func testEventTypes(t *testing.T, s Store) {
	ctx := t.Context()
	mk := func(name string) *events.EventType {
		return &events.EventType{Name: name, Description: "about " + name, Schema: json.RawMessage(`{"type":"object"}`), CreatedAt: base, UpdatedAt: base}
	}
	for _, n := range []string{"device.status.changed", "device.enrolled", "app.installed"} {
		noErr(t, "PutEventType", s.PutEventType(ctx, mk(n)))
	}
	got, err := s.GetEventType(ctx, "device.enrolled")
	noErr(t, "GetEventType", err)
	same(t, "GetEventType", got, mk("device.enrolled"))

	repl := mk("device.enrolled")
	repl.Description, repl.Schema, repl.UpdatedAt = "replaced", nil, at(time.Hour)
	noErr(t, "PutEventType replace", s.PutEventType(ctx, repl))
	got, _ = s.GetEventType(ctx, "device.enrolled")
	same(t, "GetEventType after replace", got, repl)

	var names []string
	after := ""
	for range 10 {
		page, err := s.ListEventTypes(ctx, after, 2)
		noErr(t, "ListEventTypes", err)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			names = append(names, e.Name)
		}
		after = page[len(page)-1].Name
	}
	same(t, "event types paged", names, []string{"app.installed", "device.enrolled", "device.status.changed"})

	noErr(t, "DeleteEventType", s.DeleteEventType(ctx, "app.installed"))
	_, err = s.GetEventType(ctx, "app.installed")
	isErr(t, "GetEventType deleted", err, events.ErrNotFound)
	isErr(t, "DeleteEventType unknown", s.DeleteEventType(ctx, "app.installed"), events.ErrNotFound)
	_, err = s.GetEventType(ctx, "nope")
	isErr(t, "GetEventType unknown", err, events.ErrNotFound)
}

var _ = context.Background
