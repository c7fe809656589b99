package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// hangFor bounds how long a hanging endpoint holds a request: past webhookd's 1 s attempt budget, so the gateway
// always gives up first.
const hangFor = 1500 * time.Millisecond

// receipt is one verified delivery: which endpoint, which message (webhook-id), and when its request arrived.
type receipt struct {
	ep int32
	at int64 // ns since the run's clock base
	id string
}

// receiver is the loopback HTTP server every endpoint of a run points at (/ep/<n>). It verifies every POST with
// Verify (not the middleware, which would copy the body again and dedup), answers OPTIONS with Allow: POST, and
// records each verified request. A failed verification is counted and fails the run.
type receiver struct {
	base  time.Time
	srv   *http.Server
	ln    net.Listener
	url   string
	eps   []*rcvEndpoint
	count atomic.Int64 // verified requests to healthy endpoints

	mu       sync.Mutex
	receipts []receipt

	hung     atomic.Int64 // requests held by hanging endpoints
	failures atomic.Int64
	firstErr atomic.Pointer[string]

	bufs sync.Pool
}

type rcvEndpoint struct {
	secret string
	v      *verifier.Verifier
	hang   atomic.Bool
}

// newReceiver starts a receiver for n endpoints, each with its own secret; the first hang of them hang. capacity
// preallocates the receipt log.
func newReceiver(base time.Time, n, hang, capacity int) (*receiver, error) {
	r := &receiver{base: base, receipts: make([]receipt, 0, capacity)}
	r.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	for i := range n {
		secret, err := signing.GenerateSecret(0)
		if err != nil {
			return nil, err
		}
		v, err := verifier.New(verifier.Config{Keys: []string{secret}, Dedup: verifier.NoDedup{}})
		if err != nil {
			return nil, err
		}
		ep := &rcvEndpoint{secret: secret, v: v}
		ep.hang.Store(i < hang)
		r.eps = append(r.eps, ep)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.ln = ln
	r.url = "http://" + ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) endpointURL(i int) string { return r.url + "/ep/" + strconv.Itoa(i) }

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if r.srv.Shutdown(ctx) != nil {
		r.srv.Close()
	}
}

func (r *receiver) fail(format string, args ...any) {
	r.failures.Add(1)
	msg := fmt.Sprintf(format, args...)
	r.firstErr.CompareAndSwap(nil, &msg)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Since(r.base).Nanoseconds()
	n, err := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/ep/"))
	if err != nil || n < 0 || n >= len(r.eps) {
		r.fail("request to unknown path %q", req.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ep := r.eps[n]
	switch req.Method {
	case http.MethodOptions:
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	bp := r.bufs.Get().(*[]byte)
	defer r.bufs.Put(bp)
	body, err := readBody(req, (*bp)[:0])
	*bp = body[:0]
	if err != nil {
		r.fail("endpoint %d: read body: %v", n, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	res, err := ep.v.Verify(req.Header, body)
	if err != nil {
		r.fail("endpoint %d: verify: %v", n, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ep.hang.Load() {
		r.hung.Add(1)
		t := time.NewTimer(hangFor)
		select {
		case <-req.Context().Done():
		case <-t.C:
		}
		t.Stop()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	r.receipts = append(r.receipts, receipt{ep: int32(n), at: at, id: res.MessageID})
	r.mu.Unlock()
	r.count.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the request body into buf, sized by Content-Length when given.
func readBody(req *http.Request, buf []byte) ([]byte, error) {
	if n := req.ContentLength; n > 0 && n <= 1<<20 {
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		_, err := io.ReadFull(req.Body, buf)
		return buf, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := req.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// snapshot returns a copy of the receipts so far.
func (r *receiver) snapshot() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.receipts...)
}

// reset forgets every receipt (after the warm-up).
func (r *receiver) reset() {
	r.mu.Lock()
	r.receipts = r.receipts[:0]
	r.count.Store(0)
	r.mu.Unlock()
	r.hung.Store(0)
}
