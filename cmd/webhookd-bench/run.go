package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// runSpec is one measured run: a fresh gateway (and Redis), a receiver, a load.
type runSpec struct {
	label     string // for progress lines
	store     string // "embedded" or "redis"
	endpoints int    // endpoints, all subscribed to every event
	hang      int    // how many of them hang (the first ones); the rest are "healthy"
	open      bool   // open loop at rate; closed loop otherwise
	rate      float64
	events    int           // at most this many events
	duration  time.Duration // publishing lasts at most this long
	batch     int           // closed loop: events per request (POST …/events/batch); 0 or 1: one per request
	args      []string      // further arguments for webhookd serve in this run
	// The ordered scenario (ordered.go): events carry a key number and a sequence number in their data; with keys >
	// 0 they are published with ordering_key "k<key>" over that many keys, and with track the receiver counts order
	// violations. failPct of requests (per mille: tenths of a percent) are answered 500.
	keys, failPerMille int
	track              bool
}

// latSummary summarises latencies (ns).
type latSummary struct {
	N                   int
	P50, P99, P999, Max time.Duration
}

func summarize(ns []int64) latSummary {
	if len(ns) == 0 {
		return latSummary{}
	}
	slices.Sort(ns)
	q := func(p float64) time.Duration {
		// Nearest rank: the smallest sample with at least p of them at or below it. The epsilon keeps a product
		// such as 0.99 × 100 = 99.00000000000001 at rank 99.
		i := int(math.Ceil(p*float64(len(ns))-1e-9)) - 1
		return time.Duration(ns[min(max(i, 0), len(ns)-1)])
	}
	return latSummary{N: len(ns), P50: q(0.50), P99: q(0.99), P999: q(0.999), Max: time.Duration(ns[len(ns)-1])}
}

// runResult is what one run measured.
type runResult struct {
	spec runSpec
	na   string // not available (and why): the row says so instead of failing
	err  error  // the run could not be measured

	accepted    int
	pubErrors   int
	firstPubErr string
	expected    int // deliveries to healthy endpoints the accepted events call for
	delivered   int // distinct (endpoint, message) pairs received by healthy endpoints
	duplicates  int
	unknown     int // receipts of messages the publishers never saw accepted
	hung        int64
	sigFailures int64
	firstSigErr string
	violations  int64 // ordered scenario: first arrivals of a key's event before an earlier one's
	dead        int   // deliveries webhookd's log shows dead, read when some are missing (-1: not read)

	publishFor   time.Duration // first origin → last 202
	span         time.Duration // first origin → last healthy receipt
	ingestRate   float64       // accepted events / publishFor
	deliveryRate float64       // delivered / span
	e2e, ingest  latSummary
	// Redis runs of the open loop: when Redis had a child at work (AOF rewrite, RDB save), and e2e latency over the
	// events whose wait overlapped none of those spans (nor the 250 ms after each).
	forks    []span
	e2eQuiet latSummary
	lag      latSummary // open loop: how late senders started events

	gwCPU, gwSys, redisCPU, selfCPU time.Duration // over the measured window (gwSys: webhookd's system part)
	gwSwitches                      int64         // webhookd's context switches over the window (procSwitches)
	gwHWM, redisHWM                 int64
	redisMem                        int64
	redisCmds, redisScripts         int64 // commands Redis ran (inside scripts too) and script runs, over the window

	rates []float64 // deliveries/s of every repetition of this run, in order, when it was repeated (it is the median)
}

// runsText lists the delivery rates of a repeated run, "" for one run.
func (r *runResult) runsText() string {
	if len(r.rates) < 2 {
		return ""
	}
	parts := make([]string, len(r.rates))
	for i, v := range r.rates {
		parts[i] = fmtRate(v)
	}
	return strings.Join(parts, " / ")
}

// complete reports whether every expected delivery arrived, verified, with no publish error. Behind a receiver that
// fails on purpose (failPerMille), a delivery whose every attempt failed ends dead: it counts as ended.
func (r *runResult) complete() bool {
	ended := r.delivered
	if r.spec.failPerMille > 0 && r.dead > 0 {
		ended += r.dead
	}
	return r.err == nil && r.na == "" && r.pubErrors == 0 && r.sigFailures == 0 && ended == r.expected && r.expected > 0
}

// problems describes what makes a run incomplete, for the notes under a table.
func (r *runResult) problems() []string {
	var p []string
	if r.err != nil {
		p = append(p, "error: "+firstLine(r.err.Error()))
	}
	if r.pubErrors > 0 {
		p = append(p, fmt.Sprintf("%d publish errors (first: %s)", r.pubErrors, r.firstPubErr))
	}
	if r.sigFailures > 0 {
		p = append(p, fmt.Sprintf("%d SIGNATURE FAILURES (first: %s)", r.sigFailures, r.firstSigErr))
	}
	if r.err == nil && r.na == "" && r.delivered < r.expected && !r.complete() {
		miss := fmt.Sprintf("%d of %d deliveries missing at the drain deadline", r.expected-r.delivered, r.expected)
		switch {
		case r.dead > 0:
			miss += fmt.Sprintf(" (%d dead in webhookd's log: every attempt failed at the receiver)", r.dead)
		case r.dead == 0:
			miss += " (none dead in webhookd's log)"
		}
		p = append(p, miss)
	}
	if r.duplicates > 0 {
		p = append(p, fmt.Sprintf("%d duplicate deliveries (at-least-once)", r.duplicates))
	}
	if r.unknown > 0 {
		p = append(p, fmt.Sprintf("%d deliveries of unknown messages", r.unknown))
	}
	return p
}

// execute runs spec once: start everything, set up, warm up, measure, tear down.
func (b *bench) execute(ctx context.Context, spec runSpec) *runResult {
	res := &runResult{spec: spec}
	b.progress("%-9s %s ...", spec.store, spec.label)
	start := time.Now()
	b.executeInto(ctx, spec, res)
	switch {
	case res.na != "":
		b.progress("  n/a: %s", res.na)
	case res.err != nil:
		b.progress("  ERROR: %v", res.err)
	default:
		b.progress("  %d events, %d/%d deliveries, %.0f deliveries/s, e2e p50 %s p99 %s (%s)",
			res.accepted, res.delivered, res.expected, res.deliveryRate, fmtDur(res.e2e.P50), fmtDur(res.e2e.P99),
			time.Since(start).Round(100*time.Millisecond))
		for _, p := range res.problems() {
			b.progress("  note: %s", p)
		}
	}
	return res
}

func (b *bench) executeInto(ctx context.Context, spec runSpec, res *runResult) {
	dir, err := os.MkdirTemp("", "webhookd-bench-")
	if err != nil {
		res.err = err
		return
	}
	defer os.RemoveAll(dir)

	storeArg := ""
	var rds *redisProc
	if spec.store == "redis" {
		if b.redisBin == "" {
			res.na = "redis-server not found"
			return
		}
		rds, err = startRedis(b.redisBin, dir)
		if err != nil {
			res.err = err
			return
		}
		defer rds.stop()
		storeArg = rds.url()
	}

	base := time.Now()
	healthy := spec.endpoints - spec.hang
	capacity := spec.events*healthy + spec.events*healthy/20 + 1024
	rcv, err := newReceiver(base, spec.endpoints, 0, min(capacity, 1<<20))
	if err != nil {
		res.err = err
		return
	}
	rcv.failPerMille = int32(spec.failPerMille)
	defer rcv.close()

	gw, err := startGateway(b.webhookdBin, dir, storeArg, b.opt.logLevel, append(slices.Clone(b.opt.gatewayArgs), spec.args...))
	if errors.Is(err, errStoreUnavailable) {
		res.na = errStoreUnavailable.Error()
		b.progress("  webhookd refused --store %s: %s", storeArg, strings.TrimPrefix(err.Error(), errStoreUnavailable.Error()+": "))
		return
	}
	if err != nil {
		res.err = err
		return
	}
	defer gw.stop(5 * time.Second)
	api := newAPIClient(gw.addr, b.opt.publishers)
	defer api.close()
	fail := func(err error) { res.err = fmt.Errorf("%w\n--- webhookd log (last lines):\n%s", err, gw.logTail(15)) }

	const tenant = "bench"
	if err := api.setup(ctx, tenant, rcv); err != nil {
		fail(err)
		return
	}
	tag := fmt.Sprintf("r%d", base.UnixNano())
	body := newEventBody(tag+"m", b.opt.idempotency)

	// Warm-up: connections, pools, page cache, Redis scripts. Every endpoint is healthy during it.
	warm := &publisher{api: api, tenant: tenant, body: newEventBody(tag+"w", b.opt.idempotency), base: base}
	wn := max(1, min(b.opt.warmup, 20000/spec.endpoints))
	wr := warm.closedLoop(ctx, min(b.opt.publishers, wn), wn, 30*time.Second, 1)
	if wr.errors > 0 {
		fail(fmt.Errorf("warm-up: %d publish errors, first: %s", wr.errors, wr.firstErr))
		return
	}
	if !waitCount(ctx, rcv, len(wr.recs)*spec.endpoints, time.Now().Add(30*time.Second)) {
		fail(fmt.Errorf("warm-up: %d of %d deliveries in 30s", rcv.count.Load(), len(wr.recs)*spec.endpoints))
		return
	}
	time.Sleep(50 * time.Millisecond) // let the last acks land before the window opens
	for i := range spec.hang {
		rcv.eps[i].hang.Store(true) // the warm-up is fully delivered: no request to them is in flight
	}
	rcv.reset()
	rcv.track = spec.track
	if spec.track {
		body = newOrderedBody(spec.keys)
	}

	// The measured window.
	if rds != nil {
		_ = rds.client.ConfigResetStat(ctx).Err() // commandstats count from here
	}
	cpu0 := b.sampleCPU(gw, rds)
	var forks <-chan []span
	stopForks := make(chan struct{})
	endForks := sync.OnceFunc(func() { close(stopForks) })
	defer endForks()
	if rds != nil && spec.open {
		forks = rds.watchForks(ctx, base, stopForks)
	}
	p := &publisher{api: api, tenant: tenant, body: body, base: base}
	var pr pubResult
	var lags []int64
	if spec.open {
		pr, lags = p.openLoop(ctx, b.opt.openWorkers, spec.rate, spec.events, spec.duration)
	} else if spec.track {
		pr = p.stridedLoop(ctx, b.opt.publishers, spec.keys, spec.events, spec.duration)
	} else {
		pr = p.closedLoop(ctx, b.opt.publishers, spec.events, spec.duration, spec.batch)
	}
	res.accepted, res.pubErrors, res.firstPubErr = len(pr.recs), pr.errors, pr.firstErr
	for _, r := range pr.recs {
		if r.fanout != spec.endpoints {
			fail(fmt.Errorf("event %s fanned out to %d endpoints, want %d", r.id, r.fanout, spec.endpoints))
			return
		}
	}
	res.expected = res.accepted * healthy
	deadline := time.Now().Add(b.opt.drain)
	lastDead := time.Now()
	for {
		if rcv.count.Load() >= int64(res.expected) && distinctHealthy(rcv.snapshot()) >= res.expected {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			res.dead = api.countDead(ctx, tenant)
			break
		}
		// Behind a receiver that fails on purpose a delivery may die: once a second, count those as ended.
		if spec.failPerMille > 0 && time.Since(lastDead) >= time.Second {
			lastDead = time.Now()
			if d := api.countDead(ctx, tenant); d > 0 && distinctHealthy(rcv.snapshot())+d >= res.expected {
				res.dead = d
				break
			}
		}
		if rcv.count.Load() < int64(res.expected) {
			time.Sleep(2 * time.Millisecond)
		} else {
			time.Sleep(20 * time.Millisecond) // duplicates counted: look again at the distinct ones
		}
	}
	cpu1 := b.sampleCPU(gw, rds)
	endForks()
	if forks != nil {
		res.forks = <-forks
	}
	res.gwCPU, res.gwSys = cpu1.gw-cpu0.gw, cpu1.gwSys-cpu0.gwSys
	res.gwSwitches = cpu1.gwSwitches - cpu0.gwSwitches
	res.redisCPU, res.selfCPU = cpu1.redis-cpu0.redis, cpu1.self-cpu0.self
	res.gwHWM, _ = procHWM(gw.pid())
	if rds != nil {
		res.redisHWM, _ = procHWM(rds.pid())
		res.redisMem, _ = rds.usedMemory(ctx)
		var byName map[string]int64
		res.redisCmds, res.redisScripts, byName, _ = rds.commandCounts(ctx)
		if b.opt.commandStats && byName != nil {
			b.progress("  redis calls per delivery: %s", perDelivery(byName, res.expected))
		}
	}
	res.hung = rcv.hung.Load()
	res.violations = rcv.violations.Load()
	res.sigFailures = rcv.failures.Load()
	if e := rcv.firstErr.Load(); e != nil {
		res.firstSigErr = *e
	}
	select {
	case <-gw.done:
		fail(fmt.Errorf("webhookd exited during the run: %v", gw.waitErr))
		return
	default:
	}
	analyze(res, pr, rcv.snapshot(), lags)
}

// waitCount waits until the receiver has counted n healthy deliveries, or deadline.
func waitCount(ctx context.Context, rcv *receiver, n int, deadline time.Time) bool {
	for rcv.count.Load() < int64(n) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

type recKey struct {
	ep int32
	id string
}

func distinctHealthy(rs []receipt) int {
	seen := make(map[recKey]struct{}, len(rs))
	for _, r := range rs {
		seen[recKey{r.ep, r.id}] = struct{}{}
	}
	return len(seen)
}

// analyze turns the publishers' records and the receipts into the run's figures.
func analyze(res *runResult, pr pubResult, rs []receipt, lags []int64) {
	origin := make(map[string]int64, len(pr.recs))
	ingest := make([]int64, 0, len(pr.recs))
	for _, r := range pr.recs {
		origin[r.id] = r.origin
		ingest = append(ingest, r.done-r.sent)
	}
	seen := make(map[recKey]struct{}, len(rs))
	e2e := make([]int64, 0, len(rs))
	var quiet []int64 // e2e of the events that waited through no fork of Redis's (res.forks)
	var last int64
	for _, r := range rs {
		o, ok := origin[r.id]
		if !ok {
			res.unknown++
			continue
		}
		k := recKey{r.ep, r.id}
		if _, dup := seen[k]; dup {
			res.duplicates++
			continue
		}
		seen[k] = struct{}{}
		e2e = append(e2e, r.at-o)
		last = max(last, r.at)
		if len(res.forks) > 0 && !overlaps(res.forks, o, r.at) {
			quiet = append(quiet, r.at-o)
		}
	}
	res.delivered = len(seen)
	res.e2e = summarize(e2e)
	if len(res.forks) > 0 {
		res.e2eQuiet = summarize(quiet)
	}
	res.ingest = summarize(ingest)
	res.lag = summarize(lags)
	if len(pr.recs) > 0 {
		res.publishFor = time.Duration(pr.end - pr.start)
		res.ingestRate = float64(len(pr.recs)) / res.publishFor.Seconds()
	}
	if res.delivered > 0 {
		res.span = time.Duration(last - pr.start)
		res.deliveryRate = float64(res.delivered) / res.span.Seconds()
	}
}

type cpuSample struct {
	gw, gwSys, redis, self time.Duration
	gwSwitches             int64
}

func (b *bench) sampleCPU(gw *gateway, rds *redisProc) cpuSample {
	var s cpuSample
	u, sys, _ := procCPUSplit(gw.pid())
	s.gw, s.gwSys = u+sys, sys
	s.gwSwitches, _ = procSwitches(gw.pid())
	if rds != nil {
		s.redis, _ = procCPU(rds.pid())
	}
	s.self, _ = procCPU(os.Getpid())
	return s
}

// forkTail is how long after a Redis child ends its effect is counted: the backlog it left drains.
const forkTail = 250 * time.Millisecond

// overlaps reports whether [from, to] meets any span, each extended by forkTail.
func overlaps(spans []span, from, to int64) bool {
	for _, s := range spans {
		if from <= s.to+forkTail.Nanoseconds() && to >= s.from {
			return true
		}
	}
	return false
}
