package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// LifecycleStore is a Store that also removes tenant data on request.
type LifecycleStore interface {
	Store
	// ExpungeMessage drops the payload of a tenant's message, keeping its id, type and times; delivery.ErrNotFound
	// when absent or another tenant's.
	ExpungeMessage(ctx context.Context, tenantID, id string, at time.Time) (*delivery.Message, error)
}

// RunLifecycle runs the conformance tests of tenant-data removal. open returns a fresh, empty store; RunLifecycle
// closes it.
func RunLifecycle(t *testing.T, open func(t *testing.T) LifecycleStore) {
	runCases(t, open, []testCase[LifecycleStore]{
		{"ExpungeMessage", testExpungeMessage},
	})
}

func testExpungeMessage(t *testing.T, s LifecycleStore) {
	ctx := context.Background()
	m, ds := publish(t, s, "t1", at(0), at(0), "ep1", "ep2")
	other, _ := publish(t, s, "t1", at(time.Second), at(time.Second), "ep1")

	if _, err := s.ExpungeMessage(ctx, "t2", m.ID, at(time.Minute)); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("another tenant's expunge: %v, want ErrNotFound", err)
	}
	if _, err := s.ExpungeMessage(ctx, "t1", "msg_nope", at(time.Minute)); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("an unknown message: %v, want ErrNotFound", err)
	}
	if got, err := s.GetMessage(ctx, "t1", m.ID); err != nil || string(got.Data) != string(m.Data) {
		t.Fatalf("before: %v %v", got, err)
	}
	x, err := s.ExpungeMessage(ctx, "t1", m.ID, at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !x.ExpungedAt.Equal(at(time.Minute)) || (len(x.Data) != 0 && string(x.Data) != "null") {
		t.Fatalf("expunge answered %+v", x)
	}
	got, err := s.GetMessage(ctx, "t1", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 0 && string(got.Data) != "null" {
		t.Fatalf("the payload survived: %s", got.Data)
	}
	if got.ID != m.ID || got.Type != m.Type || !got.CreatedAt.Equal(m.CreatedAt) || !got.Timestamp.Equal(m.Timestamp) ||
		!got.ExpungedAt.Equal(at(time.Minute)) {
		t.Fatalf("the record lost its head: %+v, want %+v", got, m)
	}
	// A second expunge keeps the first time.
	if x, err := s.ExpungeMessage(ctx, "t1", m.ID, at(time.Hour)); err != nil || !x.ExpungedAt.Equal(at(time.Minute)) {
		t.Fatalf("again: %+v %v", x, err)
	}
	// The log keeps the deliveries.
	dl, err := s.ListDeliveries(ctx, "t1", delivery.Filter{MessageID: m.ID, Limit: 10})
	if err != nil || len(dl) != len(ds) {
		t.Fatalf("deliveries after expunge: %d, %v; want %d", len(dl), err, len(ds))
	}
	// Another message is untouched.
	if got, err := s.GetMessage(ctx, "t1", other.ID); err != nil || string(got.Data) != string(other.Data) || !got.ExpungedAt.IsZero() {
		t.Fatalf("another message: %+v %v", got, err)
	}
}
