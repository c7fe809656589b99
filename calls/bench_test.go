package calls

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
)

// BenchmarkCall measures one call through the Service (sign, post, read, classify, schema check, log queue) against
// the same POST sent directly, to a loopback backend that answers at once: the difference is what package calls adds
// in process (the HTTP API in front of it is measured by webhookd-bench --scenarios calls).
func BenchmarkCall(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"_tag":"Idle"}`)
	}))
	defer srv.Close()
	body := []byte(`{"udid":"00008030-001A2D3C4E5F6071","messageType":"TokenUpdate","topic":"com.apple.mgmt.External.x"}`)
	b.Run("direct", func(b *testing.B) {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := hc.Post(srv.URL+"/webhook/apple/checkin", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})
	b.Run("service", func(b *testing.B) {
		ep, _ := callsEndpoint(b, srv.URL)
		ep.Calls = &endpoints.CallSettings{Schemas: map[string]json.RawMessage{"/webhook/apple/checkin": json.RawMessage(
			`{"oneOf":[{"properties":{"_tag":{"const":"Idle"}},"required":["_tag"]},{"properties":{"_tag":{"const":"Command"}},"required":["_tag","command"]}]}`)}}
		s := New(memEndpoints{"ep_1": ep}, discardLog{}, Config{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
		defer s.Close()
		req := Request{EndpointID: "ep_1", Path: "/webhook/apple/checkin", Body: body}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				res, err := s.Call(b.Context(), "acme", req)
				if err != nil || res.Outcome != OK {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
	})
}

type discardLog struct{}

func (discardLog) AddCalls(context.Context, []*Call) error { return nil }
func (discardLog) ListCalls(context.Context, string, string, string, int) ([]*Call, error) {
	return nil, nil
}
func (discardLog) PruneCalls(context.Context, time.Time) (int, error) { return 0, nil }
