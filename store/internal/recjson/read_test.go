package recjson

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/webhookd/webhookd/delivery"
)

// TestReadDelivery: every record AppendDelivery writes reads back as json.Unmarshal reads it, and the records the
// store writes on the hot path (plain, full) take the fast path.
func TestReadDelivery(t *testing.T) {
	for i, d := range deliveries(t) {
		b, err := AppendDelivery(nil, &d)
		if err != nil {
			continue // a time json.Marshal refuses too
		}
		var want delivery.Delivery
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		var got delivery.Delivery
		rest, ok := ReadDelivery(string(b), &got)
		if (i == 1 || i == 2) && !ok {
			t.Fatalf("record %d %s: not read by the fast path", i, b)
		}
		if !ok {
			continue
		}
		if rest != "}" || !reflect.DeepEqual(got, want) {
			t.Fatalf("record %d %s: rest %q\nfast %#v\njson %#v", i, b, rest, got, want)
		}
	}
	// What follows the record's fields is handed back: the embedded store's deferred flag.
	d := deliveries(t)[1]
	b, _ := AppendDelivery(nil, &d)
	js := string(b[:len(b)-1]) + `,"deferred":true}`
	var got delivery.Delivery
	if rest, ok := ReadDelivery(js, &got); !ok || rest != `,"deferred":true}` || got.ID != d.ID {
		t.Fatalf("deferred record: %q %v %+v", rest, ok, got)
	}
}

// FuzzReadDelivery: wherever the fast path reads a whole record, json.Unmarshal reads the same.
func FuzzReadDelivery(f *testing.F) {
	for _, d := range deliveries(f) {
		if b, err := AppendDelivery(nil, &d); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, js string) {
		var quick delivery.Delivery
		rest, ok := ReadDelivery(js, &quick)
		if !ok || rest != "}" {
			return
		}
		var slow delivery.Delivery
		if err := json.Unmarshal([]byte(js), &slow); err != nil {
			t.Fatalf("fast path read %q, json.Unmarshal refused it: %v", js, err)
		}
		if !reflect.DeepEqual(quick, slow) {
			t.Fatalf("%q:\nfast %#v\njson %#v", js, quick, slow)
		}
	})
}

// BenchmarkReadDelivery compares ReadDelivery with json.Unmarshal on a record as the store writes it.
func BenchmarkReadDelivery(b *testing.B) {
	d := deliveries(b)[1]
	js, _ := AppendDelivery(nil, &d)
	b.Run("recjson", func(b *testing.B) {
		var d delivery.Delivery
		for b.Loop() {
			if _, ok := ReadDelivery(string(js), &d); !ok {
				b.Fatal("not read")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var d delivery.Delivery
		for b.Loop() {
			if err := json.Unmarshal(js, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
