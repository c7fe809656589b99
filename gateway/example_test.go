package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/gateway"
	"github.com/webhookd/webhookd/verifier"
	"github.com/webhookd/webhookd/wire"
)

// Example embeds webhookd in a Go program: a gateway on the embedded store in a temporary directory, an endpoint on a
// receiver that verifies every request with the verifier package, and one published event that arrives verified.
// The program talks to the gateway over its HTTP API with package client, as any Go console would.
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

	// The console side: the Go client over the gateway's API.
	c := client.New("http://"+g.Addr(), token)
	if _, err := c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"}); err != nil {
		log.Fatal(err)
	}
	url, events := receiver.URL, []string{"device.*"}
	ep, err := c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: &url, Events: &events, Secret: &secret})
	if err != nil {
		log.Fatal(err) // the handshake failed, or the URL was refused
	}
	fmt.Println("endpoint accepted, disabled:", ep.Disabled)
	res, err := c.Publish(ctx, "acme", wire.Event{Type: "device.enrolled", Data: []byte(`{"device": "d1"}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored for", res.Fanout, "endpoint")

	select {
	case got := <-delivered:
		fmt.Println("verified delivery:", got)
	case <-time.After(10 * time.Second):
		fmt.Println("no delivery")
	}
	// Output:
	// endpoint accepted, disabled: false
	// stored for 1 endpoint
	// verified delivery: device.enrolled d1
}
