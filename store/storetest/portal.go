package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/webhookd/webhookd/tenants"
)

// testPortalSessions checks the portal sessions of tenants.Store: stored by hash, found with their revocation, scoped
// to their tenant when revoked.
func testPortalSessions(t *testing.T, s Store) {
	ctx := t.Context()
	for _, id := range []string{"ten_a", "ten_b"} {
		noErr(t, "CreateTenant", s.CreateTenant(ctx, &tenants.Tenant{ID: id, CreatedAt: base}))
	}
	sess := func(id, tenant string, readOnly bool) *tenants.PortalSession {
		return &tenants.PortalSession{ID: id, TenantID: tenant, Hash: sha256.Sum256([]byte("portal-" + id)),
			ReadOnly: readOnly, CreatedAt: base, ExpiresAt: at(time.Hour)}
	}
	a1, a2, b1 := sess("ps_1", "ten_a", false), sess("ps_2", "ten_a", true), sess("ps_3", "ten_b", false)
	for _, p := range []*tenants.PortalSession{a1, a2, b1} {
		noErr(t, "CreatePortalSession", s.CreatePortalSession(ctx, p))
	}
	dup := *b1
	dup.ID = "ps_4"
	isErr(t, "CreatePortalSession with a taken hash", s.CreatePortalSession(ctx, &dup), tenants.ErrExists)

	for _, p := range []*tenants.PortalSession{a1, a2, b1} {
		got, err := s.PortalSessionByHash(ctx, p.Hash)
		noErr(t, "PortalSessionByHash", err)
		same(t, "PortalSessionByHash "+p.ID, got, p)
	}
	_, err := s.PortalSessionByHash(ctx, sha256.Sum256([]byte("unknown")))
	isErr(t, "PortalSessionByHash unknown", err, tenants.ErrToken)

	isErr(t, "RevokePortalSession of another tenant", s.RevokePortalSession(ctx, "ten_b", "ps_1", at(time.Minute)),
		tenants.ErrNotFound)
	isErr(t, "RevokePortalSession unknown", s.RevokePortalSession(ctx, "ten_a", "ps_9", at(time.Minute)),
		tenants.ErrNotFound)
	got, err := s.PortalSessionByHash(ctx, a1.Hash)
	noErr(t, "PortalSessionByHash after refused revoke", err)
	same(t, "session after refused revoke", got, a1)

	noErr(t, "RevokePortalSession", s.RevokePortalSession(ctx, "ten_a", "ps_1", at(time.Minute)))
	noErr(t, "RevokePortalSession again", s.RevokePortalSession(ctx, "ten_a", "ps_1", at(2*time.Minute)))
	// A revoked session is still found, with the time of its first revocation, so the service can say "revoked".
	got, err = s.PortalSessionByHash(ctx, a1.Hash)
	noErr(t, "PortalSessionByHash revoked", err)
	r := *a1
	r.RevokedAt = at(time.Minute)
	same(t, "revoked session", got, &r)
	got, err = s.PortalSessionByHash(ctx, a2.Hash)
	noErr(t, "PortalSessionByHash other session", err)
	same(t, "other session after revoke", got, a2)
}
