package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// apiClient calls webhookd's HTTP API with the operator token over keep-alive connections.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(addr string, conns int) *apiClient {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 8,
		MaxIdleConnsPerHost: conns + 8,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &apiClient{base: "http://" + addr, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (a *apiClient) close() { a.hc.CloseIdleConnections() }

// call sends a JSON body and returns the response body, or an error unless the status is want.
func (a *apiClient) call(ctx context.Context, method, path string, body any, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return b, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}

// countDead counts the tenant's dead deliveries (the first 200), or -1 when the log cannot be read: a delivery
// missing at the receiver is either dead there (every attempt failed) or not ended yet.
func (a *apiClient) countDead(ctx context.Context, tenant string) int {
	b, err := a.call(ctx, http.MethodGet, "/v1/tenants/"+tenant+"/deliveries?status=dead&limit=200", nil, http.StatusOK)
	if err != nil {
		return -1
	}
	var l struct {
		Data []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(b, &l) != nil {
		return -1
	}
	return len(l.Data)
}

// setup creates the tenant and one endpoint per receiver endpoint, subscribed to every event type. The endpoints
// are created by 8 goroutines (each answers webhookd's OPTIONS handshake).
func (a *apiClient) setup(ctx context.Context, tenant string, rcv *receiver) error {
	if _, err := a.call(ctx, http.MethodPost, "/v1/tenants", map[string]string{"id": tenant, "name": "bench"}, http.StatusCreated); err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	next := make(chan int)
	errc := make(chan error, len(rcv.eps))
	var wg sync.WaitGroup
	for range min(8, len(rcv.eps)) {
		wg.Go(func() {
			for i := range next {
				_, err := a.call(ctx, http.MethodPost, "/v1/tenants/"+tenant+"/endpoints", map[string]any{
					"url": rcv.endpointURL(i), "events": []string{"*"}, "secret": rcv.eps[i].secret,
					"description": "bench endpoint " + strconv.Itoa(i),
				}, http.StatusCreated)
				if err != nil {
					errc <- fmt.Errorf("create endpoint %d: %w", i, err)
				}
			}
		})
	}
	for i := range rcv.eps {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errc)
	return <-errc
}

// eventBody renders the publish request bodies: a 1 KiB JSON data object, and (when idem is set) a producer id per
// event, as a console that retries would send.
type eventBody struct {
	tag  string // unique per run, so idempotency keys never collide
	data []byte
	idem bool
	// ordered: the data starts with the event's key and sequence numbers (ordered.go); keys > 0 also sends
	// ordering_key "k<key>".
	ordered bool
	keys    int
}

// payloadSize is the size of the event's "data" JSON.
const payloadSize = 1024

func newEventBody(tag string, idem bool) *eventBody {
	const head, tail = `{"pad":"`, `"}`
	pad := strings.Repeat("x", payloadSize-len(head)-len(tail))
	return &eventBody{tag: tag, data: []byte(head + pad + tail), idem: idem}
}

func (e *eventBody) append(dst []byte, i int) []byte {
	if e.ordered {
		return e.appendOrdered(dst, i)
	}
	dst = append(dst, `{"type":"bench.event",`...)
	if e.idem {
		dst = append(dst, `"id":"`...)
		dst = append(dst, e.tag...)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"data":`...)
	dst = append(dst, e.data...)
	return append(dst, '}')
}

// pubRecord is one accepted event.
type pubRecord struct {
	id     string
	origin int64 // what e2e is measured from: the request's start (closed loop) or its scheduled time (open loop)
	sent   int64 // when the request actually started
	done   int64 // when the 202 arrived
	fanout int
}

// pubResult is everything the publishers saw.
type pubResult struct {
	recs     []pubRecord
	errors   int
	firstErr string
	start    int64 // first origin
	end      int64 // last 202
}

type publisher struct {
	api    *apiClient
	tenant string
	body   *eventBody
	base   time.Time

	mu  sync.Mutex
	res pubResult
}

func (p *publisher) now() int64 { return time.Since(p.base).Nanoseconds() }

// answer is one event's part of a publish answer.
type answer struct {
	ID        string `json:"id"`
	Fanout    int    `json:"fanout"`
	Duplicate bool   `json:"duplicate"`
}

// post sends a publish request with body to path and returns its 202 body, with when the request started and when
// the answer arrived; ok is false (and the failure counted) otherwise.
func (p *publisher) post(ctx context.Context, path string, body []byte) (b []byte, sent, done int64, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.api.base+"/v1/tenants/"+p.tenant+path, bytes.NewReader(body))
	if err != nil {
		p.fail(err.Error())
		return nil, 0, 0, false
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Content-Type", "application/json")
	sent = p.now()
	resp, err := p.api.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			p.fail(err.Error())
		}
		return nil, 0, 0, false
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	done = p.now()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		p.fail(fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b)))
		return nil, 0, 0, false
	}
	return b, sent, done, true
}

// one publishes event i; origin < 0 means "from the request's start".
func (p *publisher) one(ctx context.Context, buf []byte, i int, origin int64, local *[]pubRecord) []byte {
	buf = p.body.append(buf[:0], i)
	b, sent, done, ok := p.post(ctx, "/events", buf)
	if !ok {
		return buf
	}
	if origin < 0 {
		origin = sent
	}
	var r answer
	if err := json.Unmarshal(b, &r); err != nil || r.ID == "" || r.Duplicate {
		p.fail(fmt.Sprintf("unexpected answer %s", b))
		return buf
	}
	*local = append(*local, pubRecord{id: r.ID, origin: origin, sent: sent, done: done, fanout: r.Fanout})
	return buf
}

// many publishes events i to i+n-1 in one batch request; each event's e2e origin is the request's start.
func (p *publisher) many(ctx context.Context, buf []byte, i, n int, local *[]pubRecord) []byte {
	buf = append(buf[:0], `{"events":[`...)
	for k := range n {
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = p.body.append(buf, i+k)
	}
	buf = append(buf, `]}`...)
	b, sent, done, ok := p.post(ctx, "/events/batch", buf)
	if !ok {
		return buf
	}
	var r struct {
		Data []answer `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Data) != n {
		p.fail(fmt.Sprintf("unexpected answer to a batch of %d: %.200s", n, b))
		return buf
	}
	for _, e := range r.Data {
		if e.ID == "" || e.Duplicate {
			p.fail(fmt.Sprintf("unexpected answer in a batch: %+v", e))
			continue
		}
		*local = append(*local, pubRecord{id: e.ID, origin: sent, sent: sent, done: done, fanout: e.Fanout})
	}
	return buf
}

func (p *publisher) fail(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.res.errors == 0 {
		p.res.firstErr = firstLine(msg)
	}
	p.res.errors++
}

func (p *publisher) merge(local []pubRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.recs = append(p.res.recs, local...)
}

func (p *publisher) finish() pubResult {
	res := p.res
	res.start, res.end = -1, 0
	for _, r := range res.recs {
		if res.start < 0 || r.origin < res.start {
			res.start = r.origin
		}
		res.end = max(res.end, r.done)
	}
	return res
}

// closedLoop publishes as fast as workers goroutines can (each waits for its 202 before the next), until events
// have been sent or d has passed; batch > 1 sends that many events per request (POST …/events/batch).
func (p *publisher) closedLoop(ctx context.Context, workers, events int, d time.Duration, batch int) pubResult {
	batch = max(batch, 1)
	var next atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := make([]pubRecord, 0, events/workers+batch)
			buf := make([]byte, 0, 2048*batch)
			for ctx.Err() == nil && time.Now().Before(stop) {
				i := int(next.Add(int64(batch))) - batch
				if i >= events {
					break
				}
				if batch == 1 {
					buf = p.one(ctx, buf, i, -1, &local)
				} else {
					buf = p.many(ctx, buf, i, min(batch, events-i), &local)
				}
			}
			p.merge(local)
		})
	}
	wg.Wait()
	return p.finish()
}

// openLoop publishes events at rate per second on a fixed schedule, whatever the gateway's answers do (so a slow
// answer does not slow the offered load: no coordinated omission). Each event's latency is measured from its
// scheduled time; how late a sender started it is reported as lag. At most events, for at most d.
func (p *publisher) openLoop(ctx context.Context, workers int, rate float64, events int, d time.Duration) (pubResult, []int64) {
	events = min(events, int(rate*d.Seconds()))
	type job struct {
		i   int
		due int64
	}
	jobs := make(chan job, events)
	lags := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			local := make([]pubRecord, 0, events/workers+1)
			buf := make([]byte, 0, 2048)
			for j := range jobs {
				lags[w] = append(lags[w], p.now()-j.due)
				buf = p.one(ctx, buf, j.i, j.due, &local)
			}
			p.merge(local)
		})
	}
	interval := float64(time.Second) / rate
	start := p.now() + int64(time.Millisecond)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := range events {
		due := start + int64(float64(i)*interval)
		if wait := due - p.now(); wait > 0 {
			timer.Reset(time.Duration(wait))
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- job{i, due}
	}
	close(jobs)
	wg.Wait()
	var all []int64
	for _, l := range lags {
		all = append(all, l...)
	}
	return p.finish(), all
}
