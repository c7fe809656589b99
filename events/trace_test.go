package events

import (
	"context"
	"testing"
)

// TestTraceParentStored: Publish and PublishBatch store the traceparent WithTraceParent put in the context, and
// nothing without it.
func TestTraceParentStored(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	s, st, _, _ := newTestService(nil)
	traced := WithTraceParent(context.Background(), tp)
	if _, _, _, err := s.Publish(traced, "ten", PublishInput{Type: "a.b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishBatch(traced, "ten", []PublishInput{{Type: "a.b"}, {Type: "a.c"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Publish(context.Background(), "ten", PublishInput{Type: "a.b"}); err != nil {
		t.Fatal(err)
	}
	if len(st.published) != 4 {
		t.Fatalf("%d messages published, want 4", len(st.published))
	}
	for i, m := range st.published {
		want := tp
		if i == 3 {
			want = ""
		}
		if m.TraceParent != want {
			t.Errorf("message %d: traceparent %q, want %q", i, m.TraceParent, want)
		}
	}
}
