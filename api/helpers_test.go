package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

const opToken = "operator-token-for-tests-0123456789"

// env is one API server over a fresh bolt store.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	s      *server
	store  *boltstore.Store
	expect *http.Client // for large bodies (do), made on first use
}

// largeBody is the body size above which do asks for the server's go-ahead before sending it.
const largeBody = 32 << 10

// testPolicy lets tests register httptest receivers (http on 127.0.0.1).
var testPolicy = egress.Policy{AllowHTTP: true, AllowPrivate: true}

// testConfig is what newEnv's options may change: the API's Config, and the settings of the services it is given.
type testConfig struct {
	Config
	URLPolicy egress.Policy // of the endpoints service; defaults to testPolicy
	Waker     events.Waker  // of the events service; defaults to none
	// AllowTenantDeletion is the tenants service's AllowDeletion.
	AllowTenantDeletion bool
}

// testDeps builds the services over st as the gateway does, each with its own settings.
func testDeps(st *boltstore.Store, policy egress.Policy, waker events.Waker) Deps {
	return Deps{
		Tenants:   tenants.NewService(st, tenants.ServiceConfig{}),
		Endpoints: endpoints.NewService(st, endpoints.Config{Policy: policy}),
		Events:    events.NewService(st, events.Config{Endpoints: st, Log: st, Queue: st, Waker: waker}),
		Log:       st,
		Calls:     calls.New(st, st, calls.Config{Policy: policy}),
	}
}

func newEnv(t *testing.T, mutate ...func(*testConfig)) *env {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := testConfig{
		Config:    Config{OperatorToken: opToken, Logger: slog.New(slog.DiscardHandler)},
		URLPolicy: testPolicy,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	deps := testDeps(st, cfg.URLPolicy, cfg.Waker)
	deps.Tenants = tenants.NewService(st, tenants.ServiceConfig{AllowDeletion: cfg.AllowTenantDeletion})
	s, err := newServer(cfg.Config, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.handler())
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, s: s, store: st}
}

// do sends a request with token as a bearer token ("raw:" + value sets the whole Authorization header); body is a string sent as is, nil for none, or any other value as JSON.
func (e *env) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if raw, ok := strings.CutPrefix(token, "raw:"); ok {
		req.Header.Set("Authorization", raw)
	} else if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := e.srv.Client()
	if req.ContentLength > largeBody {
		// Wait for the server's go-ahead (Expect: 100-continue, as curl sends for a large body). A server that refuses
		// the body by its Content-Length answers without reading it and closes the connection; a client still
		// writing the body could meet that close as a broken pipe instead of reading the answer.
		req.Header.Set("Expect", "100-continue")
		client = e.expectClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// expectClient returns a client that honours Expect: 100-continue (the test server's own sends the body at once).
func (e *env) expectClient() *http.Client {
	if e.expect == nil {
		tr := e.srv.Client().Transport.(*http.Transport).Clone()
		tr.ExpectContinueTimeout = 10 * time.Second
		e.t.Cleanup(tr.CloseIdleConnections)
		e.expect = &http.Client{Transport: tr}
	}
	return e.expect
}

// must sends a request, requires status want and decodes the answer into a map.
func (e *env) must(want int, method, path, token string, body any) map[string]any {
	e.t.Helper()
	status, out := e.do(method, path, token, body)
	if status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, out)
	}
	m := map[string]any{}
	if len(out) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, out)
		}
	}
	return m
}

// tenant creates a tenant and a token for it.
func (e *env) tenant(id string) (token string) {
	e.t.Helper()
	e.must(201, "POST", "/v1/tenants", opToken, map[string]any{"id": id, "name": "Tenant " + id})
	tok := e.must(201, "POST", "/v1/tenants/"+id+"/tokens", opToken, map[string]any{"name": "ci"})
	return tok["token"].(string)
}

// endpoint creates an endpoint and returns its id.
func (e *env) endpoint(tenant, token string, body map[string]any) string {
	e.t.Helper()
	return e.must(201, "POST", "/v1/tenants/"+tenant+"/endpoints", token, body)["id"].(string)
}

// receiver is an httptest server that answers the handshake with optStatus and Allow, and records POSTs.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	posts []*http.Request
	got   chan *http.Request // every POST, for tests that wait for a delivery
}

func newReceiver(t *testing.T, optStatus int, allow string) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan *http.Request, 64)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodOptions:
			if allow != "" {
				w.Header().Set("Allow", allow)
			}
			w.WriteHeader(optStatus)
		case http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			rc.mu.Lock()
			rc.posts = append(rc.posts, r)
			rc.mu.Unlock()
			select {
			case rc.got <- r:
			default:
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// okReceiver passes the handshake.
func okReceiver(t *testing.T) *receiver { return newReceiver(t, http.StatusNoContent, "OPTIONS, POST") }

// errorOf decodes an error answer and checks its shape.
func errorOf(t *testing.T, body []byte) (code, field string, m map[string]any) {
	t.Helper()
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error answer is not JSON: %q", body)
	}
	code, _ = m["code"].(string)
	msg, _ := m["message"].(string)
	if code == "" || msg == "" {
		t.Fatalf("error answer lacks code or message: %s", body)
	}
	field, _ = m["field"].(string)
	return code, field, m
}
