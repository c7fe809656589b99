package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The ordered scenario (--scenarios ordered; section 7 of the page, left out of --quick): per-key ordering (issue
// 16). Closed-loop runs publish events over orderedKeys keys, each key's events one after another from one
// publisher, to one endpoint and to ten, with and without 10 % of requests answered 500 (a failing receiver;
// webhookd's adaptive limit reads 503 as overload and backs off, which is not what this scenario measures); each run
// is paired with the same run whose events carry no ordering key. The receiver checks every (endpoint, message)'s
// first arrival against its key's sequence (carried in the data) and counts order violations. It reports
// deliveries/s with and without keys (target: at most 15 % slower) and the violations with keys (target: 0).

const (
	orderedKeys         = 1000
	orderedMaxSlowdown  = 0.15
	orderedFailPerMille = 100
)

// newOrderedBody renders events whose data starts with {"k":<key>,"s":<sequence>, for keys keys; with keys > 0 the
// events carry ordering_key "k<key>" too. Event i has key i % orderedKeys and sequence i / orderedKeys.
func newOrderedBody(keys int) *eventBody {
	const tail = `"}`
	pad := strings.Repeat("x", payloadSize-40)
	return &eventBody{data: []byte(`,"pad":"` + pad + tail), ordered: true, keys: keys}
}

func (e *eventBody) appendOrdered(dst []byte, i int) []byte {
	k, s := i%orderedKeys, i/orderedKeys
	dst = append(dst, `{"type":"bench.event",`...)
	if e.keys > 0 {
		dst = append(dst, `"ordering_key":"k`...)
		dst = strconv.AppendInt(dst, int64(k), 10)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"data":{"k":`...)
	dst = strconv.AppendInt(dst, int64(k), 10)
	dst = append(dst, `,"s":`...)
	dst = strconv.AppendInt(dst, int64(s), 10)
	dst = append(dst, e.data...)
	return append(dst, '}')
}

// stridedLoop is closedLoop where worker w publishes events w, w + workers, w + 2·workers, …: with workers dividing
// orderedKeys, each key's events come from one worker, one after another, so its publish order is its sequence.
func (p *publisher) stridedLoop(ctx context.Context, workers, _ int, events int, d time.Duration) pubResult {
	for orderedKeys%workers != 0 {
		workers--
	}
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			local := make([]pubRecord, 0, events/workers+1)
			buf := make([]byte, 0, 2048)
			for i := w; i < events && ctx.Err() == nil && time.Now().Before(stop); i += workers {
				buf = p.one(ctx, buf, i, -1, &local)
			}
			p.merge(local)
		})
	}
	wg.Wait()
	return p.finish()
}

// checkOrder records the arrival of message id at endpoint ep and, when it is the first, checks that its sequence
// is the next of its key there.
func (r *receiver) checkOrder(ep int32, id string, body []byte) {
	k, ok1 := intAfter(body, `"k":`)
	s, ok2 := intAfter(body, `"s":`)
	if !ok1 || !ok2 {
		r.fail("endpoint %d: an ordered event without k and s", ep)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == nil {
		r.first, r.nextSeq = map[recKey]struct{}{}, map[[2]int64]int64{}
	}
	rk := recKey{ep, id}
	if _, seen := r.first[rk]; seen {
		return
	}
	r.first[rk] = struct{}{}
	key := [2]int64{int64(ep), k}
	if s != r.nextSeq[key] {
		r.violations.Add(1)
	}
	r.nextSeq[key] = max(r.nextSeq[key], s+1)
}

// intAfter parses the integer right after the first occurrence of marker in b.
func intAfter(b []byte, marker string) (int64, bool) {
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(marker):]
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(b[:j]), 10, 64)
	return n, err == nil
}

// orderedPair is one ordered run and its keyless twin.
type orderedPair struct {
	store          string
	endpoints      int
	failPerMille   int
	keyed, keyless *runResult
}

// runOrdered runs the scenario's pairs on every store.
func (b *bench) runOrdered(ctx context.Context) []orderedPair {
	o := b.opt
	events := o.satEvents
	var out []orderedPair
	for _, store := range o.stores {
		for _, eps := range []int{1, 10} {
			for _, fail := range []int{0, orderedFailPerMille} {
				spec := runSpec{store: store, endpoints: eps, events: max(events/eps, orderedKeys), duration: o.satDuration,
					track: true, failPerMille: fail, args: []string{"--retry-initial=50ms", "--retry-cap=200ms"}}
				pair := orderedPair{store: store, endpoints: eps, failPerMille: fail}
				keyed := spec
				spec.label = fmt.Sprintf("ordered, %d endpoint(s), %d‰ failures, no keys", eps, fail)
				keyed.keys = orderedKeys
				keyed.label = fmt.Sprintf("ordered, %d endpoint(s), %d‰ failures, %d keys", eps, fail, orderedKeys)
				// --repeat alternates the two (without, with, without, …), so that a drift of the machine's speed
				// weighs on both alike; each side is the median of its runs.
				var without, with []*runResult
				for range max(o.repeat, 1) {
					without = append(without, b.execute(ctx, spec))
					with = append(with, b.execute(ctx, keyed))
				}
				pair.keyless, pair.keyed = medianRun(without), medianRun(with)
				for _, r := range with {
					pair.keyed.violations = max(pair.keyed.violations, r.violations)
				}
				b.progress("  order violations: %d with keys, %d without", pair.keyed.violations, pair.keyless.violations)
				out = append(out, pair)
			}
		}
	}
	return out
}

// orderedTable is the scenario's table, a row per pair, then every run's rate and any problem.
func orderedTable(ps []orderedPair) string {
	var sb strings.Builder
	sb.WriteString("| store | endpoints | receiver failures | deliveries/s without keys | with 1,000 keys | slower | target ≤ 15 % | order violations with keys (target 0) | without keys |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var notes []string
	for _, p := range ps {
		slow, verdict := "—", "—"
		if p.keyed.complete() && p.keyless.complete() && p.keyless.deliveryRate > 0 {
			d := 1 - p.keyed.deliveryRate/p.keyless.deliveryRate
			slow = fmt.Sprintf("%.1f %%", d*100)
			verdict = "PASS"
			if d > orderedMaxSlowdown {
				verdict = "MISS"
			}
		}
		vio := fmt.Sprint(p.keyed.violations)
		if p.keyed.violations > 0 {
			vio += " MISS"
		}
		fmt.Fprintf(&sb, "| %s | %d | %d %% | %s | %s | %s | %s | %s | %d |\n", p.store, p.endpoints, p.failPerMille/10,
			fmtRate(p.keyless.deliveryRate), fmtRate(p.keyed.deliveryRate), slow, verdict, vio, p.keyless.violations)
		for _, r := range []*runResult{p.keyless, p.keyed} {
			if t := r.runsText(); t != "" {
				notes = append(notes, fmt.Sprintf("- %s %s: runs %s deliveries/s", r.spec.store, r.spec.label, t))
			}
			for _, pr := range r.problems() {
				if !strings.HasPrefix(pr, fmt.Sprintf("%d duplicate", r.duplicates)) {
					notes = append(notes, fmt.Sprintf("- %s %s: %s", r.spec.store, r.spec.label, pr))
				}
			}
		}
	}
	sb.WriteString("\n")
	for _, n := range notes {
		sb.WriteString(n + "\n")
	}
	return sb.String()
}
