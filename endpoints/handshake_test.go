package endpoints

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/egress"
)

func handshakeTestClient() *http.Client {
	return egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
}

// handshakeTestServer answers every request with status and the given
// Allow header lines, and records the method it saw.
func handshakeTestServer(t *testing.T, status int, allow ...string) (*httptest.Server, *atomic.Value) {
	t.Helper()
	var method atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method.Store(r.Method)
		for _, a := range allow {
			w.Header().Add("Allow", a)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &method
}

func TestHandshakeStatusAndAllow(t *testing.T) {
	tests := []struct {
		name   string
		status int
		allow  []string
		ok     bool
	}{
		{"204 POST, OPTIONS", http.StatusNoContent, []string{"POST, OPTIONS"}, true},
		{"200 GET, post", http.StatusOK, []string{"GET, post"}, true},
		{"POST on a second Allow line", http.StatusOK, []string{"GET", "OPTIONS,POST"}, true},
		{"POST without spaces", http.StatusOK, []string{"GET,POST,PUT"}, true},
		{"POSTX is not POST", http.StatusOK, []string{"GET, POSTX"}, false},
		{"XPOST is not POST", http.StatusOK, []string{"XPOST"}, false},
		{"missing Allow", http.StatusNoContent, nil, false},
		{"empty Allow", http.StatusOK, []string{""}, false},
		{"405", http.StatusMethodNotAllowed, []string{"GET"}, false},
		{"500 even with POST", http.StatusInternalServerError, []string{"POST"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, method := handshakeTestServer(t, tt.status, tt.allow...)
			err := Handshake(context.Background(), handshakeTestClient(), srv.URL, time.Second)
			if got := method.Load(); got != http.MethodOptions {
				t.Errorf("server saw method %v, want OPTIONS", got)
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("Handshake = %v, want nil", err)
				}
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("Handshake = %v (%T), want *HandshakeError", err, err)
			}
			if !errors.Is(err, ErrHandshake) {
				t.Error("errors.Is(err, ErrHandshake) is false")
			}
			if he.Status != tt.status || he.Err != nil || he.URL != srv.URL {
				t.Errorf("HandshakeError = %+v, want Status %d, URL %s, no Err", he, tt.status, srv.URL)
			}
			if want := strings.Join(tt.allow, ", "); he.Allow != want {
				t.Errorf("Allow = %q, want %q", he.Allow, want)
			}
			if !strings.Contains(err.Error(), "need a 2xx with Allow containing POST") {
				t.Errorf("message %q does not say what is needed", err)
			}
		})
	}
}

func TestHandshake405Message(t *testing.T) {
	srv, _ := handshakeTestServer(t, http.StatusMethodNotAllowed, "GET")
	err := Handshake(context.Background(), handshakeTestClient(), srv.URL, time.Second)
	want := "OPTIONS " + srv.URL + `: got 405 with Allow "GET"; need a 2xx with Allow containing POST`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
}

func TestHandshakeRedirectNotFollowed(t *testing.T) {
	var targetHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		w.Header().Set("Allow", "POST")
	}))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusMovedPermanently))
	t.Cleanup(redirector.Close)

	// A client that would follow redirects: Handshake must not.
	client := handshakeTestClient()
	client.CheckRedirect = nil
	err := Handshake(context.Background(), client, redirector.URL, time.Second)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusMovedPermanently {
		t.Fatalf("Handshake = %v, want HandshakeError with Status 301", err)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("redirect target saw %d requests, want 0", n)
	}
	if client.CheckRedirect != nil {
		t.Error("Handshake modified the caller's client")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // never answers within the handshake timeout
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first, so srv.Close does not wait forever

	err := Handshake(context.Background(), handshakeTestClient(), srv.URL, 100*time.Millisecond)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Err == nil {
		t.Fatalf("Handshake = %v, want HandshakeError with Err", err)
	}
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("Err = %v (%T), want a timeout", he.Err, he.Err)
	}
	if !errors.Is(err, ErrHandshake) {
		t.Error("errors.Is(err, ErrHandshake) is false")
	}
	if want := "OPTIONS " + srv.URL + ": no answer within 100ms"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestHandshakeConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	err = Handshake(context.Background(), handshakeTestClient(), "http://"+addr+"/", time.Second)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Err == nil || he.Status != 0 {
		t.Fatalf("Handshake = %#v, want HandshakeError with Err and no Status", err)
	}
	if !errors.Is(err, ErrHandshake) {
		t.Error("errors.Is(err, ErrHandshake) is false")
	}
}

func TestHandshakeForbiddenAddress(t *testing.T) {
	srv, method := handshakeTestServer(t, http.StatusNoContent, "POST")
	client := egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowHTTP: true}})
	err := Handshake(context.Background(), client, srv.URL, time.Second)
	if !errors.Is(err, egress.ErrForbiddenAddress) {
		t.Fatalf("Handshake = %v, want egress.ErrForbiddenAddress", err)
	}
	if !errors.Is(err, ErrHandshake) {
		t.Error("errors.Is(err, ErrHandshake) is false")
	}
	if !strings.Contains(err.Error(), "forbidden address") {
		t.Errorf("message %q does not mention the forbidden address", err)
	}
	if method.Load() != nil {
		t.Error("server was reached")
	}
}

func TestHandshakeBadInput(t *testing.T) {
	if err := Handshake(context.Background(), nil, "http://127.0.0.1/", time.Second); !errors.Is(err, ErrHandshake) {
		t.Errorf("nil client: %v, want ErrHandshake", err)
	}
	if err := Handshake(context.Background(), handshakeTestClient(), "http://[::1", time.Second); !errors.Is(err, ErrHandshake) {
		t.Errorf("bad URL: %v, want ErrHandshake", err)
	}
}
