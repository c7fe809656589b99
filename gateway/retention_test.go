package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/tenants"
)

// TestRetentionPerTenantWired: the gateway's retention prunes a tenant with a short retention of its own before
// the default says so, and keeps another's.
func TestRetentionPerTenantWired(t *testing.T) {
	g, err := New(context.Background(), Config{Data: t.TempDir(), Listen: "127.0.0.1:0",
		OperatorToken: "operator-token-0123456789", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	ctx := context.Background()
	created := time.Now().Add(-3 * time.Hour).UTC()
	for _, id := range []string{"short", "plain"} {
		if _, err := g.tenants.Create(ctx, tenants.CreateInput{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
		m := &delivery.Message{ID: "msg_" + id, TenantID: id, Type: "device.enrolled", Timestamp: created,
			Data: json.RawMessage(`{}`), CreatedAt: created}
		if _, _, _, err := g.store.Publish(ctx, m, nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.tenants.SetRetention(ctx, "short", time.Hour); err != nil {
		t.Fatal(err)
	}
	g.retention.PruneOnce(ctx)
	if _, err := g.store.GetMessage(ctx, "short", "msg_short"); !errors.Is(err, delivery.ErrNotFound) {
		t.Errorf("the short tenant's 3-hour-old message: %v, want pruned", err)
	}
	if _, err := g.store.GetMessage(ctx, "plain", "msg_plain"); err != nil {
		t.Errorf("the plain tenant's message (default 7 days): %v", err)
	}
}
