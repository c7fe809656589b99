package calls_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/gateway"
	"github.com/webhookd/webhookd/verifier"
	"github.com/webhookd/webhookd/wire"
)

// checkinBackend is a tenant's management backend for an Apple MDM server: it verifies every call with the verifier
// middleware (which also answers webhookd's OPTIONS handshake) and answers a check-in with exactly one manifest,
// or with a typed error the server understands.
func checkinBackend(keys []string, devices map[string][]json.RawMessage) (http.Handler, error) {
	v, err := verifier.New(verifier.Config{Keys: keys})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex // guards devices
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook/apple/checkin", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			UDID        string `json:"udid"`
			MessageType string `json:"messageType"`
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"_tag":"InternalServerError"}`)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		queue, known := devices[in.UDID]
		switch {
		case !known:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"_tag":"UnknownDevice"}`)
		case len(queue) > 0: // the next queued command
			devices[in.UDID] = queue[1:]
			fmt.Fprintf(w, `{"_tag":"Command","command":%s}`, queue[0])
		default:
			io.WriteString(w, `{"_tag":"Idle"}`)
		}
	})
	return v.Middleware(mux), nil
}

// manifestSchema is what a check-in answer must be: exactly one of Idle, Command or DdmSync.
const manifestSchema = `{
  "oneOf": [
    {"type": "object", "required": ["_tag"], "additionalProperties": false,
     "properties": {"_tag": {"const": "Idle"}}},
    {"type": "object", "required": ["_tag", "command"],
     "properties": {"_tag": {"const": "Command"}, "command": {"type": "object"}}},
    {"type": "object", "required": ["_tag", "serverToken"],
     "properties": {"_tag": {"const": "DdmSync"}, "serverToken": {"type": "string"}}}
  ]
}`

// The check-in walk-through of docs/management-calls.md: a tenant registers its management backend as a calls
// endpoint with the manifest schema; the console (here the Go client) calls it on every check-in.
func Example_checkin() {
	ctx := context.Background()
	base, stop := startWebhookd()
	defer stop()
	c := client.New(base, operatorToken)

	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // webhookd keys new makes one
	backend, err := checkinBackend([]string{secret}, map[string][]json.RawMessage{
		"d-1": {json.RawMessage(`{"RequestType":"DeviceInformation","Queries":["OSVersion"]}`)},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(backend)
	defer srv.Close()

	if _, err := c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"}); err != nil {
		log.Fatal(err)
	}
	kind := wire.KindCalls
	ep, err := c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: &srv.URL, Kind: &kind, Secret: &secret,
		Calls: &wire.CallSettings{Schemas: map[string]json.RawMessage{"/webhook/apple/checkin": json.RawMessage(manifestSchema)}}})
	if err != nil {
		log.Fatal(err)
	}
	for _, udid := range []string{"d-1", "d-1", "d-404"} {
		body := fmt.Appendf(nil, `{"udid":%q,"messageType":"TokenUpdate"}`, udid)
		res, err := c.Call(ctx, "acme", client.CallRequest(ep.ID, "/webhook/apple/checkin", body, time.Second))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(udid, res.Outcome, res.Status, res.Tag, string(res.Body))
	}
	// Output:
	// d-1 ok 200  {"_tag":"Command","command":{"RequestType":"DeviceInformation","Queries":["OSVersion"]}}
	// d-1 ok 200  {"_tag":"Idle"}
	// d-404 typed_error 404 UnknownDevice {"_tag":"UnknownDevice"}
}

const operatorToken = "operator-token-of-the-calls-example"

// startWebhookd runs webhookd in-process (package gateway, the embedded store in a temporary directory) and returns
// its URL and a function that stops it.
func startWebhookd() (string, func()) {
	dir, err := os.MkdirTemp("", "webhookd-calls-example")
	if err != nil {
		log.Fatal(err)
	}
	g, err := gateway.New(context.Background(), gateway.Config{
		Listen: "127.0.0.1:0", Data: dir, OperatorToken: operatorToken, Logger: slog.New(slog.DiscardHandler),
		Egress: egress.Policy{AllowHTTP: true, AllowPrivate: true}, // the backend is http on 127.0.0.1
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	return "http://" + g.Addr(), func() {
		cancel()
		<-done
		g.Close()
		os.RemoveAll(dir)
	}
}

// TestDocsShowTheExample keeps docs/management-calls.md true: the backend and the schema it shows are this file's,
// character for character.
func TestDocsShowTheExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/management-calls.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	for rest := string(doc); ; {
		_, after, ok := strings.Cut(rest, "<!-- from calls/example_test.go -->\n```go\n")
		if !ok {
			break
		}
		block, tail, ok := strings.Cut(after, "```\n")
		if !ok {
			t.Fatal("an unterminated code block")
		}
		if !strings.Contains(string(src), block) {
			t.Errorf("docs/management-calls.md shows code that calls/example_test.go does not hold:\n%s", block)
		}
		blocks++
		rest = tail
	}
	if blocks < 2 {
		t.Fatalf("docs/management-calls.md shows %d blocks of calls/example_test.go, want the backend and the schema", blocks)
	}
}
