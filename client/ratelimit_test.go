package client_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/gateway"
	"github.com/webhookd/webhookd/wire"
)

// TestRateLimitedCarriesRetryAfter: a tenant token over its request rate gets a rate_limited error that says how
// long to wait, from the API's Retry-After header.
func TestRateLimitedCarriesRetryAfter(t *testing.T) {
	ctx := context.Background()
	g, err := gateway.New(ctx, gateway.Config{
		Listen: "127.0.0.1:0", Data: t.TempDir(), OperatorToken: operatorToken,
		Logger: slog.New(slog.DiscardHandler),
		Limits: api.Limits{TokenRate: 0.2}, // a burst of a few requests, then one every 5 s
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	op := client.New("http://"+g.Addr(), operatorToken)
	must(op.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"})).ok(t)
	tok := must(op.CreateToken(ctx, "acme", wire.CreateToken{Name: "console"})).ok(t)
	tenant := client.New("http://"+g.Addr(), tok.Token)

	for i := range 50 {
		_, err := tenant.GetTenant(ctx, "acme")
		if err == nil {
			continue
		}
		if !client.IsRateLimited(err) {
			t.Fatalf("request %d: %v, want rate_limited", i, err)
		}
		e := wantCode(t, err, 429, wire.CodeRateLimited)
		if e.RetryAfter < time.Second || e.RetryAfter > 10*time.Second {
			t.Fatalf("RetryAfter = %v, want the API's wait of a few seconds", e.RetryAfter)
		}
		return
	}
	t.Fatal("50 requests at once never met the token's rate limit")
}
