package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/wire"
)

func TestPortalSessions(t *testing.T) {
	ctx := context.Background()
	c, srv, _ := newTest(t)
	must(c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"})).ok(t)

	s := must(c.OpenPortal(ctx, "acme", wire.CreatePortalSession{TTL: wire.Duration(30 * time.Minute), ReadOnly: true})).ok(t)
	if !strings.HasPrefix(s.Token, "whp_") || !s.ReadOnly || s.ExpiresAt.Sub(s.CreatedAt) != 30*time.Minute ||
		s.URL != srv+"/console/#ro=1&tenant=acme&token="+s.Token {
		t.Fatalf("session %+v", s)
	}
	portal := client.New(srv, s.Token)
	must(portal.ListEndpoints(ctx, "acme", client.Page{})).ok(t)
	_, err := portal.DisableEndpoint(ctx, "acme", "ep_none")
	wantCode(t, err, 403, wire.CodeForbidden)

	if err := c.RevokePortal(ctx, "acme", s.ID); err != nil {
		t.Fatal(err)
	}
	_, err = portal.ListEndpoints(ctx, "acme", client.Page{})
	wantCode(t, err, 401, wire.CodeSessionRevoked)
	wantCode(t, c.RevokePortal(ctx, "acme", "ps_unknown"), 404, wire.CodeNotFound)
	_, err = c.OpenPortal(ctx, "acme", wire.CreatePortalSession{TTL: wire.Duration(25 * time.Hour)})
	wantCode(t, err, 422, wire.CodeValidation)
}
