package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// fakes: small in-memory stores that record what the service hands them.

type fakeStore struct {
	mu        sync.Mutex // a batch publishes from several goroutines
	published []*delivery.Message
	ds        [][]*delivery.Delivery
	idemSince time.Time
	existing  *delivery.Message
	types     map[string]*EventType
}

func (f *fakeStore) Publish(_ context.Context, m *delivery.Message, ds []*delivery.Delivery, idemSince time.Time) (*delivery.Message, int, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idemSince = idemSince
	if f.existing != nil {
		return f.existing, 1, true, nil
	}
	f.published = append(f.published, m)
	f.ds = append(f.ds, ds)
	return m, len(ds), false, nil
}

func (f *fakeStore) PutEventType(_ context.Context, t *EventType) error {
	f.types[t.Name] = t
	return nil
}
func (f *fakeStore) GetEventType(_ context.Context, name string) (*EventType, error) {
	if t, ok := f.types[name]; ok {
		return t, nil
	}
	return nil, ErrNotFound
}
func (f *fakeStore) ListEventTypes(context.Context, string, int) ([]*EventType, error) {
	return nil, nil
}
func (f *fakeStore) DeleteEventType(context.Context, string) error { return nil }

type fakeEndpoints []*endpoints.Endpoint // ascending ids, one tenant

func (f fakeEndpoints) GetEndpoint(_ context.Context, tenantID, id string) (*endpoints.Endpoint, error) {
	for _, e := range f {
		if e.ID == id && e.TenantID == tenantID {
			return e, nil
		}
	}
	return nil, endpoints.ErrNotFound
}

func (f fakeEndpoints) ListEndpoints(_ context.Context, tenantID, after string, limit int) ([]*endpoints.Endpoint, error) {
	var out []*endpoints.Endpoint
	for _, e := range f {
		if e.TenantID == tenantID && e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

type fakeLog struct {
	msgs     map[string]*delivery.Message
	ds       []*delivery.Delivery // ascending ids
	enqueued []*delivery.Delivery
	calls    int
}

func (f *fakeLog) GetMessage(_ context.Context, tenantID, id string) (*delivery.Message, error) {
	if m, ok := f.msgs[id]; ok && m.TenantID == tenantID {
		return m, nil
	}
	return nil, delivery.ErrNotFound
}

func (f *fakeLog) ListDeliveries(_ context.Context, tenantID string, flt delivery.Filter) ([]*delivery.Delivery, error) {
	f.calls++
	var out []*delivery.Delivery
	for _, d := range f.ds {
		if d.TenantID == tenantID && d.EndpointID == flt.EndpointID && d.ID > flt.After && !d.CreatedAt.Before(flt.Since) &&
			(flt.Until.IsZero() || d.CreatedAt.Before(flt.Until)) && len(out) < flt.Limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func (f *fakeLog) Enqueue(_ context.Context, ds []*delivery.Delivery) error {
	f.enqueued = append(f.enqueued, ds...)
	return nil
}

type wakes int

func (w *wakes) Wake() { *w++ }

var t0 = time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)

func newTestService(eps fakeEndpoints) (*Service, *fakeStore, *fakeLog, *wakes) {
	st := &fakeStore{types: map[string]*EventType{}}
	lg := &fakeLog{msgs: map[string]*delivery.Message{}}
	w := new(wakes)
	s := NewService(st, Config{Endpoints: eps, Log: lg, Queue: lg, Waker: w, Now: func() time.Time { return t0 }})
	return s, st, lg, w
}

func TestPublishValidation(t *testing.T) {
	s, st, _, _ := newTestService(nil)
	ctx := context.Background()
	for _, c := range []struct {
		in    PublishInput
		field string
	}{
		{PublishInput{}, "type"},
		{PublishInput{Type: "a b"}, "type"},
		{PublishInput{Type: "a.*"}, "type"},
		{PublishInput{Type: "a", Data: json.RawMessage(`{"a":`)}, "data"},
		{PublishInput{Type: "a", Data: json.RawMessage(`nope`)}, "data"},
		{PublishInput{Type: "a", ID: "a b"}, "id"},
		{PublishInput{Type: "a", ID: string(make([]byte, 256))}, "id"},
	} {
		_, _, _, err := s.Publish(ctx, "ten", c.in)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("Publish(%+v) = %v, want a FieldError for %s", c.in, err, c.field)
		}
	}
	if len(st.published) != 0 {
		t.Errorf("invalid events reached the store")
	}
}

func TestPublishFanout(t *testing.T) {
	var eps fakeEndpoints
	want := 0
	for i := range 250 { // more than two pages
		e := &endpoints.Endpoint{ID: fmt.Sprintf("ep_%03d", i), TenantID: "ten", Events: []string{"*"}}
		switch i % 5 {
		case 1:
			e.Events = []string{"device.*"}
		case 2:
			e.Events = []string{"app.installed"}
		case 3:
			e.Disabled = true
		}
		if e.Accepts("device.enrolled") && !e.Disabled {
			want++
		}
		eps = append(eps, e)
	}
	eps = append(eps, &endpoints.Endpoint{ID: "ep_999", TenantID: "other", Events: []string{"*"}})
	s, st, _, w := newTestService(eps)
	ts := t0.Add(-time.Hour)
	data := json.RawMessage(`{"b": 1,  "a":[ true ]}`)
	m, n, existing, err := s.Publish(context.Background(), "ten", PublishInput{Type: "device.enrolled", Data: data, ID: "evt:1", Timestamp: &ts})
	if err != nil || existing || n != want {
		t.Fatalf("Publish: %d, %v, %v; want fan-out %d", n, existing, err, want)
	}
	if string(m.Data) != string(data) {
		t.Errorf("data re-serialised: %s", m.Data)
	}
	if !m.Timestamp.Equal(ts) || !m.CreatedAt.Equal(t0) || m.IdempotencyKey != "evt:1" || m.TenantID != "ten" {
		t.Errorf("message %+v", m)
	}
	if !st.idemSince.Equal(t0.Add(-24 * time.Hour)) {
		t.Errorf("idemSince %v", st.idemSince)
	}
	seen := map[string]bool{}
	for _, d := range st.ds[0] {
		if d.MessageID != m.ID || d.TenantID != "ten" || d.Status != delivery.StatusPending || !d.NextAttemptAt.Equal(t0) ||
			d.EventType != "device.enrolled" || seen[d.EndpointID] {
			t.Errorf("delivery %+v", d)
		}
		seen[d.EndpointID] = true
	}
	if *w != 1 {
		t.Errorf("%d wakes, want 1", *w)
	}

	// Defaults: {} data, timestamp now; a repeat does not wake.
	m, _, _, _ = s.Publish(context.Background(), "ten", PublishInput{Type: "x"})
	if string(m.Data) != "{}" || !m.Timestamp.Equal(t0) {
		t.Errorf("defaults: %+v", m)
	}
	st.existing = m
	before := *w
	if _, _, existing, _ := s.Publish(context.Background(), "ten", PublishInput{Type: "device.enrolled", ID: "evt:1"}); !existing || *w != before {
		t.Errorf("repeat: existing %v, %d wakes", existing, *w)
	}
}

func TestPublishTo(t *testing.T) {
	eps := fakeEndpoints{{ID: "ep_1", TenantID: "ten", Events: []string{"app.*"}}, {ID: "ep_2", TenantID: "ten", Events: []string{"*"}}}
	s, st, _, _ := newTestService(eps)
	m, d, err := s.PublishTo(context.Background(), "ten", "ep_1", PublishInput{})
	if err != nil || m.Type != TestEventType || d == nil || d.EndpointID != "ep_1" || len(st.ds[0]) != 1 {
		t.Fatalf("PublishTo: %+v %+v %v", m, d, err)
	}
	if _, _, err := s.PublishTo(context.Background(), "other", "ep_1", PublishInput{}); !errors.Is(err, endpoints.ErrNotFound) {
		t.Errorf("cross-tenant PublishTo: %v", err)
	}
}

func TestReplayAndRecover(t *testing.T) {
	eps := fakeEndpoints{{ID: "ep_1", TenantID: "ten"}, {ID: "ep_2", TenantID: "ten"}}
	s, _, lg, w := newTestService(eps)
	ctx := context.Background()
	for i := range 5 {
		id := fmt.Sprintf("msg_%d", i)
		lg.msgs[id] = &delivery.Message{ID: id, TenantID: "ten", Type: "a"}
	}
	// 450 deliveries to ep_1 (three pages); messages repeat, each with one status (msg_4 and msg_0 succeeded).
	statuses := []delivery.Status{delivery.StatusSucceeded, delivery.StatusFailed, delivery.StatusDead, delivery.StatusPending}
	failedMsgs := map[string]bool{}
	for i := range 450 {
		d := &delivery.Delivery{ID: fmt.Sprintf("dlv_%04d", i), TenantID: "ten", EndpointID: "ep_1", MessageID: fmt.Sprintf("msg_%d", i%5),
			Status: statuses[i%5%4], CreatedAt: t0.Add(-time.Duration(450-i) * time.Second)}
		if i < 100 {
			d.CreatedAt = t0.Add(-48 * time.Hour) // before since
		} else if d.Status == delivery.StatusFailed || d.Status == delivery.StatusDead {
			failedMsgs[d.MessageID] = true
		}
		lg.ds = append(lg.ds, d)
	}
	n, err := s.Recover(ctx, "ten", "ep_1", t0.Add(-time.Hour))
	if err != nil || n != len(failedMsgs) || len(lg.enqueued) != n || lg.calls < 2 {
		t.Fatalf("Recover: %d, %v; want %d (enqueued %d, %d list calls)", n, err, len(failedMsgs), len(lg.enqueued), lg.calls)
	}
	for _, d := range lg.enqueued {
		if !failedMsgs[d.MessageID] || d.EndpointID != "ep_1" || d.Status != delivery.StatusPending {
			t.Errorf("recovered %+v", d)
		}
	}
	if *w != 1 {
		t.Errorf("%d wakes", *w)
	}
	if _, err := s.Recover(ctx, "ten", "ep_9", t0); !errors.Is(err, endpoints.ErrNotFound) {
		t.Errorf("unknown endpoint: %v", err)
	}

	d, err := s.Replay(ctx, "ten", "msg_3", "ep_2")
	if err != nil || d.MessageID != "msg_3" || d.EndpointID != "ep_2" || !slices.Contains(lg.enqueued, d) {
		t.Errorf("Replay: %+v, %v", d, err)
	}
	if _, err := s.Replay(ctx, "other", "msg_3", "ep_2"); !errors.Is(err, delivery.ErrNotFound) {
		t.Errorf("cross-tenant replay: %v", err)
	}
	if _, err := s.Replay(ctx, "ten", "msg_3", "ep_9"); !errors.Is(err, endpoints.ErrNotFound) {
		t.Errorf("unknown endpoint replay: %v", err)
	}
}

func TestCatalogue(t *testing.T) {
	s, _, _, _ := newTestService(nil)
	ctx := context.Background()
	for _, in := range []EventTypeInput{
		{Name: ""}, {Name: "a b"}, {Name: "a", Schema: json.RawMessage(`[1]`)}, {Name: "a", Schema: json.RawMessage(`"s"`)},
		{Name: "a", Schema: json.RawMessage(`{`)}, {Name: "a", Description: string(make([]byte, MaxDescription+1))},
	} {
		if _, _, err := s.PutEventType(ctx, in); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutEventType(%+v) = %v", in, err)
		}
	}
	et, created, err := s.PutEventType(ctx, EventTypeInput{Name: "device.enrolled", Schema: json.RawMessage(` {"type":"object"} `)})
	if err != nil || !created || string(et.Schema) != `{"type":"object"}` {
		t.Fatalf("create: %+v %v %v", et, created, err)
	}
	et2, created, err := s.PutEventType(ctx, EventTypeInput{Name: "device.enrolled", Schema: json.RawMessage(`null`)})
	if err != nil || created || et2.Schema != nil || !et2.CreatedAt.Equal(et.CreatedAt) {
		t.Errorf("replace: %+v %v %v", et2, created, err)
	}
}
