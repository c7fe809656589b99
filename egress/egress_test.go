package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer starts an http server on 127.0.0.1 that counts requests
// and answers 200 "ok".
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestClientRefusesLoopback(t *testing.T) {
	srv, hits := countingServer(t)
	c := NewClient(ClientConfig{Policy: Policy{AllowHTTP: true}})
	_, err := get(t, c, srv.URL)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrForbiddenAddress", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("err = %T, want it to be a *url.Error", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("err = %q, want it to name the address and class", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestClientAllowPrivateReachesLoopback(t *testing.T) {
	srv, hits := countingServer(t)
	c := NewClient(ClientConfig{Policy: Policy{AllowHTTP: true, AllowPrivate: true}})
	resp, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// TestClientRebinding: the URL names a host, the check happens on the IP
// the name resolved to at dial time.
func TestClientRebinding(t *testing.T) {
	if _, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost"); err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	srv, hits := countingServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := NewClient(ClientConfig{Policy: Policy{AllowHTTP: true}})
	_, err := get(t, c, "http://localhost:"+port+"/")
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrForbiddenAddress", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	target, targetHits := countingServer(t)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirector.Close)

	c := NewClient(ClientConfig{Policy: Policy{AllowHTTP: true, AllowPrivate: true}})
	resp, err := get(t, c, redirector.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status = %d, want 302", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != target.URL {
		t.Errorf("Location = %q, want %q", loc, target.URL)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("redirect target saw %d requests, want 0", n)
	}
}

func TestClientUserAgent(t *testing.T) {
	uas := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uas <- r.Header.Get("User-Agent")
	}))
	t.Cleanup(srv.Close)
	p := Policy{AllowHTTP: true, AllowPrivate: true}

	for _, tt := range []struct {
		name, cfg, req, want string
	}{
		{"default", "", "", "webhookd/1"},
		{"configured", "custom/2", "", "custom/2"},
		{"request wins", "custom/2", "caller/3", "caller/3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(ClientConfig{Policy: p, UserAgent: tt.cfg})
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if tt.req != "" {
				req.Header.Set("User-Agent", tt.req)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := <-uas; got != tt.want {
				t.Errorf("User-Agent = %q, want %q", got, tt.want)
			}
			if tt.req == "" && req.Header.Get("User-Agent") != "" {
				t.Error("client modified the caller's request headers")
			}
		})
	}
}

func transportOf(t *testing.T, c *http.Client) *http.Transport {
	t.Helper()
	ua, ok := c.Transport.(*userAgentTransport)
	if !ok {
		t.Fatalf("Transport = %T", c.Transport)
	}
	return ua.base
}

func TestClientTransportConfig(t *testing.T) {
	c := NewClient(ClientConfig{})
	tr := transportOf(t, c)
	if tr == http.DefaultTransport {
		t.Error("uses http.DefaultTransport")
	}
	if tr.Proxy != nil {
		t.Error("Proxy is set; a proxy would bypass the address check")
	}
	//lint:ignore SA1019 the deprecated dialers would bypass DialContext's address check, so the test sees they are unset
	if tr.DialContext == nil || tr.DialTLSContext != nil || tr.DialTLS != nil || tr.Dial != nil {
		t.Error("want only DialContext set")
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Error("TLS MinVersion is not 1.2")
	}
	if !tr.ForceAttemptHTTP2 {
		t.Error("ForceAttemptHTTP2 is false")
	}
	if tr.MaxIdleConnsPerHost != 256 || tr.IdleConnTimeout != 90*time.Second || tr.DisableKeepAlives {
		t.Errorf("MaxIdleConnsPerHost=%d IdleConnTimeout=%s DisableKeepAlives=%v",
			tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.DisableKeepAlives)
	}
	if c.Timeout != 0 {
		t.Errorf("Client.Timeout = %s, want 0 (deadlines come from the context)", c.Timeout)
	}

	tr = transportOf(t, NewClient(ClientConfig{MaxIdleConnsPerHost: 3, IdleConnTimeout: time.Second}))
	if tr.MaxIdleConnsPerHost != 3 || tr.IdleConnTimeout != time.Second {
		t.Errorf("overrides ignored: %d %s", tr.MaxIdleConnsPerHost, tr.IdleConnTimeout)
	}
}

// TestClientHTTP2 checks that the custom dialer and TLS config still
// negotiate HTTP/2 and reuse the connection.
func TestClientHTTP2(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	c := NewClient(ClientConfig{Policy: Policy{AllowPrivate: true}})
	// Trust the test certificate without touching anything else.
	transportOf(t, c).TLSClientConfig.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for range 2 {
		resp, err := get(t, c, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("proto = %s, want HTTP/2", resp.Proto)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (reuse)", n)
	}
}

func TestCheckAllowed(t *testing.T) {
	tests := []struct {
		addr          string
		strict, loose bool // allowed by Policy{} / Policy{AllowPrivate: true}
	}{
		{"8.8.8.8", true, true},
		{"2606:4700:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.0.0.1", false, true},
		{"169.254.169.254", false, false}, // metadata: refused even with AllowPrivate
		{"fd00:ec2::254", false, false},
		{"169.254.1.1", false, true},
		{"64:ff9b::7f00:1", false, true},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		for _, pc := range []struct {
			p    Policy
			want bool
		}{{Policy{}, tt.strict}, {Policy{AllowPrivate: true}, tt.loose}} {
			err := pc.p.Allowed(a)
			if (err == nil) != pc.want {
				t.Errorf("%+v.Allowed(%s) = %v, want allowed=%v", pc.p, a, err, pc.want)
			}
			if err != nil && !errors.Is(err, ErrForbiddenAddress) {
				t.Errorf("%+v.Allowed(%s) = %v, want ErrForbiddenAddress", pc.p, a, err)
			}
		}
	}
	err := Policy{}.Allowed(netip.MustParseAddr("64:ff9b::7f00:1"))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("translated error %q does not name the embedded address", err)
	}
}

func TestCheckControl(t *testing.T) {
	var p Policy
	for _, tt := range []struct {
		address string
		ok      bool
	}{
		{"8.8.8.8:443", true},
		{"[2606:4700:4700::1111]:443", true},
		{"127.0.0.1:80", false},
		{"[::1]:80", false},
		{"[fe80::1%eth0]:80", false},
		{"[::ffff:169.254.169.254]:80", false},
		{"localhost:80", false}, // not an IP: fail closed
		{"", false},
	} {
		err := p.Control("tcp", tt.address, nil)
		if (err == nil) != tt.ok {
			t.Errorf("Control(%q) = %v, want ok=%v", tt.address, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Control(%q) = %v, want ErrForbiddenAddress", tt.address, err)
		}
	}
}

func TestCheckResolve(t *testing.T) {
	ctx := context.Background()
	var p Policy
	for _, host := range []string{"127.0.0.1", "[::1]", "::1", "169.254.169.254", "10.0.0.1"} {
		if err := p.Resolve(ctx, host); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Resolve(%q) = %v, want ErrForbiddenAddress", host, err)
		}
	}
	for _, host := range []string{"8.8.8.8", "[2606:4700:4700::1111]"} {
		if err := p.Resolve(ctx, host); err != nil {
			t.Errorf("Resolve(%q) = %v, want nil", host, err)
		}
	}
	if err := p.Resolve(ctx, ""); !errors.Is(err, ErrURL) {
		t.Errorf("Resolve(\"\") = %v, want ErrURL", err)
	}
	if err := (Policy{AllowPrivate: true}).Resolve(ctx, "127.0.0.1"); err != nil {
		t.Errorf("AllowPrivate Resolve(127.0.0.1) = %v", err)
	}
	if _, err := net.DefaultResolver.LookupNetIP(ctx, "ip", "localhost"); err == nil {
		err := p.Resolve(ctx, "localhost")
		if !errors.Is(err, ErrForbiddenAddress) || !strings.Contains(err.Error(), "localhost resolves to") {
			t.Errorf("Resolve(localhost) = %v, want ErrForbiddenAddress naming the host", err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", MaxURLLength)
	tests := []struct {
		raw     string
		p       Policy
		wantErr error
	}{
		{"https://example.com/hook", Policy{}, nil},
		{"HTTPS://Example.com:8443/hook?x=1", Policy{}, nil},
		{"https://[2001:db8::1]/", Policy{}, nil}, // syntax only: addresses are Resolve's job
		{"http://example.com/", Policy{}, ErrScheme},
		{"http://example.com/", Policy{AllowHTTP: true}, nil},
		{"ftp://example.com/", Policy{}, ErrScheme},
		{"ftp://example.com/", Policy{AllowHTTP: true}, ErrScheme},
		{"javascript:alert(1)", Policy{AllowHTTP: true}, ErrScheme},
		{"https://user:pass@example.com/", Policy{}, ErrURL},
		{"https://user@example.com/", Policy{}, ErrURL},
		{"https:///path", Policy{}, ErrURL},
		{"https://:443/", Policy{}, ErrURL},
		{"https:opaque", Policy{}, ErrURL},
		{"//example.com/", Policy{}, ErrURL},
		{"/relative", Policy{}, ErrURL},
		{"", Policy{}, ErrURL},
		{"https://example.com/#frag", Policy{}, ErrURL},
		{"https://example.com/#", Policy{}, ErrURL},
		{"https://example.com:0/", Policy{}, ErrURL},
		{"https://example.com:65536/", Policy{}, ErrURL},
		{"https://exa mple.com/", Policy{}, ErrURL},
		{"https://example.com/\x00", Policy{}, ErrURL},
		{long, Policy{}, ErrURL},
		{long[:MaxURLLength], Policy{}, nil},
	}
	for _, tt := range tests {
		u, err := tt.p.CheckURL(tt.raw)
		name := tt.raw
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("%+v.CheckURL(%q) = %v, want nil", tt.p, name, err)
		case tt.wantErr == nil && u == nil:
			t.Errorf("%+v.CheckURL(%q) returned a nil URL", tt.p, name)
		case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
			t.Errorf("%+v.CheckURL(%q) = %v, want %v", tt.p, name, err, tt.wantErr)
		}
	}
	if _, err := (Policy{}).CheckURL("https://user:secret@example.com/"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("userinfo error %q leaks the password", err)
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hook", "http://example.com", "ftp://x/", "HTTPS://A:1/",
		"https://u@h/", "https://h/#f", "https:opaque", "//h/p", "https://[::1%25eth0]:8443/x?y=z",
		"hTTp://h", "https://h:0", "http\x00s://h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, p := range []Policy{{}, {AllowHTTP: true}} {
			u, err := p.CheckURL(raw)
			if err != nil {
				if u != nil {
					t.Fatalf("CheckURL(%q) returned both a URL and %v", raw, err)
				}
				if !errors.Is(err, ErrURL) && !errors.Is(err, ErrScheme) {
					t.Fatalf("CheckURL(%q) = %v, want ErrURL or ErrScheme", raw, err)
				}
				continue
			}
			if u.Scheme != "https" && !(p.AllowHTTP && u.Scheme == "http") {
				t.Fatalf("%+v.CheckURL(%q) accepted scheme %q", p, raw, u.Scheme)
			}
			// The scheme checked must be the one the raw string starts with.
			scheme, _, _ := strings.Cut(raw, ":")
			if !strings.EqualFold(scheme, u.Scheme) {
				t.Fatalf("CheckURL(%q) checked scheme %q, raw starts with %q", raw, u.Scheme, scheme)
			}
			if u.Hostname() == "" || u.User != nil || u.Fragment != "" || len(raw) > MaxURLLength {
				t.Fatalf("CheckURL(%q) accepted %#v", raw, u)
			}
		}
	})
}

// TestClientKeepsAConnectionPerConcurrentRequest: rounds of 200 requests at once to one host (more than the 64 idle
// connections the client once kept) dial 200 connections in the first round and none after: a request that
// finishes leaves its connection for the next instead of closing it.
func TestClientKeepsAConnectionPerConcurrentRequest(t *testing.T) {
	const n = 200
	var dialled atomic.Int64
	var arrived atomic.Int64
	var round atomic.Pointer[chan struct{}]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gate := *round.Load()
		if arrived.Add(1)%n == 0 {
			close(gate) // all n are in flight: each holds its own connection
		}
		<-gate
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewClient(ClientConfig{Policy: Policy{AllowHTTP: true, AllowPrivate: true}})
	for r := range 3 {
		gate := make(chan struct{})
		round.Store(&gate)
		errs := make(chan error, n)
		for range n {
			go func() {
				resp, err := c.Get(srv.URL)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if got := dialled.Load(); got != n {
			t.Fatalf("after round %d: %d connections dialled, want %d (one per request in flight, then reused)", r+1, got, n)
		}
	}
}
