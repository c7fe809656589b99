package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// TestRetentionPerTenant: on a real store, a tenant with a shorter retention loses its old messages before the
// default says so, one with a longer retention keeps them after; the others follow Keep.
func TestRetentionPerTenant(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	created := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := map[string]string{}
	for _, tenant := range []string{"short", "long", "plain"} {
		m := &delivery.Message{ID: "msg_" + tenant, TenantID: tenant, Type: "device.enrolled", Timestamp: created,
			Data: json.RawMessage(`{}`), CreatedAt: created}
		if _, _, _, err := st.Publish(ctx, m, nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		msgs[tenant] = m.ID
	}
	own := map[string]time.Duration{"short": time.Hour, "long": 30 * 24 * time.Hour}
	var listErr error
	now := created
	r := delivery.NewRetention(st, delivery.RetentionConfig{
		Keep: 7 * 24 * time.Hour, Now: func() time.Time { return now },
		TenantKeep: func(context.Context) (map[string]time.Duration, error) { return own, listErr },
	})
	kept := func() map[string]bool {
		out := map[string]bool{}
		for tenant, id := range msgs {
			_, err := st.GetMessage(ctx, tenant, id)
			out[tenant] = err == nil
		}
		return out
	}
	for _, step := range []struct {
		after              time.Duration
		short, long, plain bool
		listFails          bool
	}{
		{after: 30 * time.Minute, short: true, long: true, plain: true},
		{after: 2 * time.Hour, listFails: true, short: true, long: true, plain: true}, // no list: nothing pruned
		{after: 2 * time.Hour, short: false, long: true, plain: true},
		{after: 8 * 24 * time.Hour, short: false, long: true, plain: false},
		{after: 31 * 24 * time.Hour, short: false, long: false, plain: false},
	} {
		now = created.Add(step.after)
		listErr = nil
		if step.listFails {
			listErr = errors.New("store down")
		}
		r.PruneOnce(ctx)
		got := kept()
		if got["short"] != step.short || got["long"] != step.long || got["plain"] != step.plain {
			t.Errorf("after %v (list fails %v): kept %v", step.after, step.listFails, got)
		}
	}
}
