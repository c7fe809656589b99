package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// lockedBuffer is a log sink shared by the gateway's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gatewayT is one in-process gateway.
type gatewayT struct {
	t     *testing.T
	base  string
	token string
	done  chan error
	stop  context.CancelFunc
}

// startGateway builds a gateway from cfg and runs it until the test ends (or g.shutdown).
func startGateway(t *testing.T, cfg Config) *gatewayT {
	t.Helper()
	gw, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gatewayT{t: t, base: "http://" + gw.Addr(), token: gw.OperatorToken(), done: make(chan error, 1), stop: cancel}
	go func() {
		err := gw.Run(ctx)
		if cerr := gw.Close(); err == nil {
			err = cerr
		}
		g.done <- err
	}()
	t.Cleanup(g.shutdown)
	return g
}

// shutdown cancels Run and waits for it to return nil.
func (g *gatewayT) shutdown() {
	if g.stop == nil {
		return
	}
	g.stop()
	g.stop = nil
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Errorf("gateway: %v", err)
		}
	case <-time.After(20 * time.Second):
		g.t.Error("Run did not return within 20s of cancel")
	}
}

// call sends a request with the bearer token (none when ""), requires status want, and decodes a JSON answer.
func (g *gatewayT) call(want int, method, path, token string, body any) map[string]any {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			g.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.base+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		g.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, out)
	}
	m := map[string]any{}
	if json.Valid(out) {
		json.Unmarshal(out, &m)
	}
	if len(out) > 0 && !json.Valid(out) {
		m["text"] = string(out)
	}
	return m
}

// hook is a verifying receiver: every verified POST is sent on got; the signature headers it saw are kept.
type hook struct {
	*httptest.Server
	got    chan map[string]any
	status atomic.Int32
	mu     sync.Mutex
	sigs   []string
}

func newHook(t *testing.T, keys ...string) *hook {
	t.Helper()
	v, err := verifier.New(verifier.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	h := &hook{got: make(chan map[string]any, 16)}
	h.status.Store(http.StatusNoContent)
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sig := r.Header.Get("webhook-signature"); sig != "" {
				h.mu.Lock()
				h.sigs = append(h.sigs, strings.Fields(sig)...)
				h.mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}
	h.Server = httptest.NewServer(record(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		res, _ := verifier.ResultFrom(r.Context())
		body["_verified_with_key"] = res.KeyIndex
		// The status is read before the test hears of this request, so that a status it sets after next returns
		// applies to the following requests only, never to this one.
		status := int(h.status.Load())
		h.got <- body
		w.WriteHeader(status)
	}))))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) signatures() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.sigs...)
}

// next waits for the hook's next verified message.
func (h *hook) next(t *testing.T, what string) map[string]any {
	t.Helper()
	select {
	case m := <-h.got:
		return m
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s within 15s", what)
		return nil
	}
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, _, err := profiles.Standard.GenerateKey(signing.HMAC)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
