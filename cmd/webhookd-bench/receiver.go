package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// hangFor bounds how long a hanging endpoint holds a request: past webhookd's 1 s attempt budget, so the gateway
// always gives up first.
const hangFor = 1500 * time.Millisecond

// maxBody bounds a request body the receiver reads.
const maxBody = 1 << 20

// receipt is one verified delivery: which endpoint, which message (webhook-id), and when its request arrived.
type receipt struct {
	ep int32
	at int64 // ns since the run's clock base
	id string
}

// receiver is the loopback HTTP/1.1 server every endpoint of a run points at (/ep/<n>). It verifies every POST with
// Verify (not the middleware, which would copy the body again and dedup), answers OPTIONS with Allow: POST, and
// records each verified request. A failed verification, or a request it cannot read, is counted and fails the run.
//
// It reads requests straight off each connection rather than through net/http's server, because it shares the
// machine's cores with the gateway it measures, and this costs the load tool less CPU per delivery (no header map,
// response writer or buffered reader per request). It speaks the HTTP/1.1 that webhookd and Go's client send: requests one after another
// on a keep-alive connection, bodies sized by Content-Length; anything else (a chunked body, an oversized line) is
// refused and fails the run.
type receiver struct {
	base  time.Time
	ln    net.Listener
	url   string
	eps   []*rcvEndpoint
	count atomic.Int64 // verified requests to healthy endpoints

	mu       sync.Mutex
	receipts []receipt

	// The ordered scenario (ordered.go): failPerMille of verified requests are answered 500; with track, the first
	// arrival of each (endpoint, message) is checked against its key's sequence (both from the event's data).
	failPerMille int32
	track        bool
	first        map[recKey]struct{}
	nextSeq      map[[2]int64]int64 // (endpoint, key) → the sequence its next first arrival must have
	violations   atomic.Int64

	hung     atomic.Int64 // requests held by hanging endpoints
	failures atomic.Int64
	firstErr atomic.Pointer[string]

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

type rcvEndpoint struct {
	secret string
	v      *verifier.Verifier
	hang   atomic.Bool
}

// newReceiver starts a receiver for n endpoints, each with its own secret; the first hang of them hang. capacity
// preallocates the receipt log.
func newReceiver(base time.Time, n, hang, capacity int) (*receiver, error) {
	r := &receiver{base: base, receipts: make([]receipt, 0, capacity), conns: map[net.Conn]struct{}{}}
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
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *receiver) endpointURL(i int) string { return r.url + "/ep/" + strconv.Itoa(i) }

func (r *receiver) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.connMu.Lock()
		if r.closed {
			r.connMu.Unlock()
			c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.connMu.Unlock()
		go r.serveConn(c)
	}
}

// close stops the receiver: no new connections, open ones closed, every connection's goroutine gone.
func (r *receiver) close() {
	r.ln.Close()
	r.connMu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.connMu.Unlock()
	r.wg.Wait()
}

func (r *receiver) fail(format string, args ...any) {
	r.failures.Add(1)
	msg := fmt.Sprintf(format, args...)
	r.firstErr.CompareAndSwap(nil, &msg)
}

// request is what the receiver keeps of one request; a connection reuses one for all of its requests.
type request struct {
	method, path []byte
	body         []byte
	closeAfter   bool
	h            http.Header // Webhook-Id, Webhook-Timestamp and Webhook-Signature, all Verify reads
	vals         [3][]string
}

var (
	errChunked   = errors.New("a body without Content-Length (Transfer-Encoding) is not supported")
	errMalformed = errors.New("malformed request")
)

var verifiedHeaders = [3]string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}

// read reads the next request off br. It returns io.EOF when the connection ended between requests.
func (q *request) read(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF && len(line) == 0 {
			return io.EOF
		}
		return fmt.Errorf("request line: %w", err)
	}
	line = trimCRLF(line)
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1 {
		return fmt.Errorf("%w: request line %q", errMalformed, line)
	}
	proto := line[sp2+1:]
	q.method = append(q.method[:0], line[:sp1]...)
	q.path = append(q.path[:0], line[sp1+1:sp2]...)
	q.closeAfter = !bytes.Equal(proto, []byte("HTTP/1.1"))
	for i := range q.vals {
		q.vals[i] = q.vals[i][:0]
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("header: %w", err)
		}
		line = trimCRLF(line)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fmt.Errorf("%w: header line %q", errMalformed, line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || n > maxBody {
				return fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return errChunked
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				q.closeAfter = true
			}
		default:
			for i, h := range verifiedHeaders {
				if bytes.EqualFold(name, []byte(h)) {
					q.vals[i] = append(q.vals[i], string(value))
				}
			}
		}
	}
	if q.h == nil {
		q.h = make(http.Header, len(verifiedHeaders))
	}
	for i, h := range verifiedHeaders {
		if len(q.vals[i]) > 0 {
			q.h[h] = q.vals[i]
		} else {
			delete(q.h, h)
		}
	}
	q.body = q.body[:0]
	if length > 0 {
		if cap(q.body) < length {
			q.body = make([]byte, length)
		}
		q.body = q.body[:length]
		if _, err := io.ReadFull(br, q.body); err != nil {
			return fmt.Errorf("body: %w", err)
		}
	}
	return nil
}

func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

const (
	respNoContent    = "HTTP/1.1 204 No Content\r\n\r\n"
	respOptions      = "HTTP/1.1 204 No Content\r\nAllow: POST, OPTIONS\r\n\r\n"
	respBadRequest   = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	respUnauthorized = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
	respNotFound     = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	respNotAllowed   = "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"
	respUnavailable  = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
	respFailed       = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
)

func (r *receiver) serveConn(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		r.connMu.Lock()
		delete(r.conns, c)
		r.connMu.Unlock()
		c.Close()
	}()
	br := bufio.NewReaderSize(c, 8<<10)
	var q request
	for {
		err := q.read(br)
		if err == io.EOF || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !isSocketError(err) {
				r.fail("read request: %v", err)
				io.WriteString(c, respBadRequest)
			}
			return
		}
		resp, keep := r.handle(c, br, &q)
		if resp != "" {
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
		if !keep || q.closeAfter {
			return
		}
	}
}

// isSocketError tells an error of the connection itself (a reset, a broken pipe: the client went away mid-request)
// from a request the receiver could not read, which fails the run.
func isSocketError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// handle answers one request: the response to write ("" for none) and whether the connection goes on.
func (r *receiver) handle(c net.Conn, br *bufio.Reader, q *request) (string, bool) {
	at := time.Since(r.base).Nanoseconds()
	path, ok := bytes.CutPrefix(q.path, []byte("/ep/"))
	n, err := strconv.Atoi(string(path))
	if !ok || err != nil || n < 0 || n >= len(r.eps) {
		r.fail("request to unknown path %q", q.path)
		return respNotFound, true
	}
	ep := r.eps[n]
	switch string(q.method) {
	case http.MethodOptions:
		return respOptions, true
	case http.MethodPost:
	default:
		return respNotAllowed, true
	}
	res, err := ep.v.Verify(q.h, q.body)
	if err != nil {
		r.fail("endpoint %d: verify: %v", n, err)
		return respUnauthorized, true
	}
	if ep.hang.Load() {
		// Hold the request until the gateway gives up (it closes the connection) or hangFor passes.
		r.hung.Add(1)
		c.SetReadDeadline(time.Now().Add(hangFor))
		_, err := br.Peek(1)
		c.SetReadDeadline(time.Time{})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return "", false // the gateway hung up
		}
		return respUnavailable, true
	}
	if r.track {
		r.checkOrder(int32(n), res.MessageID, q.body)
	}
	if r.failPerMille > 0 && rand.Int32N(1000) < r.failPerMille {
		return respFailed, true
	}
	r.mu.Lock()
	r.receipts = append(r.receipts, receipt{ep: int32(n), at: at, id: res.MessageID})
	r.mu.Unlock()
	r.count.Add(1)
	return respNoContent, true
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
