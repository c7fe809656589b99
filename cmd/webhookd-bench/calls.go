package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The calls scenario (--scenarios calls; not part of the default set, nor of docs/benchmarks.md): management calls
// through the real `webhookd serve` (embedded store) to a backend on loopback that answers a check-in manifest at
// once. It offers --calls-rate calls/s, open loop, for --calls-duration to the backend directly and then through
// webhookd, and reports the latency webhookd adds (p50, p99; target p99 ≤ 2 ms); then it runs --calls-workers closed
// loops through webhookd for --calls-sat-duration and reports the throughput at saturation.

const callsTargetAddedP99 = 2 * time.Millisecond

// checkinBody is a check-in as an Apple MDM server forwards it (about 300 bytes).
var checkinBody = []byte(`{"udid":"00008030-001A2D3C4E5F6071","messageType":"TokenUpdate","topic":"com.apple.mgmt.External.` +
	`2a9b8c7d-6e5f-4a3b-9c8d-7e6f5a4b3c2d","enrollmentId":"enr_01kp8x3m2d0a1b2c3d4e5f6g7h","pushMagic":"5E8A7C1B-0F2D-4E6A-` +
	`9B3C-1D2E3F4A5B6C","awaitingConfiguration":false}`)

type callsResult struct {
	rate                int
	duration            time.Duration
	direct, via         latSummary
	directErrs, viaErrs int
	notOK               int
	satWorkers          int
	satDuration         time.Duration
	satCalls, satNotOK  int
	satRate             float64
	viaServer           latSummary // webhookd's own latency_ms of each call (its outbound leg)
	inAPI               latSummary // per call: the latency through webhookd minus its outbound leg
	err                 error
}

func (b *bench) runCalls(ctx context.Context) *callsResult {
	res := &callsResult{rate: b.opt.callsRate, duration: b.opt.callsDuration, satWorkers: b.opt.callsWorkers,
		satDuration: b.opt.callsSatDuration}
	if res.err = b.callsInto(ctx, res); res.err != nil {
		b.progress("calls: %v", res.err)
	}
	return res
}

func (b *bench) callsInto(ctx context.Context, res *callsResult) error {
	// The backend: answers webhookd's handshake, and every call with an Idle manifest at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"_tag":"Idle"}`)
	})}
	go backend.Serve(ln)
	defer backend.Close()
	backendURL := "http://" + ln.Addr().String()

	dir, err := os.MkdirTemp("", "webhookd-bench-calls-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	gw, err := startGateway(b.webhookdBin, dir, "", b.opt.logLevel, b.opt.gatewayArgs)
	if err != nil {
		return err
	}
	defer gw.stop(10 * time.Second)
	api := newAPIClient(gw.addr, b.opt.openWorkers)
	defer api.close()
	if _, err := api.call(ctx, http.MethodPost, "/v1/tenants", map[string]string{"id": "bench", "name": "bench"}, http.StatusCreated); err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	out, err := api.call(ctx, http.MethodPost, "/v1/tenants/bench/endpoints", map[string]any{
		"url": backendURL, "kind": "calls", "timeout": "1s",
		"calls": map[string]any{"schemas": map[string]any{"/webhook/apple/checkin": json.RawMessage(
			`{"oneOf":[{"properties":{"_tag":{"const":"Idle"}},"required":["_tag"]},` +
				`{"properties":{"_tag":{"const":"Command"}},"required":["_tag","command"]},` +
				`{"properties":{"_tag":{"const":"DdmSync"}},"required":["_tag","serverToken"]}]}`)}},
	}, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("create the calls endpoint: %w", err)
	}
	var ep struct{ ID string }
	if err := json.Unmarshal(out, &ep); err != nil {
		return err
	}
	callReq := []byte(`{"endpoint_id":"` + ep.ID + `","path":"/webhook/apple/checkin","body":` + string(checkinBody) + `}`)

	direct := newAPIClient(ln.Addr().String(), b.opt.openWorkers)
	defer direct.close()
	directSend := func(ctx context.Context) (bool, float64, error) {
		return post(ctx, direct.hc, backendURL+"/webhook/apple/checkin", checkinBody, false)
	}
	viaSend := func(ctx context.Context) (bool, float64, error) {
		return post(ctx, api.hc, api.base+"/v1/tenants/bench/calls", callReq, true)
	}
	// Warm both paths' connections.
	for range 200 {
		directSend(ctx)
		viaSend(ctx)
	}
	// Both paths in one window, interleaved (calls alternate: direct, through webhookd, …), so that both see the same
	// machine: on a shared machine two windows one after the other measure the neighbours more than webhookd.
	b.progress("calls: %d/s to the backend directly and %d/s through webhookd, interleaved, for %s ...", res.rate, res.rate, res.duration)
	lat, srv, errs, bad := b.openLoop(ctx, res.rate, res.duration, []func(context.Context) (bool, float64, error){directSend, viaSend})
	res.direct, res.directErrs = summarize(lat[0]), errs[0]+bad[0]
	res.via, res.viaErrs, res.notOK, res.viaServer = summarize(lat[1]), errs[1], bad[1], summarize(srv[1])
	diff := make([]int64, len(lat[1]))
	for i := range diff {
		diff[i] = lat[1][i] - srv[1][i]
	}
	res.inAPI = summarize(diff)

	b.progress("calls: %d closed loops through webhookd for %s ...", res.satWorkers, res.satDuration)
	var n, notOK atomic.Int64
	sctx, cancel := context.WithTimeout(ctx, res.satDuration)
	start := time.Now()
	var wg sync.WaitGroup
	for range res.satWorkers {
		wg.Go(func() {
			for sctx.Err() == nil {
				ok, _, err := viaSend(sctx)
				if sctx.Err() != nil {
					return
				}
				n.Add(1)
				if err != nil || !ok {
					notOK.Add(1)
				}
			}
		})
	}
	wg.Wait()
	cancel()
	res.satCalls, res.satNotOK = int(n.Load()), int(notOK.Load())
	res.satRate = float64(res.satCalls) / time.Since(start).Seconds()
	return ctx.Err()
}

// post sends one call and reports whether it was ok (through webhookd: outcome ok; directly: a 200) and, through
// webhookd, the latency webhookd measured.
func post(ctx context.Context, hc *http.Client, url string, body []byte, viaAPI bool) (bool, float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if viaAPI {
		req.Header.Set("Authorization", "Bearer "+operatorToken)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return false, 0, err
	}
	if !viaAPI {
		return true, 0, nil
	}
	var r struct {
		Outcome   string  `json:"outcome"`
		LatencyMS float64 `json:"latency_ms"`
	}
	if json.Unmarshal(b, &r) != nil {
		return false, 0, nil
	}
	return r.Outcome == "ok", r.LatencyMS, nil
}

// openLoop offers rate sends per second of each of sends for d, interleaved (send k takes the ticks i with i mod
// len(sends) = k), each at its scheduled time: a worker late to it measures from the schedule, so a stall shows in
// the latencies. It returns, per send, the latencies in ns, the server-side latencies, the transport errors and the
// sends that were not ok.
func (b *bench) openLoop(ctx context.Context, rate int, d time.Duration, sends []func(context.Context) (bool, float64, error)) (lat, srv [][]int64, errs, bad []int) {
	k := len(sends)
	total := int(float64(rate) * d.Seconds())
	start := time.Now().Add(50 * time.Millisecond)
	lat, srv = make([][]int64, k), make([][]int64, k)
	for j := range k {
		lat[j], srv[j] = make([]int64, total), make([]int64, total)
	}
	errN, badN := make([]atomic.Int64, k), make([]atomic.Int64, k)
	next := make(chan int, total*k)
	for i := range total * k {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range b.opt.openWorkers {
		wg.Go(func() {
			for i := range next {
				at := start.Add(time.Duration(float64(i) / float64(rate*k) * float64(time.Second)))
				if w := time.Until(at); w > 0 {
					time.Sleep(w)
				}
				if ctx.Err() != nil {
					return
				}
				j := i % k
				ok, ms, err := sends[j](ctx)
				lat[j][i/k] = time.Since(at).Nanoseconds()
				srv[j][i/k] = int64(ms * 1e6)
				switch {
				case err != nil:
					errN[j].Add(1)
				case !ok:
					badN[j].Add(1)
				}
			}
		})
	}
	wg.Wait()
	errs, bad = make([]int, k), make([]int, k)
	for j := range k {
		errs[j], bad[j] = int(errN[j].Load()), int(badN[j].Load())
	}
	return lat, srv, errs, bad
}

// markdown reports the scenario.
func (r *callsResult) markdown() string {
	var s strings.Builder
	s.WriteString("## Management calls\n\n")
	if r.err != nil {
		fmt.Fprintf(&s, "The scenario failed: %v\n", r.err)
		return s.String()
	}
	added := func(a, b time.Duration) string { return fmtMS(a - b) }
	verdict := "PASS"
	if r.via.P99-r.direct.P99 > callsTargetAddedP99 || r.viaErrs > 0 || r.notOK > 0 {
		verdict = "MISS"
	}
	fmt.Fprintf(&s, "%d calls/s for %s, open loop, to a loopback backend that answers `{\"_tag\":\"Idle\"}` at once, "+
		"through webhookd (embedded store, a JSON Schema on the path), interleaved with as many sent to the backend "+
		"directly.\n\n", r.rate, r.duration)
	s.WriteString("| path | calls | p50 | p99 | p99.9 | max | errors |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&s, "| backend directly | %d | %s | %s | %s | %s | %d |\n", r.direct.N, fmtMS(r.direct.P50), fmtMS(r.direct.P99),
		fmtMS(r.direct.P999), fmtMS(r.direct.Max), r.directErrs)
	fmt.Fprintf(&s, "| through webhookd | %d | %s | %s | %s | %s | %d (+%d not ok) |\n", r.via.N, fmtMS(r.via.P50), fmtMS(r.via.P99),
		fmtMS(r.via.P999), fmtMS(r.via.Max), r.viaErrs, r.notOK)
	fmt.Fprintf(&s, "| webhookd's outbound leg (latency_ms) | %d | %s | %s | %s | %s | |\n", r.viaServer.N, fmtMS(r.viaServer.P50),
		fmtMS(r.viaServer.P99), fmtMS(r.viaServer.P999), fmtMS(r.viaServer.Max))
	s.WriteString("| per call: through webhookd minus its outbound leg (the API hop) | ")
	fmt.Fprintf(&s, "%d | %s | %s | %s | %s | |\n\n", r.inAPI.N, fmtMS(r.inAPI.P50), fmtMS(r.inAPI.P99), fmtMS(r.inAPI.P999), fmtMS(r.inAPI.Max))
	fmt.Fprintf(&s, "Latency webhookd adds: p50 %s, p99 %s (target p99 ≤ %s): **%s**\n\n", added(r.via.P50, r.direct.P50),
		added(r.via.P99, r.direct.P99), fmtMS(callsTargetAddedP99), verdict)
	fmt.Fprintf(&s, "Saturation: %d closed loops through webhookd for %s: %d calls, **%.0f calls/s** (%d not ok).\n",
		r.satWorkers, r.satDuration, r.satCalls, r.satRate, r.satNotOK)
	return s.String()
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
