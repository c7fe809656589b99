package gateway

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/internal/testredis"
)

// TestSlowClientsCutOff runs the real server on a real socket with a cap of 3 connections. Three idle clients fill
// it, so a fourth is not served until one goes; then unauthenticated clients dripping a body each get their 401 at
// once and are hung up on, so they hold no slot: another client is served right after.
func TestSlowClientsCutOff(t *testing.T) {
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Data: t.TempDir(), MaxConnections: 3,
		Logger: slog.New(slog.DiscardHandler)})
	addr := strings.TrimPrefix(g.base, "http://")
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// get sends GET /healthz on c and reads the answer, within d.
	get := func(c net.Conn, d time.Duration) error {
		c.SetDeadline(time.Now().Add(d))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}

	idle := []net.Conn{dial(), dial(), dial()}
	for _, c := range idle {
		if err := get(c, 5*time.Second); err != nil {
			t.Fatalf("idle client: %v", err)
		}
	}
	fourth := dial()
	if err := get(fourth, 300*time.Millisecond); err == nil {
		t.Fatalf("a fourth connection was served over a cap of 3")
	}
	for _, c := range idle {
		c.Close()
	}

	// Dripping unauthenticated clients, one after another on a cap of 3: each is answered and closed by the server.
	for i := range 6 {
		c := dial()
		br := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "POST /v1/tenants/acme/events HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n{")
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					if _, err := io.WriteString(c, " "); err != nil {
						return
					}
				}
			}
		}()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			close(stop)
			t.Fatalf("dripping client %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if _, err := br.ReadByte(); resp.StatusCode != 401 || err != io.EOF {
			close(stop)
			t.Fatalf("dripping client %d: %d, then %v; want 401 and the connection closed", i, resp.StatusCode, err)
		}
		close(stop)
	}
	if err := get(dial(), 5*time.Second); err != nil {
		t.Fatalf("after the dripping clients: %v", err)
	}
}

// TestLimitsSharedOnRedis: two gateways on one Redis are two replicas; a tenant token's rate holds across them, its
// burst spent half on each.
func TestLimitsSharedOnRedis(t *testing.T) {
	srv := testredis.StartServer(t) // private: the gateway's keys use the default prefix
	cfg := func() Config {
		return Config{Listen: "127.0.0.1:0", Data: t.TempDir(), Store: "redis://" + srv.Addr,
			OperatorToken: "operator-token-0123456789", Limits: api.Limits{TokenRate: 2}, // bursts of 4
			Logger: slog.New(slog.DiscardHandler)}
	}
	a, b := startGateway(t, cfg()), startGateway(t, cfg())
	a.call(201, "POST", "/v1/tenants", a.token, map[string]any{"id": "acme", "name": "Acme"})
	tok := a.call(201, "POST", "/v1/tenants/acme/tokens", a.token, map[string]any{"name": "t"})["token"].(string)
	for i := range 4 {
		[]*gatewayT{a, b}[i%2].call(200, "GET", "/v1/tenants/acme/endpoints", tok, nil)
	}
	for _, g := range []*gatewayT{a, b} {
		if m := g.call(429, "GET", "/v1/tenants/acme/endpoints", tok, nil); m["code"] != "rate_limited" {
			t.Errorf("over the shared rate: %v", m)
		}
	}
}

func TestConnectionCap(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, c := range []struct{ n, files, want int }{
		{0, 0, DefaultMaxConnections}, {0, 1024, 512}, {0, 1 << 20, DefaultMaxConnections}, {-1, 1024, 0},
		{5000, 4096, 2048}, {100, 4096, 100}, {10, 1, 1},
	} {
		if got := connectionCap(c.n, c.files, log); got != c.want {
			t.Errorf("connectionCap(%d, %d) = %d, want %d", c.n, c.files, got, c.want)
		}
	}
}
