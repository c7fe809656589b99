package events

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestPublishRefusesBadData: invalid UTF-8 and deep nesting pass json.Valid but are refused, with the byte offset,
// by Publish, PublishTo and PublishBatch alike; data at the limit is taken.
func TestPublishRefusesBadData(t *testing.T) {
	eps := fakeEndpoints{{ID: "ep_1", TenantID: "ten", Events: []string{"*"}}}
	s, st, _, _ := newTestService(eps)
	ctx := context.Background()
	deep := func(n int) json.RawMessage {
		return json.RawMessage(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	cases := []struct {
		name   string
		data   json.RawMessage
		offset int
	}{
		{"invalid UTF-8 in a string", json.RawMessage("{\"name\":\"a\xffb\"}"), 10},
		{"truncated UTF-8 sequence", json.RawMessage("[\"\xe2\x82\"]"), 2},
		{"surrogate encoded in UTF-8", json.RawMessage("\"\xed\xa0\x80\""), 1},
		{"too deep", deep(MaxDataDepth + 1), MaxDataDepth},
		{"very deep, objects", json.RawMessage(strings.Repeat(`{"a":`, 9999) + "1" + strings.Repeat("}", 9999)), 5 * MaxDataDepth},
	}
	for _, c := range cases {
		check := func(call string, err error, field string) {
			t.Helper()
			var de *DataError
			if !errors.As(err, &de) || de.Field != field || de.Offset != c.offset || !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %s = %v, want a DataError on %s at byte %d", c.name, call, err, field, c.offset)
			}
		}
		_, _, _, err := s.Publish(ctx, "ten", PublishInput{Type: "a", Data: c.data})
		check("Publish", err, "data")
		_, _, err = s.PublishTo(ctx, "ten", "ep_1", PublishInput{Data: c.data})
		check("PublishTo", err, "data")
		_, err = s.PublishBatch(ctx, "ten", []PublishInput{{Type: "a"}, {Type: "a", Data: c.data}})
		check("PublishBatch", err, "events[1].data")
	}
	if len(st.published) != 0 {
		t.Fatalf("refused data reached the store")
	}
	for _, ok := range []json.RawMessage{
		deep(MaxDataDepth),
		json.RawMessage(`{"s":"[[[[{{{{ \" \\ ]]","é":"日本","e":"\ud83d\ude00"}`),
	} {
		if _, _, _, err := s.Publish(ctx, "ten", PublishInput{Type: "a", Data: ok}); err != nil {
			t.Errorf("Publish(%.40s) = %v, want it taken", ok, err)
		}
	}
}

// TestPublishRefusesMalformedData: data that is not one JSON value is refused as invalid JSON (a Go caller can pass
// any bytes; the API's decoder refuses them before), even when it also holds invalid UTF-8 or deep nesting.
func TestPublishRefusesMalformedData(t *testing.T) {
	eps := fakeEndpoints{{ID: "ep_1", TenantID: "ten", Events: []string{"*"}}}
	s, st, _, _ := newTestService(eps)
	ctx := context.Background()
	for _, data := range []string{`{"a":1,}`, `[1 2]`, `"\x"`, `01`, `{"a":1}{}`, `tru`, "[\"\xff\",", strings.Repeat("[", MaxDataDepth+1)} {
		_, _, _, err := s.Publish(ctx, "ten", PublishInput{Type: "a", Data: json.RawMessage(data)})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "data" || fe.Message != "is not valid JSON" || !errors.Is(err, ErrInvalid) {
			t.Errorf("Publish(%.20q) = %v, want data: is not valid JSON", data, err)
		}
	}
	if len(st.published) != 0 {
		t.Fatalf("refused data reached the store")
	}
}
