package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/events"
)

func TestOrderingKeyValidation(t *testing.T) {
	s, _, _ := newBatchService(t)
	ctx := context.Background()
	for _, k := range []string{strings.Repeat("k", delivery.MaxOrderingKey+1), "dev\n1", "dév"} {
		_, _, _, err := s.Publish(ctx, tenant, events.PublishInput{Type: "device.enrolled", OrderingKey: k})
		var fe *events.FieldError
		if !errors.As(err, &fe) || fe.Field != "ordering_key" {
			t.Errorf("key %q: err = %v, want a field error on ordering_key", k, err)
		}
	}
	m, n, _, err := s.Publish(ctx, tenant, events.PublishInput{Type: "device.enrolled", OrderingKey: strings.Repeat("k", 128)})
	if err != nil || n == 0 || m.OrderingKey != strings.Repeat("k", 128) {
		t.Fatalf("128-byte key: %v %d %v", m, n, err)
	}
	for _, p := range []string{"device_id", "/a~2", strings.Repeat("/a", 200)} {
		_, _, err := s.PutEventType(ctx, events.EventTypeInput{Name: "device.enrolled", OrderingKeyPath: p})
		if !errors.Is(err, events.ErrInvalid) {
			t.Errorf("path %q: err = %v, want ErrInvalid", p, err)
		}
	}
}

// The catalogue's ordering_key_path gives events that carry no key one read from their data.
func TestOrderingKeyPath(t *testing.T) {
	s, bs, _ := newBatchService(t)
	ctx := context.Background()
	if _, _, err := s.PutEventType(ctx, events.EventTypeInput{Name: "device.enrolled", OrderingKeyPath: "/device/id"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		data, key, want string
		bad             bool
	}{
		{data: `{"device":{"id":"d-1"}}`, want: "d-1"},
		{data: `{"device":{"id":42}}`, want: "42"},
		{data: `{"device":{}}`, want: ""},
		{data: `{"device":{"id":"d-1"}}`, key: "mine", want: "mine"},
		{data: `{"device":{"id":{"x":1}}}`, bad: true},
		{data: `{"device":{"id":""}}`, bad: true},
	} {
		m, _, _, err := s.Publish(ctx, tenant, events.PublishInput{Type: "device.enrolled", Data: json.RawMessage(c.data), OrderingKey: c.key})
		if c.bad {
			if !errors.Is(err, events.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", c.data, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.data, err)
		}
		if m.OrderingKey != c.want {
			t.Errorf("%s: key %q, want %q", c.data, m.OrderingKey, c.want)
		}
		ds, err := bs.ListDeliveries(ctx, tenant, delivery.Filter{MessageID: m.ID})
		if err != nil || len(ds) == 0 {
			t.Fatalf("deliveries: %v %v", ds, err)
		}
		for _, d := range ds {
			if d.OrderingKey != c.want {
				t.Errorf("%s: delivery key %q, want %q", c.data, d.OrderingKey, c.want)
			}
		}
	}
	// Another type has no path: no key.
	m, _, _, err := s.Publish(ctx, tenant, events.PublishInput{Type: "app.installed", Data: json.RawMessage(`{"device":{"id":"d-1"}}`)})
	if err != nil || m.OrderingKey != "" {
		t.Fatalf("app.installed: key %q, %v", m.OrderingKey, err)
	}
}

// A batch keeps the order of its events with one key: each endpoint is handed them in the batch's order.
func TestPublishBatchKeepsKeyOrder(t *testing.T) {
	s, bs, _ := newBatchService(t)
	ctx := context.Background()
	var ins []events.PublishInput
	for i := range 60 {
		ins = append(ins, events.PublishInput{Type: "device.enrolled", OrderingKey: fmt.Sprintf("dev-%d", i%3),
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	res, err := s.PublishBatch(ctx, tenant, ins)
	if err != nil {
		t.Fatal(err)
	}
	order := map[string]int{} // message id → index in the batch
	for i, r := range res {
		order[r.Message.ID] = i
	}
	last := map[string]int{} // endpoint and key → last index handed out
	now := time.Now().Add(time.Hour)
	for handed := 0; ; {
		ts, err := bs.Claim(ctx, now, delivery.ClaimOptions{Max: 100, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 0 {
			if want := 60 * 2; handed != want { // ep_all and ep_dev take device.*
				t.Fatalf("handed out %d deliveries, want %d", handed, want)
			}
			return
		}
		for _, tk := range ts {
			i := order[tk.MessageID]
			k := tk.EndpointID + "/" + ins[i].OrderingKey
			if j, ok := last[k]; ok && j > i {
				t.Fatalf("%s: event %d after event %d", k, i, j)
			}
			last[k] = i
			handed++
			if err := bs.Ack(ctx, tk, delivery.Attempt{At: now, StatusCode: 200}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
