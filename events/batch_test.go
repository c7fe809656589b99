package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// These tests run PublishBatch on the embedded store, with four endpoints of tenant "ten": "*", "device.*",
// "app.installed" and a disabled "*". So device.* events fan out to 2, app.installed to 2, anything else to 1.

const tenant = "ten"

type wakeCount struct{ n atomic.Int32 }

func (w *wakeCount) Wake()      { w.n.Add(1) }
func (w *wakeCount) count() int { return int(w.n.Load()) }

// batchStore is the bolt store with what its events.Store sees wrapped: it tracks how many publishes run at once and
// fails the publish of any message of type failType.
type batchStore struct {
	*boltstore.Store
	failType  string
	cur, peak atomic.Int32
}

var errBoom = errors.New("boom")

func (s *batchStore) Publish(ctx context.Context, m *delivery.Message, ds []*delivery.Delivery, idemSince time.Time) (*delivery.Message, int, bool, error) {
	n := s.cur.Add(1)
	defer s.cur.Add(-1)
	for p := s.peak.Load(); n > p; p = s.peak.Load() {
		if s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if m.Type == s.failType && s.failType != "" {
		return nil, 0, false, errBoom
	}
	return s.Store.Publish(ctx, m, ds, idemSince)
}

func newBatchService(t *testing.T) (*events.Service, *batchStore, *wakeCount) {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, e := range []*endpoints.Endpoint{
		{ID: "ep_all", Events: []string{"*"}},
		{ID: "ep_dev", Events: []string{"device.*"}},
		{ID: "ep_app", Events: []string{"app.installed"}},
		{ID: "ep_off", Events: []string{"*"}, Disabled: true},
	} {
		e.TenantID = tenant
		if err := st.CreateEndpoint(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	bs := &batchStore{Store: st}
	w := new(wakeCount)
	return events.NewService(bs, events.Config{Endpoints: st, Log: st, Queue: st, Waker: w}), bs, w
}

// deliveries counts the stored deliveries of a message, or of the whole tenant when msg is "".
func deliveries(t *testing.T, st *batchStore, msg string) int {
	t.Helper()
	ds, err := st.ListDeliveries(context.Background(), tenant, delivery.Filter{MessageID: msg, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

func TestPublishBatch(t *testing.T) {
	s, st, w := newBatchService(t)
	ctx := context.Background()
	ts := time.Date(2026, 4, 15, 11, 0, 0, 0, time.UTC)
	ins := []events.PublishInput{
		{Type: "device.enrolled", ID: "evt-1", Data: json.RawMessage(`{"device": "d-1"}`), Timestamp: &ts},
		{Type: "audit.login", ID: "evt-2"},
		{Type: "app.installed", ID: "evt-3", Data: json.RawMessage(`[1, 2]`)},
		{Type: "device.removed", ID: "evt-4"},
	}
	wantFanout := []int{2, 1, 2, 2}
	res, err := s.PublishBatch(ctx, tenant, ins)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(ins) {
		t.Fatalf("%d results for %d events", len(res), len(ins))
	}
	seen := map[string]bool{}
	for i, r := range res {
		m := r.Message
		if m == nil || m.Type != ins[i].Type || m.IdempotencyKey != ins[i].ID || r.Fanout != wantFanout[i] || r.Existing || seen[m.ID] {
			t.Fatalf("result %d: %+v (message %+v), want type %s, fan-out %d, new", i, r, m, ins[i].Type, wantFanout[i])
		}
		seen[m.ID] = true
		got, err := st.GetMessage(ctx, tenant, m.ID)
		if err != nil || got.Type != m.Type {
			t.Errorf("stored message %d: %+v, %v", i, got, err)
		}
		if n := deliveries(t, st, m.ID); n != wantFanout[i] {
			t.Errorf("message %d has %d deliveries, want %d", i, n, wantFanout[i])
		}
	}
	if string(res[0].Message.Data) != `{"device": "d-1"}` || !res[0].Message.Timestamp.Equal(ts) || string(res[1].Message.Data) != "{}" {
		t.Errorf("data or timestamp not kept: %+v, %+v", res[0].Message, res[1].Message)
	}
	if w.count() != 1 {
		t.Errorf("%d wakes, want 1", w.count())
	}

	// The same batch again: every event is an idempotent repeat of the first batch's; nothing is written or woken.
	again, err := s.PublishBatch(ctx, tenant, ins)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if !r.Existing || r.Message.ID != res[i].Message.ID || r.Fanout != wantFanout[i] {
			t.Errorf("repeat %d: %+v, want message %s, fan-out %d, existing", i, r, res[i].Message.ID, wantFanout[i])
		}
	}
	if n := deliveries(t, st, ""); n != 7 {
		t.Errorf("%d deliveries after a repeated batch, want 7", n)
	}
	if w.count() != 1 {
		t.Errorf("%d wakes after a repeated batch, want 1", w.count())
	}
}

func TestPublishBatchDuplicateIDs(t *testing.T) {
	s, st, _ := newBatchService(t)
	res, err := s.PublishBatch(context.Background(), tenant, []events.PublishInput{
		{Type: "device.enrolled", ID: "x"},
		{Type: "audit.login", ID: "y"},
		{Type: "audit.logout", ID: "x"}, // a repeat of the first event: its type is not looked at
		{Type: "audit.login"},
		{Type: "audit.login"}, // no id: a new message each time
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[2]; r.Message.ID != res[0].Message.ID || r.Fanout != 2 || !r.Existing || res[0].Existing {
		t.Errorf("in-batch repeat: %+v; first %+v", r, res[0])
	}
	if res[3].Existing || res[4].Existing || res[3].Message.ID == res[4].Message.ID {
		t.Errorf("events without an id: %+v, %+v", res[3], res[4])
	}
	if n := deliveries(t, st, ""); n != 2+1+1+1 {
		t.Errorf("%d deliveries stored, want 5", n)
	}
}

func TestPublishBatchValidation(t *testing.T) {
	s, st, w := newBatchService(t)
	ctx := context.Background()
	ok := events.PublishInput{Type: "device.enrolled", ID: "ok-1"}
	for _, c := range []struct {
		name  string
		ins   []events.PublishInput
		field string
	}{
		{"empty", nil, "events"},
		{"too many", make([]events.PublishInput, events.MaxBatchEvents+1), "events"},
		{"no type", []events.PublishInput{ok, {}}, "events[1].type"},
		{"bad type", []events.PublishInput{{Type: "a b"}, ok}, "events[0].type"},
		{"bad data", []events.PublishInput{ok, ok, {Type: "a", Data: json.RawMessage(`{"a":`)}}, "events[2].data"},
		{"bad id", []events.PublishInput{ok, {Type: "a", ID: "a b"}}, "events[1].id"},
		{"first of two", []events.PublishInput{ok, {Type: "a", ID: "a b"}, {}}, "events[1].id"},
	} {
		_, err := s.PublishBatch(ctx, tenant, c.ins)
		fe, isField := errors.AsType[*events.FieldError](err)
		if !isField || fe.Field != c.field || !errors.Is(err, events.ErrInvalid) {
			t.Errorf("%s: %v, want a FieldError on %s", c.name, err, c.field)
		}
	}
	if n := deliveries(t, st, ""); n != 0 || w.count() != 0 {
		t.Errorf("invalid batches stored %d deliveries and woke %d times", n, w.count())
	}
	if res, err := s.PublishBatch(ctx, tenant, []events.PublishInput{ok}); err != nil || res[0].Existing {
		t.Errorf("the valid event of the refused batches was stored: %+v, %v", res, err)
	}
}

func TestPublishBatchLimits(t *testing.T) {
	s, st, w := newBatchService(t)
	ins := make([]events.PublishInput, events.MaxBatchEvents)
	for i := range ins {
		ins[i] = events.PublishInput{Type: "audit.login", ID: fmt.Sprintf("evt-%d", i)}
	}
	res, err := s.PublishBatch(context.Background(), tenant, ins)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Message == nil || r.Message.IdempotencyKey != ins[i].ID || r.Existing || r.Fanout != 1 {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if p := st.peak.Load(); p > 16 {
		t.Errorf("%d store publishes at once, want at most 16", p)
	}
	if n := deliveries(t, st, ""); n != events.MaxBatchEvents || w.count() != 1 {
		t.Errorf("%d deliveries, %d wakes; want %d, 1", n, w.count(), events.MaxBatchEvents)
	}
}

func TestPublishBatchStoreError(t *testing.T) {
	s, st, _ := newBatchService(t)
	st.failType = "fail.me"
	_, err := s.PublishBatch(context.Background(), tenant, []events.PublishInput{
		{Type: "audit.login", ID: "a"}, {Type: "audit.login"}, {Type: "fail.me", ID: "c"}, {Type: "audit.login", ID: "d"},
	})
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "event 2:") || errors.Is(err, events.ErrInvalid) {
		t.Fatalf("PublishBatch = %v, want the store's error for event 2", err)
	}
	// Some events may have been stored; a retry without the failure answers those with ids as repeats.
	st.failType = ""
	res, err := s.PublishBatch(context.Background(), tenant, []events.PublishInput{{Type: "fail.me", ID: "c"}})
	if err != nil || res[0].Existing {
		t.Errorf("retry of the failed event: %+v, %v", res, err)
	}
}

// manyStore is batchStore as an events.ManyPublisher: PublishMany runs its Publish for each publication in turn
// and records how many each call was handed.
type manyStore struct {
	*batchStore
	mu     sync.Mutex
	chunks []int
}

func (s *manyStore) PublishMany(ctx context.Context, ps []events.Publication) []events.Published {
	s.mu.Lock()
	s.chunks = append(s.chunks, len(ps))
	s.mu.Unlock()
	out := make([]events.Published, len(ps))
	for i, p := range ps {
		r := &out[i]
		r.Message, r.Fanout, r.Existing, r.Err = s.Publish(ctx, p.Message, p.Deliveries, p.IdemSince)
	}
	return out
}

// TestPublishBatchMany: a store that publishes many at once is handed the batch's distinct events in chunks of 64,
// in order, instead of one Publish each; results and in-batch repeats are as with Publish, and after a chunk with a
// failure no further chunk is handed over.
func TestPublishBatchMany(t *testing.T) {
	newMany := func(t *testing.T) (*events.Service, *manyStore) {
		_, bs, w := newBatchService(t)
		ms := &manyStore{batchStore: bs}
		return events.NewService(ms, events.Config{Endpoints: bs.Store, Log: bs.Store, Queue: bs.Store, Waker: w}), ms
	}
	t.Run("results", func(t *testing.T) {
		s, ms := newMany(t)
		var ins []events.PublishInput
		for i := range 140 {
			in := events.PublishInput{Type: "device.enrolled", ID: fmt.Sprintf("e-%d", i)}
			if i%10 == 9 {
				in.ID = fmt.Sprintf("e-%d", i-1) // a repeat of the event before it
			}
			ins = append(ins, in)
		}
		res, err := s.PublishBatch(context.Background(), tenant, ins)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(ms.chunks); got != "[64 62]" {
			t.Errorf("chunks %s, want [64 62] (126 distinct events)", got)
		}
		for i, r := range res {
			repeat := i%10 == 9
			if r.Message == nil || r.Fanout != 2 || r.Existing != repeat || (repeat && r.Message.ID != res[i-1].Message.ID) {
				t.Fatalf("result %d: %+v", i, r)
			}
		}
		if n := deliveries(t, ms.batchStore, ""); n != 126*2 {
			t.Errorf("%d deliveries stored, want %d", n, 126*2)
		}
		if ms.peak.Load() != 1 {
			t.Errorf("%d Publish calls at once, want PublishMany's 1", ms.peak.Load())
		}
	})
	t.Run("failure", func(t *testing.T) {
		s, ms := newMany(t)
		ms.failType = "fail.me"
		ins := make([]events.PublishInput, 200)
		for i := range ins {
			ins[i] = events.PublishInput{Type: "audit.login", ID: fmt.Sprintf("f-%d", i)}
		}
		ins[70].Type = "fail.me"
		_, err := s.PublishBatch(context.Background(), tenant, ins)
		if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "event 70:") {
			t.Fatalf("PublishBatch = %v, want the store's error for event 70", err)
		}
		if got := fmt.Sprint(ms.chunks); got != "[64 64]" {
			t.Errorf("chunks %s, want [64 64]: nothing after the chunk that failed", got)
		}
	})
}
