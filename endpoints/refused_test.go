package endpoints_test

import (
	"context"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
)

// TestURLRefusedShown: an http endpoint registered while plain http was allowed is shown, by a service whose policy
// no longer allows it, with the reason every attempt to it fails; an endpoint the policy accepts shows none.
func TestURLRefusedShown(t *testing.T) {
	s, st, _ := newService(t)
	ctx := context.Background()
	e, err := s.Create(ctx, "ten", endpoints.CreateInput{URL: receiver(t, 204, "POST")})
	if err != nil {
		t.Fatal(err)
	}
	if e.URLRefused != "" {
		t.Fatalf("allowed: URLRefused %q", e.URLRefused)
	}
	strict := endpoints.NewService(st, endpoints.Config{Policy: egress.Policy{AllowPrivate: true}})
	got, err := strict.Get(ctx, "ten", e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.URLRefused, "http is not allowed") || !strings.Contains(got.URLRefused, "every delivery attempt fails") {
		t.Errorf("Get: URLRefused %q", got.URLRefused)
	}
	list, _, err := strict.List(ctx, "ten", "", 10)
	if err != nil || len(list) != 1 || list[0].URLRefused == "" {
		t.Errorf("List: %+v, %v", list, err)
	}
	d, err := strict.Disable(ctx, "ten", e.ID)
	if err != nil || d.URLRefused == "" {
		t.Errorf("Disable: %+v, %v", d, err)
	}
	// An IP literal the policy refuses is named too (no DNS needed).
	noPrivate := endpoints.NewService(st, endpoints.Config{Policy: egress.Policy{AllowHTTP: true}})
	if got, _ := noPrivate.Get(ctx, "ten", e.ID); !strings.Contains(got.URLRefused, "loopback") {
		t.Errorf("loopback under a public-only policy: URLRefused %q", got.URLRefused)
	}
}
