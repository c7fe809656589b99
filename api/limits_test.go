package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/wire"
)

// rateLimited checks a 429 rate_limited answer with a Retry-After of whole seconds.
func rateLimited(t *testing.T, e *env, method, path, token string, body any) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	if body != nil {
		req, _ = http.NewRequest(method, e.srv.URL+path, strings.NewReader(body.(string)))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%s %s: status %d, want 429; %s", method, path, resp.StatusCode, out)
	}
	if code, _, _ := errorOf(t, out); code != CodeRateLimited {
		t.Errorf("code %s, want rate_limited", code)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want whole seconds", resp.Header.Get("Retry-After"))
	}
	if !resp.Close {
		t.Errorf("429 without Connection: close")
	}
}

// TestRequestRates: a tenant token has its rate, its tenant (all its tokens) another; other tenants and the operator
// are not held back by them.
func TestRequestRates(t *testing.T) {
	e := newEnv(t, func(c *testConfig) { c.Limits = Limits{TokenRate: 2, TenantRate: 3} }) // bursts 4 and 6
	tokA := e.tenant("acme")
	tokA2 := e.tenant2("acme")
	tokB := e.tenant("beta")
	eps := "/v1/tenants/acme/endpoints"
	for range 4 {
		e.must(200, "GET", eps, tokA, nil)
	}
	rateLimited(t, e, "GET", eps, tokA, nil) // the token's burst is spent
	for range 2 {
		e.must(200, "GET", eps, tokA2, nil)
	}
	rateLimited(t, e, "GET", eps, tokA2, nil) // the tenant's is
	e.must(200, "GET", "/v1/tenants/beta/endpoints", tokB, nil)
	for range 20 {
		e.must(200, "GET", eps, opToken, nil)
	}
}

// tenant2 makes another token of an existing tenant.
func (e *env) tenant2(id string) string {
	e.t.Helper()
	return e.must(201, "POST", "/v1/tenants/"+id+"/tokens", opToken, map[string]any{"name": "second"})["token"].(string)
}

// TestAuthFailureThrottle: after its budget of failed authentications, an address gets 429 for every request that
// needs a token, whatever the token (valid, unknown, the operator's), so the answer tells nothing about tokens.
func TestAuthFailureThrottle(t *testing.T) {
	e := newEnv(t, func(c *testConfig) { c.Limits = Limits{AuthFailures: 3} })
	tok := e.tenant("acme")
	eps := "/v1/tenants/acme/endpoints"
	for range 3 {
		if status, body := e.do("GET", eps, "wht_guess", nil); status != 401 {
			t.Fatalf("bad token: %d %s", status, body)
		}
	}
	for _, token := range []string{"wht_guess", tok, opToken, ""} {
		rateLimited(t, e, "GET", eps, token, nil)
	}
	if status, _ := e.do("GET", HealthPath, "", nil); status != 200 {
		t.Errorf("healthz: %d", status)
	}
	for in, want := range map[string]string{
		"192.0.2.7:5000": "192.0.2.7", "[2001:db8:1:2:3:4:5:6]:80": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:1": "192.0.2.7",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestEndpointCapAndHandshakeRate: a tenant has at most MaxEndpoints endpoints, and a rate of URL checks that
// refused requests (validation) do not spend; the operator has no handshake rate.
func TestEndpointCapAndHandshakeRate(t *testing.T) {
	e := newEnv(t, func(c *testConfig) { c.Limits = Limits{MaxEndpoints: 3, HandshakeRate: 1} }) // burst 2
	tok := e.tenant("acme")
	rc := okReceiver(t)
	eps := "/v1/tenants/acme/endpoints"
	for range 5 {
		if status, body := e.do("POST", eps, tok, map[string]any{"url": rc.URL, "timeout": "1ms"}); status != 422 {
			t.Fatalf("invalid endpoint: %d %s", status, body)
		}
	}
	a := e.endpoint("acme", tok, map[string]any{"url": rc.URL})
	e.endpoint("acme", tok, map[string]any{"url": rc.URL})
	rateLimited(t, e, "POST", eps, tok, `{"url":"`+rc.URL+`"}`)
	rateLimited(t, e, "PATCH", eps+"/"+a, tok, `{"url":"`+rc.URL+`"}`)
	rateLimited(t, e, "POST", eps+"/"+a+"/enable", tok, nil)
	e.must(200, "PATCH", eps+"/"+a, tok, map[string]any{"description": "no URL, no handshake"})
	e.endpoint("acme", opToken, map[string]any{"url": rc.URL})
	status, body := e.do("POST", eps, opToken, map[string]any{"url": rc.URL})
	if code, _, _ := errorOf(t, body); status != 409 || code != CodeEndpointLimit {
		t.Fatalf("fourth endpoint: %d %s, want 409 endpoint_limit", status, body)
	}
	e.must(204, "DELETE", eps+"/"+a, opToken, nil)
	e.endpoint("acme", opToken, map[string]any{"url": rc.URL})
}

// TestEarlyAnswersCloseTheConnection, over real sockets: an unauthenticated client dripping a body gets its 401 at
// once and its connection closed, instead of net/http reading on (up to 256 KiB) for as long as it drips; an
// authenticated one that drips is cut off by the body read timeout (408), and a Content-Length over the limit is
// refused (413) before a byte of the body is read.
func TestEarlyAnswersCloseTheConnection(t *testing.T) {
	e := newEnv(t, func(c *testConfig) { c.BodyReadTimeout = 300 * time.Millisecond })
	e.tenant("acme")
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, c := range []struct {
		name, head string
		status     int
		resetOK    bool // the server may hang up with dripped bytes it never read still queued: a reset, not EOF
	}{
		{"no token, chunked", "POST /v1/tenants/acme/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 401, false},
		{"bad token, sized", "POST /v1/tenants/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Length: 100000\r\n\r\n", 401, false},
		{"unknown route", "POST /v1/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 404, false},
		{"operator, too large", "POST /v1/tenants/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + opToken + "\r\nContent-Length: 300000\r\n\r\n", 413, false},
		{"operator, dripping", "POST /v1/tenants/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + opToken + "\r\nTransfer-Encoding: chunked\r\n\r\n", 408, true},
		{"operator, sized, dripping", "POST /v1/tenants/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + opToken + "\r\nContent-Length: 1000\r\n\r\n", 408, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := io.WriteString(conn, c.head); err != nil {
				t.Fatal(err)
			}
			go func() { // drip a byte of body every 50 ms until the test ends or the server hangs up
				for i := 0; ; i++ {
					select {
					case <-ctx.Done():
						return
					case <-time.After(50 * time.Millisecond):
					}
					chunk := "1\r\n{\r\n"
					if !strings.Contains(c.head, "chunked") {
						chunk = " "
					}
					if _, err := io.WriteString(conn, chunk); err != nil {
						return
					}
				}
			}()
			start := time.Now()
			conn.SetReadDeadline(start.Add(5 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !resp.Close {
				t.Fatalf("status %d close %v, want %d with Connection: close", resp.StatusCode, resp.Close, c.status)
			}
			if _, err := br.ReadByte(); err != io.EOF && !(c.resetOK && errors.Is(err, syscall.ECONNRESET)) {
				t.Fatalf("after the answer: %v, want the connection closed (EOF)", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("answered and closed after %v", d)
			}
		})
	}
}

// TestShortBody, over a real socket: a body that ends before its Content-Length (the client half-closes) is a 400
// invalid_json saying it could not be read, and nothing is published.
func TestShortBody(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"type":"device.enrolled"}`
	req := "POST /v1/tenants/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + opToken +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)+20) + "\r\n\r\n" + body
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	var got wire.Error
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || got.Code != CodeInvalidJSON || !strings.Contains(got.Message, "could not be read") {
		t.Fatalf("short body: %d %+v, want 400 invalid_json, could not be read", resp.StatusCode, got)
	}
	if n := e.deliveryCount("acme"); n != 0 {
		t.Fatalf("%d deliveries after a refused publish", n)
	}
}
