package client_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/verifier"
	"github.com/webhookd/webhookd/wire"
)

func TestCalls(t *testing.T) {
	c, _, _ := newTest(t)
	ctx := t.Context()
	must(c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"})).ok(t)
	secret := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := verifier.New(verifier.Config{Keys: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	backend := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		io.WriteString(w, `{"_tag": "DdmSync", "serverToken": "<t&1>"}`)
	})))
	defer backend.Close()
	ep := must(c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: ptr(backend.URL), Kind: ptr(wire.KindCalls),
		Secret: ptr(secret)})).ok(t)
	if ep.Kind != wire.KindCalls {
		t.Fatalf("kind %q", ep.Kind)
	}

	// The body goes byte for byte, the answer comes back byte for byte: no compaction, no HTML escaping.
	body := `{ "udid" : "d<1>" }`
	res := must(c.Call(ctx, "acme", client.CallRequest(ep.ID, "/webhook/apple/checkin", []byte(body), 2*time.Second))).ok(t)
	if sent := <-got; sent != body {
		t.Fatalf("the backend got %q, want %q", sent, body)
	}
	if res.Outcome != wire.OutcomeOK || string(res.Body) != `{"_tag": "DdmSync", "serverToken": "<t&1>"}` || res.Status != 200 {
		t.Fatalf("result %+v body %s", res, res.Body)
	}

	_, err = c.Call(ctx, "acme", client.CallRequest("ep_none", "/x", []byte(`{}`), 0))
	wantCode(t, err, 404, "not_found")
	_, err = c.Call(ctx, "acme", client.CallRequest(ep.ID, "/x", []byte(`{`), 0))
	if err == nil {
		t.Fatal("a body that is not JSON was sent")
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		calls := collect(t, c.Calls(ctx, "acme", ep.ID))
		if len(calls) == 1 {
			if calls[0].ID != res.ID || calls[0].Request != body || calls[0].Outcome != wire.OutcomeOK {
				t.Fatalf("log entry %+v", calls[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call log holds %d entries, want 1", len(calls))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
