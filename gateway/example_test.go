package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/gateway"
	"github.com/webhookd/webhookd/verifier"
)

// Example embeds webhookd in a Go program: a gateway on the embedded store in a temporary directory, an endpoint on a
// receiver that verifies every request with the verifier package, and one published event that arrives verified.
// The program talks to the gateway over its HTTP API, as any console would.
func Example() {
	dir, err := os.MkdirTemp("", "webhookd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The receiver: it knows the endpoint's secret and accepts only requests signed with it (the verifier also
	// answers the gateway's OPTIONS handshake).
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	v, err := verifier.New(verifier.Config{Keys: []string{secret}})
	if err != nil {
		log.Fatal(err)
	}
	delivered := make(chan string, 1)
	receiver := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var event struct {
			Type string `json:"type"`
			Data struct {
				Device string `json:"device"`
			} `json:"data"`
		}
		json.NewDecoder(r.Body).Decode(&event)
		delivered <- event.Type + " " + event.Data.Device
		w.WriteHeader(http.StatusNoContent)
	})))
	defer receiver.Close()

	// The gateway: the receiver is on http://127.0.0.1, which the default policy (https, public addresses) refuses.
	const token = "operator-token-of-the-example-0123456789"
	g, err := gateway.New(context.Background(), gateway.Config{
		Listen:        "127.0.0.1:0",
		Data:          dir,
		OperatorToken: token,
		Egress:        egress.Policy{AllowPrivate: true, AllowHTTP: true},
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { stop(); <-done }()

	call := func(method, path string, body any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, "http://"+g.Addr()+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			msg, _ := io.ReadAll(resp.Body)
			log.Fatalf("%s %s: %s: %s", method, path, resp.Status, msg)
		}
		fmt.Println(method, path, resp.StatusCode)
	}
	call("POST", "/v1/tenants", map[string]any{"id": "acme", "name": "Acme"})
	call("POST", "/v1/tenants/acme/endpoints", map[string]any{
		"url": receiver.URL, "events": []string{"device.*"}, "secret": secret,
	})
	call("POST", "/v1/tenants/acme/events", map[string]any{"type": "device.enrolled", "data": map[string]any{"device": "d1"}})

	select {
	case got := <-delivered:
		fmt.Println("verified delivery:", got)
	case <-time.After(10 * time.Second):
		fmt.Println("no delivery")
	}
	// Output:
	// POST /v1/tenants 201
	// POST /v1/tenants/acme/endpoints 201
	// POST /v1/tenants/acme/events 202
	// verified delivery: device.enrolled d1
}
