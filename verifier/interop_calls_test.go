package verifier_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/signing"
)

// A management call, as package calls sends it, is a webhook to the official libraries: the npm standardwebhooks
// package verifies it with either key during a rotation, and Node's crypto verifies its v1a signature.

type oneEndpoint struct{ ep *endpoints.Endpoint }

func (o oneEndpoint) GetEndpoint(_ context.Context, tenant, id string) (*endpoints.Endpoint, error) {
	if tenant != o.ep.TenantID || id != o.ep.ID {
		return nil, endpoints.ErrNotFound
	}
	return o.ep, nil
}

type noLog struct{}

func (noLog) AddCalls(context.Context, []*calls.Call) error { return nil }
func (noLog) ListCalls(context.Context, string, string, string, int) ([]*calls.Call, error) {
	return nil, nil
}
func (noLog) PruneCalls(context.Context, time.Time) (int, error) { return 0, nil }

func TestInteropNodeVerifiesACall(t *testing.T) {
	type captured struct {
		headers map[string]string
		body    []byte
	}
	var (
		mu  sync.Mutex
		got []captured
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for k := range r.Header {
			h[strings.ToLower(k)] = r.Header.Get(k)
		}
		mu.Lock()
		got = append(got, captured{h, b})
		mu.Unlock()
		io.WriteString(w, `{"_tag":"Idle"}`)
	}))
	defer backend.Close()

	oldKey, newKey := secretA, secretB
	now := time.Now()
	ep := &endpoints.Endpoint{ID: "ep_calls", TenantID: "acme", URL: backend.URL, Kind: endpoints.KindCalls,
		Profile: "standard", Algorithm: "hmac", Timeout: 2 * time.Second, Keys: []endpoints.Key{
			{Secret: newKey, CreatedAt: now},
			{Secret: oldKey, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}, // in its grace
			{Secret: privKey, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)},
		}}
	s := calls.New(oneEndpoint{ep}, noLog{}, calls.Config{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
	defer s.Close()
	bodies := []string{`{"udid":"00008030-001A","messageType":"TokenUpdate"}`, ` { "é" : "\u00e9", "n": [1, 2.50] } `, `null`}
	for _, b := range bodies {
		res, err := s.Call(t.Context(), "acme", calls.Request{EndpointID: "ep_calls", Path: "/webhook/apple/checkin", Body: json.RawMessage(b)})
		if err != nil || res.Outcome != calls.OK {
			t.Fatalf("call: %+v, %v", res, err)
		}
	}
	if len(got) != len(bodies) {
		t.Fatalf("the backend got %d calls", len(got))
	}

	type vcase struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    []byte            `json:"body"`
	}
	var cases []vcase
	for i, c := range got {
		if string(c.body) != strings.TrimSpace(bodies[i]) && string(c.body) != bodies[i] {
			t.Fatalf("call %d: the backend got %q, want %q", i, c.body, bodies[i])
		}
		if n := len(strings.Fields(c.headers["webhook-signature"])); n != 3 {
			t.Fatalf("call %d: %d signatures during the rotation, want 3 (v1 new, v1 old, v1a)", i, n)
		}
		cases = append(cases, vcase{newKey, c.headers, c.body}, vcase{oldKey, c.headers, c.body})
	}
	tampered := cases[0]
	tampered.Body = append([]byte(nil), `{"udid":"someone-else"}`...)
	cases = append(cases, tampered)
	var results []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	runNode(t, "verify-v1", cases, &results)
	if len(results) != len(cases) {
		t.Fatalf("%d results for %d cases", len(results), len(cases))
	}
	for i, r := range results[:len(results)-1] {
		if !r.OK {
			t.Errorf("case %d: standardwebhooks rejected a call: %s", i, r.Error)
		}
	}
	if last := results[len(results)-1]; last.OK {
		t.Error("negative control: standardwebhooks accepted a changed body")
	}

	// The v1a signature, with Node's own ed25519.
	pub := pubKey
	type v1a struct {
		Public    string `json:"public"`
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Signature string `json:"signature"`
		Body      []byte `json:"body"`
	}
	var acases []v1a
	for _, c := range got {
		var unix int64
		if err := json.Unmarshal([]byte(c.headers["webhook-timestamp"]), &unix); err != nil {
			t.Fatal(err)
		}
		acases = append(acases, v1a{pub, c.headers["webhook-id"], unix, c.headers["webhook-signature"], c.body})
	}
	var aresults []struct{ JWK, SPKI bool }
	runNode(t, "verify-v1a", acases, &aresults)
	for i, r := range aresults {
		if !r.JWK || !r.SPKI {
			t.Errorf("call %d: node:crypto rejected the v1a signature: %+v", i, r)
		}
	}
	if !strings.HasPrefix(got[0].headers["webhook-id"], signing.MessageIDPrefix) {
		t.Errorf("webhook-id %q", got[0].headers["webhook-id"])
	}
}
