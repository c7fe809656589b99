package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// TestSummarizeNearestRank: a percentile is the nearest-rank value, the smallest one with at least that share of the
// samples at or below it, whatever order the samples came in.
func TestSummarizeNearestRank(t *testing.T) {
	for _, tc := range []struct {
		n                    int
		p50, p99, p999, pmax int64
	}{
		{n: 1, p50: 1, p99: 1, p999: 1, pmax: 1},
		{n: 100, p50: 50, p99: 99, p999: 100, pmax: 100},
		{n: 1000, p50: 500, p99: 990, p999: 999, pmax: 1000},
		// 0.99 × 1055 = 1044.45: rank 1045, where rounding to the nearest rank would give 1044.
		{n: 1055, p50: 528, p99: 1045, p999: 1054, pmax: 1055},
	} {
		ns := make([]int64, tc.n)
		for i := range ns {
			ns[i] = int64(tc.n - i) // descending: summarize must sort
		}
		s := summarize(ns)
		got := []int64{int64(s.P50), int64(s.P99), int64(s.P999), int64(s.Max)}
		want := []int64{tc.p50, tc.p99, tc.p999, tc.pmax}
		if s.N != tc.n || !slices.Equal(got, want) {
			t.Errorf("n=%d: N %d, p50/p99/p99.9/max %v, want %v", tc.n, s.N, got, want)
		}
	}
	if s := summarize(nil); s != (latSummary{}) {
		t.Errorf("no samples: %+v", s)
	}
}

func TestPerDelivery(t *testing.T) {
	got := perDelivery(map[string]int64{"get": 10, "zadd": 255, "hset": 310, "set": 10}, 100)
	if want := "hset 3.10, zadd 2.55, get 0.10, set 0.10"; got != want {
		t.Errorf("perDelivery = %q, want %q", got, want)
	}
}

// TestAnalyze: e2e latency is receipt − origin of the first receipt of each (endpoint, message); repeats count as
// duplicates and receipts of messages never accepted as unknown; the delivery rate runs from the first origin to the
// last counted receipt.
func TestAnalyze(t *testing.T) {
	ms := int64(time.Millisecond)
	pr := pubResult{
		recs: []pubRecord{
			{id: "a", origin: 0, sent: 0, done: 2 * ms},
			{id: "b", origin: 10 * ms, sent: 11 * ms, done: 14 * ms},
		},
		start: 0, end: 14 * ms,
	}
	rs := []receipt{
		{ep: 0, at: 5 * ms, id: "a"},
		{ep: 1, at: 7 * ms, id: "a"},
		{ep: 0, at: 30 * ms, id: "b"},
		{ep: 0, at: 40 * ms, id: "b"}, // a redelivery: counted once, from the first
		{ep: 0, at: 50 * ms, id: "z"}, // never accepted
	}
	var res runResult
	analyze(&res, pr, rs, nil)
	if res.delivered != 3 || res.duplicates != 1 || res.unknown != 1 {
		t.Fatalf("delivered %d duplicates %d unknown %d, want 3, 1, 1", res.delivered, res.duplicates, res.unknown)
	}
	if res.e2e.N != 3 || res.e2e.P50 != 7*time.Millisecond || res.e2e.Max != 20*time.Millisecond {
		t.Errorf("e2e %+v: want 3 samples, p50 7ms, max 20ms", res.e2e)
	}
	if res.ingest.Max != 3*time.Millisecond {
		t.Errorf("ingest max %v, want 3ms", res.ingest.Max)
	}
	if res.span != 30*time.Millisecond || res.deliveryRate != 100 {
		t.Errorf("span %v rate %v, want 30ms and 100/s", res.span, res.deliveryRate)
	}
	if res.publishFor != 14*time.Millisecond {
		t.Errorf("publishFor %v, want 14ms", res.publishFor)
	}
}

// TestReceiver: the receiver answers OPTIONS with Allow: POST, counts a POST only when its signature verifies under
// that endpoint's secret, and fails the run for anything else.
func TestReceiver(t *testing.T) {
	rcv, err := newReceiver(time.Now(), 2, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.close()

	req, _ := http.NewRequest(http.MethodOptions, rcv.endpointURL(1), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Fatalf("OPTIONS: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	body := []byte(`{"type":"bench.event","data":{}}`)
	post := func(ep int, secret, id string) int {
		t.Helper()
		key, err := signing.ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		ts := time.Now().Unix()
		sig, err := signing.Sign(id, ts, body, key)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, rcv.endpointURL(ep), bytes.NewReader(body))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(0, rcv.eps[0].secret, "msg_1"); code != http.StatusNoContent {
		t.Fatalf("signed POST: %d", code)
	}
	if got := rcv.snapshot(); len(got) != 1 || got[0].id != "msg_1" || got[0].ep != 0 {
		t.Fatalf("receipts %+v, want msg_1 at endpoint 0", got)
	}
	if rcv.failures.Load() != 0 {
		t.Fatalf("failures after a good request: %d", rcv.failures.Load())
	}
	// Signed with endpoint 0's secret, sent to endpoint 1: not verified, not counted, the run fails.
	if code := post(1, rcv.eps[0].secret, "msg_2"); code != http.StatusUnauthorized {
		t.Fatalf("POST signed with another endpoint's secret: %d, want 401", code)
	}
	if rcv.count.Load() != 1 || rcv.failures.Load() != 1 || rcv.firstErr.Load() == nil {
		t.Fatalf("after a bad signature: count %d failures %d", rcv.count.Load(), rcv.failures.Load())
	}
	resp, err = http.Post(rcv.url+"/nowhere", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || rcv.failures.Load() != 2 {
		t.Fatalf("unknown path: %d, failures %d", resp.StatusCode, rcv.failures.Load())
	}
}

// TestPageMatchesTemplate: docs/benchmarks.md is the tool's output, so its hand-written parts are the template's
// word for word; an edit to one and not the other fails here.
func TestPageMatchesTemplate(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	const from, to = "## What bounds the results (profiles)", "{{if .HasPlot}}"
	i, j := strings.Index(docsTemplate, from), strings.Index(docsTemplate, to)
	if i < 0 || j < i {
		t.Fatalf("template has no %q section ending at %q", from, to)
	}
	static := docsTemplate[i:j]
	if !bytes.Contains(page, []byte(static)) {
		t.Errorf("docs/benchmarks.md's %q section differs from cmd/webhookd-bench/docs.md.tmpl's: run the tool with --write-docs, or copy the edit across", from)
	}
	// The figures measured with other commands close the template as static text, so a rewrite keeps them.
	const tail = "## Measured outside the tool"
	k := strings.Index(docsTemplate, tail)
	if k < 0 {
		t.Fatalf("template has no %q section", tail)
	}
	if !bytes.HasSuffix(bytes.TrimSpace(page), []byte(strings.TrimSpace(docsTemplate[k:]))) {
		t.Errorf("docs/benchmarks.md's %q section differs from cmd/webhookd-bench/docs.md.tmpl's, or is not last", tail)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(string(page)) {
		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "### ") {
			if seen[line] {
				t.Errorf("docs/benchmarks.md has the heading %q twice", strings.TrimSpace(line))
			}
			seen[line] = true
		}
	}
	for _, s := range []string{"## Running it", "## Method", "## Results", "### 6. Cost", "### 7. Ordered deliveries"} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("docs/benchmarks.md has no %q", s)
		}
	}
}

// TestEndToEnd runs every gateway scenario of the tool, with small counts, against the real webhookd binary on both
// stores (Redis needs redis-server; in CI it must be there), and checks that each run delivered every event, with
// every signature verified, and that the report and the docs it writes hold each run's row and a readable plot.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway")
	}
	stores := "embedded,redis"
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not on PATH; in CI the Redis rows must run")
		}
		t.Log("no redis-server on PATH: embedded store only")
		stores = "embedded"
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "webhookd")
	build := exec.Command("go", "build", "-o", bin, "../webhookd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/webhookd: %v\n%s", err, out)
	}
	opt, err := parseFlags([]string{
		"--quick", "--webhookd", bin, "--stores", stores,
		"--scenarios", "saturation,steady,fanout,isolation,backlog,cost",
		"--sat-events", "300", "--sat-batch", "25", "--rates", "50", "--plot-rates", "100",
		"--steady-duration", "1s", "--fanouts", "5", "--fanout-deliveries", "500",
		"--iso-endpoints", "10", "--iso-hang", "1", "--iso-events", "10", "--iso-rate", "10",
		"--backlog", "2000", "--backlog-due", "200", "--warmup", "10", "--drain", "20s", "--commandstats",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	b := &bench{opt: opt, webhookdBin: bin, log: &progress}
	b.redisBin, _ = exec.LookPath("redis-server")
	rep := b.runAll(ctx)
	if bad := rep.failures(); len(bad) > 0 {
		t.Fatalf("the run failed: %v\n%s", bad, progress.String())
	}
	var runs []*runResult
	for _, s := range rep.stores {
		runs = append(runs, rep.sat[s]...)
		runs = append(runs, rep.steady[s]...)
		runs = append(runs, rep.fanout[s]...)
		if ir := rep.iso[s]; ir != nil {
			runs = append(runs, ir.baseSat, ir.hangSat, ir.baseLat, ir.hangLat)
		}
	}
	if want := len(rep.stores) * (3 + 2 + 1 + 4); len(runs) != want {
		t.Fatalf("%d runs, want %d", len(runs), want)
	}
	// CPU is read in clock ticks, so one short run may show none; every store's runs together must.
	gwCPU, redisCPU := map[string]time.Duration{}, time.Duration(0)
	switches := map[string]int64{}
	for _, r := range runs {
		if !r.complete() {
			t.Errorf("%s %s: incomplete: %v", r.spec.store, r.spec.label, r.problems())
			continue
		}
		if r.e2e.N != r.delivered || r.e2e.P50 <= 0 {
			t.Errorf("%s %s: e2e %+v for %d deliveries", r.spec.store, r.spec.label, r.e2e, r.delivered)
		}
		if r.spec.hang > 0 && r.hung == 0 {
			t.Errorf("%s %s: no request held by the hanging endpoints", r.spec.store, r.spec.label)
		}
		if r.spec.store == "redis" && r.redisCmds <= 0 {
			t.Errorf("%s %s: no Redis commands counted", r.spec.store, r.spec.label)
		}
		gwCPU[r.spec.store] += r.gwCPU
		switches[r.spec.store] += r.gwSwitches
		if r.spec.store == "redis" {
			redisCPU += r.redisCPU
		}
	}
	for _, s := range rep.stores {
		if gwCPU[s] <= 0 {
			t.Errorf("%s: no gateway CPU measured", s)
		}
		if switches[s] <= 0 { // the gateway waits on the network in every run
			t.Errorf("%s: no gateway context switches counted", s)
		}
	}
	if strings.Contains(stores, "redis") && redisCPU <= 0 {
		t.Error("redis: no redis-server CPU measured")
	}
	if strings.Contains(stores, "redis") && !strings.Contains(progress.String(), "redis calls per delivery: ") {
		t.Errorf("--commandstats printed no calls per delivery:\n%s", progress.String())
	}
	if strings.Contains(stores, "redis") {
		bl := rep.backlog
		if bl == nil || bl.err != nil || bl.na != "" || bl.pending != 2000 || bl.acked != 200 || bl.perDelivery <= 0 {
			t.Errorf("backlog: %+v", bl)
		}
	}

	md := rep.markdown()
	for _, s := range []string{"### 1. Saturation, one endpoint", "### 2. Steady load", "### 3. Fan-out",
		"### 4. Isolation", "### 6. Cost", "| embedded | 1 event per request |"} {
		if !strings.Contains(md, s) {
			t.Errorf("report has no %q", s)
		}
	}
	docs := filepath.Join(dir, "docs")
	if err := rep.writeDocs(docs); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(docs, "benchmarks.md"))
	if err != nil || !bytes.Contains(page, []byte("### 2. Steady load")) || !bytes.Contains(page, []byte("benchmarks.png")) {
		t.Fatalf("benchmarks.md (%v): no steady table or plot", err)
	}
	f, err := os.Open(filepath.Join(docs, "benchmarks.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cfg, err := png.DecodeConfig(f); err != nil || cfg.Width < 200 || cfg.Height < 100 {
		t.Fatalf("benchmarks.png: %v, %dx%d", err, cfg.Width, cfg.Height)
	}
}

// TestReceiverWire drives the receiver over a raw connection: requests back to back on one connection are each
// answered in order, a chunked body is refused and fails the run, and a hanging endpoint holds its request until the
// client hangs up.
func TestReceiverWire(t *testing.T) {
	rcv, err := newReceiver(time.Now(), 2, 1, 16) // endpoint 0 hangs
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.close()
	addr := strings.TrimPrefix(rcv.url, "http://")
	signed := func(ep int, id string) string {
		body := `{"n":1}`
		key, _ := signing.ParseSecret(rcv.eps[ep].secret)
		ts := time.Now().Unix()
		sig, err := signing.Sign(id, ts, []byte(body), key)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("POST /ep/%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nwebhook-id: %s\r\n"+
			"WEBHOOK-TIMESTAMP: %d\r\nwebhook-signature:  %s \r\n\r\n%s", ep, len(body), id, ts, sig, body)
	}
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	status := func(br *bufio.Reader) int {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	c, br := dial()
	if _, err := io.WriteString(c, signed(1, "msg_a")+signed(1, "msg_b")); err != nil {
		t.Fatal(err)
	}
	if a, b := status(br), status(br); a != http.StatusNoContent || b != http.StatusNoContent {
		t.Fatalf("two requests on one connection: %d, %d", a, b)
	}
	if got := rcv.snapshot(); len(got) != 2 || got[0].id != "msg_a" || got[1].id != "msg_b" {
		t.Fatalf("receipts %+v", got)
	}
	io.WriteString(c, "POST /ep/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if s := status(br); s != http.StatusBadRequest || rcv.failures.Load() != 1 {
		t.Fatalf("chunked body: %d, failures %d", s, rcv.failures.Load())
	}
	c.Close()

	c, _ = dial()
	io.WriteString(c, signed(0, "msg_h"))
	// The receiver counts the held request before it waits.
	for deadline := time.Now().Add(5 * time.Second); rcv.hung.Load() == 0; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the hanging endpoint never held the request")
		}
	}
	c.Close() // as the gateway does when its attempt budget ends
	open := func() int {
		rcv.connMu.Lock()
		defer rcv.connMu.Unlock()
		return len(rcv.conns)
	}
	for deadline := time.Now().Add(hangFor / 2); open() > 0; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the held request outlived its client's connection")
		}
	}
	if rcv.count.Load() != 2 || len(rcv.snapshot()) != 2 {
		t.Fatalf("the hanging endpoint's request was counted: %d", rcv.count.Load())
	}
}

// TestProbeHost: the probe times real sleeps and durable writes in the directory it is given and leaves no file
// there; the page's machine section carries its line only when something was measured.
func TestProbeHost(t *testing.T) {
	dir := t.TempDir()
	c, err := probeHost(dir, 20)
	if err != nil {
		t.Fatal(err)
	}
	if c.Write <= 0 || c.Sleep < 0 || c.WriteIdle < 0 {
		t.Fatalf("probe: %+v, want a positive write cost and no negative one", c)
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("the probe left %v (%v)", left, err)
	}
	r := &results{machine: machine{Host: c}}
	if got := r.machineText(); !strings.Contains(got, "- Host wake-up cost") || !strings.Contains(got, "1,400-byte pwrite") {
		t.Errorf("machine text without the probe's line:\n%s", got)
	}
	r.machine.Host = hostCost{}
	if got := r.machineText(); strings.Contains(got, "Host wake-up") {
		t.Errorf("machine text with a probe line for nothing measured:\n%s", got)
	}
}

// TestProcSwitches: a process's context switches grow when its threads sleep, and a process that does not exist is
// an error.
func TestProcSwitches(t *testing.T) {
	before, err := procSwitches(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		time.Sleep(time.Millisecond) // each sleep parks the thread: a voluntary switch
	}
	after, err := procSwitches(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after < before+10 {
		t.Errorf("switches %d -> %d across 20 sleeps, want at least 10 more", before, after)
	}
	if _, err := procSwitches(-1); err == nil {
		t.Error("procSwitches(-1): no error")
	}
}
