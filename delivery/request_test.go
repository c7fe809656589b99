package delivery

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAttemptRecordsProfileHeaders: an attempt keeps the headers its profile set, exactly as sent, and never the
// endpoint's custom headers (they may carry credentials) or the User-Agent.
func TestAttemptRecordsProfileHeaders(t *testing.T) {
	var sent http.Header
	f := newFixture(t, func(r *http.Request) (*http.Response, error) {
		sent = r.Header.Clone()
		io.Copy(io.Discard, r.Body)
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
	})
	f.src.ep.Headers = map[string]string{"authorization": "Bearer receiver-credential", "X-Team": "fleet"}
	f.e.attempt(context.Background(), f.t, 0)
	c := f.q.last(t)
	if c.op != "ack" {
		t.Fatalf("call %+v", c)
	}
	got := c.a.Request
	for _, h := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "Content-Type"} {
		if got[h] == "" || got[h] != sent.Get(h) {
			t.Errorf("recorded %s = %q, sent %q", h, got[h], sent.Get(h))
		}
	}
	if got["Webhook-Id"] != f.src.msg.ID || !strings.HasPrefix(got["Webhook-Signature"], "v1,") {
		t.Errorf("recorded %v", got)
	}
	for k, v := range got {
		if strings.Contains(v, "receiver-credential") || k == "X-Team" || k == "User-Agent" {
			t.Errorf("recorded a custom header or the User-Agent: %s: %s", k, v)
		}
	}
	if sent.Get("Authorization") != "Bearer receiver-credential" {
		t.Errorf("the custom header was not sent: %v", sent)
	}
}
