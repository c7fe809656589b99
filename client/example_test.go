package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/gateway"
	"github.com/webhookd/webhookd/wire"
)

// operatorToken is the token the example's server is started with.
const operatorToken = "operator-token-for-the-example-0123"

// Example shows what a Go console does: create a tenant, register its endpoint, publish an event and read the
// delivery log. The server is a real webhookd API over the embedded store; the receiver is an httptest server.
func Example() {
	ctx := context.Background()
	serverURL, receiverURL, stop := startServer()
	defer stop()

	c := client.New(serverURL, operatorToken)

	tenant, err := c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme Corp"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "again"}); client.IsConflict(err) {
		fmt.Println("acme exists already")
	}

	url, events := receiverURL, []string{"device.*"}
	ep, err := c.CreateEndpoint(ctx, tenant.ID, wire.EndpointRequest{URL: &url, Events: &events})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("endpoint", ep.Profile, ep.Signing, ep.Events)

	// The event's ID is its idempotency key: publishing it again changes nothing.
	ev := wire.Event{Type: "device.enrolled", ID: "enroll-42", Data: []byte(`{"device_id": "42"}`)}
	for range 2 {
		res, err := c.Publish(ctx, tenant.ID, ev)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("fanout", res.Fanout, "duplicate", res.Duplicate)
	}

	for d, err := range c.Deliveries(ctx, tenant.ID, client.DeliveryFilter{Endpoint: ep.ID}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("delivery of", d.EventType, "to the endpoint:", d.EndpointID == ep.ID)
	}

	_, err = c.GetEndpoint(ctx, tenant.ID, "ep_none")
	fmt.Println("not found:", client.IsNotFound(err))
	// Output:
	// acme exists already
	// endpoint standard hmac [device.*]
	// fanout 1 duplicate false
	// fanout 1 duplicate true
	// delivery of device.enrolled to the endpoint: true
	// not found: true
}

// startServer starts webhookd in-process (package gateway, the embedded store in a temporary directory) and a
// receiver that accepts every delivery. It returns their URLs and a function that stops everything.
func startServer() (serverURL, receiverURL string, stop func()) {
	dir, err := os.MkdirTemp("", "webhookd-client-example")
	if err != nil {
		log.Fatal(err)
	}
	g, err := gateway.New(context.Background(), gateway.Config{
		Listen:        "127.0.0.1:0",
		Data:          dir,
		OperatorToken: operatorToken,
		Egress:        egress.Policy{AllowHTTP: true, AllowPrivate: true}, // the receiver is http on 127.0.0.1
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions { // the handshake every endpoint URL must pass
			w.Header().Set("Allow", "POST, OPTIONS")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return "http://" + g.Addr(), rcv.URL, func() {
		cancel()
		<-done
		g.Close()
		rcv.Close()
		os.RemoveAll(dir)
	}
}
