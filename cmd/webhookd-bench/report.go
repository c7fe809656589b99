package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// machine describes where the numbers were taken.
type machine struct {
	CPU    string
	Cores  int
	Memory string
	Kernel string
	Go     string
	Redis  string
	Date   string
	Commit string
	Host   hostCost // what the host charges for waking up (hostprobe.go)
}

func machineInfo(b *bench) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format("2006-01-02 15:04 MST")}
	if c, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(c), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if c, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(c), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
				m.Memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(k))
	}
	if b.redisBin != "" {
		if out, err := exec.Command(b.redisBin, "--version").Output(); err == nil {
			f := strings.Fields(string(out))
			for _, w := range f {
				if v, ok := strings.CutPrefix(w, "v="); ok {
					m.Redis = v
				}
			}
		}
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = b.modRoot
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// Formatting.

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// fmtQ formats the p99 or p99.9 of l, or "—" when it has fewer samples than the quantile needs to mean anything.
func fmtQ(l latSummary, q float64) string {
	if float64(l.N)*(1-q) < 1 {
		return "— (n=" + fmt.Sprint(l.N) + ")"
	}
	if q == 0.99 {
		return fmtDur(l.P99)
	}
	return fmtDur(l.P999)
}

func fmtInt(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtRate(f float64) string {
	if f <= 0 {
		return "—"
	}
	return fmtInt(int64(f + 0.5))
}

func fmtBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// table is a markdown table under construction.
type table struct {
	b     strings.Builder
	notes []string
}

func newTable(cols ...string) *table {
	t := &table{}
	t.row(cols...)
	seps := make([]string, len(cols))
	for i := range seps {
		seps[i] = "---"
	}
	t.row(seps...)
	return t
}

func (t *table) row(cells ...string) {
	t.b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *table) String() string {
	s := t.b.String()
	if len(t.notes) > 0 {
		s += "\n"
		for _, n := range t.notes {
			s += "- " + n + "\n"
		}
	}
	return s
}

// naRow fills a row for a run that did not produce figures; ok is false when the run has figures.
func naRow(t *table, r *runResult, lead []string, width int) bool {
	var msg string
	switch {
	case r == nil:
		msg = "not run"
	case r.na != "":
		msg = "n/a (" + r.na + ")"
	case r.err != nil:
		msg = "ERROR: " + firstLine(r.err.Error())
	default:
		return false
	}
	cells := append(append([]string{}, lead...), msg)
	for len(cells) < width {
		cells = append(cells, "")
	}
	t.row(cells...)
	return true
}

// verdict is PASS or MISS for a run with figures; an incomplete run (missing deliveries, publish errors) misses
// whatever its figures say, and signature failures fail.
func verdict(r *runResult, target string, ok bool) string {
	switch {
	case r.sigFailures > 0:
		return "**FAIL** (signatures)"
	case !r.complete():
		if target == "" {
			return "incomplete"
		}
		return "MISS (incomplete)"
	case target == "":
		return "—"
	case ok:
		return "PASS"
	}
	return "**MISS**"
}

func addProblems(t *table, r *runResult, what string) {
	if r == nil || r.na != "" || r.err != nil {
		return
	}
	for _, p := range r.problems() {
		t.note("%s %s: %s", r.spec.store, what, p)
	}
}

// Targets of issue 5.
func satTarget(store string) (float64, string) {
	if store == "redis" {
		return 8000, "≥ 8,000 deliveries/s"
	}
	return 4000, "≥ 4,000 deliveries/s"
}

func steadyTarget(rate int) (time.Duration, string) {
	switch rate {
	case 200:
		return 10 * time.Millisecond, "p99 ≤ 10 ms"
	case 1000:
		return 10 * time.Millisecond, "p99 ≤ 10 ms"
	}
	return 0, ""
}

func fanoutTarget(store string, n int) (float64, string) {
	if store == "redis" && n == 10 {
		return 10000, "≥ 10,000 deliveries/s"
	}
	return 0, ""
}

const (
	isoMaxLoss   = 0.10
	isoMaxGrowth = 10 * time.Millisecond
	memTarget    = 1024.0
)

// markdown renders the whole report (what the tool prints).
func (r *results) markdown() string {
	var b strings.Builder
	b.WriteString("# webhookd end-to-end benchmark\n\n")
	if r.quick {
		b.WriteString("> **QUICK SMOKE RUN** (`--quick`): small counts on a shared machine. These numbers are noisy and are not results.\n\n")
	}
	b.WriteString(r.machineText())
	b.WriteString("\n" + r.setupText() + "\n## Results\n")
	b.WriteString(r.tables())
	return b.String()
}

func (r *results) machineText() string {
	m := r.machine
	return fmt.Sprintf("- Machine: %s, %d cores, %s, %s\n%s- Go %s; redis-server %s\n- Date: %s; webhookd at %s\n- Command: `%s`\n",
		orDash(m.CPU), m.Cores, orDash(m.Memory), orDash(m.Kernel), m.Host.text(), strings.TrimPrefix(m.Go, "go"),
		orDash(m.Redis), m.Date, orDash(m.Commit), r.command)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (r *results) setupText() string {
	o := r.opt
	idem := "with a producer id (`\"id\"`) each, as a retrying console sends"
	if !o.idempotency {
		idem = "without producer ids"
	}
	extra := "webhookd's defaults"
	if len(o.gatewayArgs) > 0 {
		extra = "webhookd's defaults plus `" + strings.Join(o.gatewayArgs, " ") + "`"
	}
	return fmt.Sprintf(`Every run starts a fresh `+"`webhookd serve`"+` (%s: %d workers, %d attempts in flight per endpoint,
1 s per attempt, log level %s) on a fresh store: a bbolt file in a temp dir (embedded), or a throwaway redis-server
with AOF everysec and noeviction (Redis). One tenant; its endpoints are subscribed to every event type and point at a
loopback receiver in the tool (its own HTTP/1.1 reader, lighter than net/http's server) that verifies every request's
HMAC signature with `+"`verifier.Verify`"+` and records when each webhook-id arrived. Events carry 1 KiB of JSON data, %s. Up to %d events are published and delivered
before each measured window (warm-up). e2e latency is receipt − publish-request start (closed loop) or receipt −
scheduled send time (open loop, so a slow answer never slows the offered load). deliveries/s is distinct verified
deliveries ÷ (last receipt − first publish). Closed loop: %d publishers, each waiting for its 202. Open loop: a
fixed schedule served by %d senders.
`, extra, delivery.DefaultWorkers, delivery.DefaultMaxInFlight, o.logLevel, idem, o.warmup, o.publishers, o.openWorkers)
}

func (r *results) tables() string {
	var b strings.Builder
	section := func(title, body string) { b.WriteString("\n### " + title + "\n\n" + body) }
	notRun := "_Not run._\n"
	if r.scenario["saturation"] || len(r.sat) > 0 {
		section("1. Saturation, one endpoint", r.satTable())
	} else {
		section("1. Saturation, one endpoint", notRun)
	}
	if r.scenario["steady"] {
		section("2. Steady load, one endpoint", r.steadyTable())
	} else {
		section("2. Steady load, one endpoint", notRun)
	}
	if r.scenario["fanout"] {
		section("3. Fan-out", r.fanoutTable())
	} else {
		section("3. Fan-out", notRun)
	}
	if r.scenario["isolation"] {
		section("4. Isolation: hanging endpoints", r.isoTable())
	} else {
		section("4. Isolation: hanging endpoints", notRun)
	}
	if r.scenario["backlog"] {
		section("5. Backlog in Redis", r.backlogTable())
	} else {
		section("5. Backlog in Redis", notRun)
	}
	if r.scenario["cost"] {
		section("6. Cost", r.costTable())
	} else {
		section("6. Cost", notRun)
	}
	if r.scenario["ordered"] {
		section("7. Ordered deliveries", orderedTable(r.ordered))
	} else {
		section("7. Ordered deliveries", notRun)
	}
	return b.String()
}

func (r *results) satTable() string {
	t := newTable("store", "publishing", "in flight per endpoint", "events", "ingest (events/s)", "deliveries/s", "e2e p50",
		"e2e p99", "every run (deliveries/s)", "target", "result")
	for _, s := range r.stores {
		for _, x := range r.sat[s] {
			publishing, capText := "1 event per request", fmt.Sprintf("%d (default)", delivery.DefaultMaxInFlight)
			if x.spec.batch > 1 {
				publishing = fmt.Sprintf("%d events per request (batch)", x.spec.batch)
			}
			if len(x.spec.args) > 0 {
				capText = fmt.Sprintf("%d (%s)", r.opt.satCap, "`"+strings.Join(x.spec.args, " ")+"`")
			}
			if naRow(t, x, []string{s, publishing, capText}, 11) {
				continue
			}
			floor, target := satTarget(s)
			t.row(s, publishing, capText, fmtInt(int64(x.accepted)), fmtRate(x.ingestRate), fmtRate(x.deliveryRate),
				fmtDur(x.e2e.P50), fmtDur(x.e2e.P99), orDash(x.runsText()), target, verdict(x, target, x.deliveryRate >= floor))
			addProblems(t, x, x.spec.label)
		}
	}
	t.note("Closed loop: publishers send as fast as the API answers, so a backlog builds when ingest outpaces delivery and e2e latency is mostly queueing.")
	t.note("Each row is the median of its runs by delivery rate (`--repeat`), all of whose rates are listed: on this shared VM one build's runs vary by up to ±15%%.")
	t.note("The first run per store uses webhookd's defaults. The others measure the same endpoint allowed more attempts in flight (the operator's `--max-in-flight-per-endpoint`, for a receiver that can take them), then also fed through the batch publish API (`POST /v1/tenants/{tenant}/events/batch`).")
	return t.String()
}

func (r *results) steadyTable() string {
	t := newTable("store", "offered (events/s)", "events", "deliveries/s", "e2e p50", "e2e p99", "e2e p99.9", "e2e max",
		"ingest p99", "sender lag p99 / max", "e2e p99 away from Redis forks", "target", "result")
	for _, s := range r.stores {
		for _, x := range r.steady[s] {
			rate := int(x.spec.rate)
			if naRow(t, x, []string{s, fmt.Sprint(rate)}, 13) {
				continue
			}
			ceil, target := steadyTarget(rate)
			t.row(s, fmtInt(int64(rate)), fmtInt(int64(x.accepted)), fmtRate(x.deliveryRate), fmtDur(x.e2e.P50),
				fmtQ(x.e2e, 0.99), fmtQ(x.e2e, 0.999), fmtDur(x.e2e.Max), fmtDur(x.ingest.P99),
				fmtDur(x.lag.P99)+" / "+fmtDur(x.lag.Max), quietP99(x), target, verdict(x, target, x.e2e.P99 <= ceil))
			if n := len(x.forks); n > 0 {
				var busy time.Duration
				for _, f := range x.forks {
					busy += time.Duration(f.to - f.from)
				}
				t.note("%s %d/s: Redis had a child at work (AOF rewrite or RDB save) %d time(s), %s in all; %.1f %% of the deliveries waited through one (or its %s after), and the p99 of the others is the column before the target. The verdict is on the p99 of all.",
					s, rate, n, fmtDur(busy), 100*(1-float64(x.e2eQuiet.N)/float64(max(x.e2e.N, 1))), fmtDur(forkTail))
			}
			addProblems(t, x, fmt.Sprintf("%d/s", rate))
			if x.lag.P99 > 5*time.Millisecond {
				t.note("%s %d/s: the senders fell behind the schedule (lag p99 %s); latency is still measured from the scheduled time.", s, rate, fmtDur(x.lag.P99))
			}
		}
	}
	return t.String()
}

func (r *results) fanoutTable() string {
	t := newTable("store", "endpoints", "events", "ingest (events/s)", "deliveries/s", "e2e p50", "e2e p99",
		"every run (deliveries/s)", "target", "result")
	for _, s := range r.stores {
		for _, x := range r.fanout[s] {
			if naRow(t, x, []string{s, fmt.Sprint(x.spec.endpoints)}, 10) {
				continue
			}
			floor, target := fanoutTarget(s, x.spec.endpoints)
			t.row(s, fmt.Sprint(x.spec.endpoints), fmtInt(int64(x.accepted)), fmtRate(x.ingestRate), fmtRate(x.deliveryRate),
				fmtDur(x.e2e.P50), fmtDur(x.e2e.P99), orDash(x.runsText()), orDash(target), verdict(x, target, x.deliveryRate >= floor))
			addProblems(t, x, fmt.Sprintf("fan-out %d", x.spec.endpoints))
		}
	}
	t.note("Closed loop, every endpoint subscribed to every event: each event is one delivery per endpoint. Each row is the median of its runs (`--repeat`).")
	return t.String()
}

func (r *results) isoTable() string {
	o := r.opt
	healthy := o.isoEndpoints - o.isoHang
	t := newTable("store", "hanging endpoints", "healthy deliveries/s (closed loop)",
		fmt.Sprintf("healthy e2e p50 at %g events/s", o.isoRate), fmt.Sprintf("healthy e2e p99 at %g events/s", o.isoRate),
		"requests held by hanging endpoints")
	v := newTable("store", "healthy throughput change", "healthy p99 change", "target", "result")
	for _, s := range r.stores {
		ir := r.iso[s]
		if ir == nil {
			continue
		}
		for _, pair := range []struct {
			label    string
			sat, lat *runResult
		}{{"none", ir.baseSat, ir.baseLat}, {fmt.Sprintf("%d of %d", o.isoHang, o.isoEndpoints), ir.hangSat, ir.hangLat}} {
			if naRow(t, pair.sat, []string{s, pair.label}, 6) {
				continue
			}
			lat := pair.lat
			p50, p99 := "—", "—"
			if lat != nil && lat.na == "" && lat.err == nil {
				p50, p99 = fmtDur(lat.e2e.P50), fmtDur(lat.e2e.P99)
			}
			held := pair.sat.hung
			if lat != nil {
				held += lat.hung
			}
			rate := fmtRate(pair.sat.deliveryRate)
			if runs := pair.sat.runsText(); runs != "" {
				rate += " (runs: " + runs + ")"
			}
			t.row(s, pair.label, rate, p50, p99, fmtInt(held))
			addProblems(t, pair.sat, "isolation throughput ("+pair.label+" hanging)")
			addProblems(t, lat, "isolation latency ("+pair.label+" hanging)")
		}
		target := fmt.Sprintf("loss ≤ %.0f%%, p99 +≤ %s", isoMaxLoss*100, fmtDur(isoMaxGrowth))
		if naRow(v, firstBad(ir.baseSat, ir.hangSat, ir.baseLat, ir.hangLat), []string{s}, 5) {
			continue
		}
		loss := 1 - ir.hangSat.deliveryRate/ir.baseSat.deliveryRate
		growth := ir.hangLat.e2e.P99 - ir.baseLat.e2e.P99
		ok := loss <= isoMaxLoss && growth <= isoMaxGrowth
		res := "PASS"
		switch {
		case ir.baseSat.sigFailures+ir.hangSat.sigFailures+ir.baseLat.sigFailures+ir.hangLat.sigFailures > 0:
			res = "**FAIL** (signatures)"
		case !ir.baseSat.complete() || !ir.hangSat.complete() || !ir.baseLat.complete() || !ir.hangLat.complete():
			res = "MISS (incomplete)"
		case !ok:
			res = "**MISS**"
		}
		sign := "+"
		if growth < 0 {
			sign, growth = "−", -growth
		}
		v.row(s, fmt.Sprintf("%+.1f%%", -loss*100), sign+fmtDur(growth), target, res)
	}
	t.note("Each event goes to all %d endpoints; figures are for the %d healthy ones. Hanging endpoints hold each request until webhookd's 1 s budget ends it; their deliveries are retried on the default schedule. The throughput runs alternate (none, hanging, none, …) %d times and each side is the median of its runs; the latency runs are one each.", o.isoEndpoints, healthy, max(o.repeat, 1))
	return t.String() + "\n" + v.String()
}

func firstBad(rs ...*runResult) *runResult {
	for _, r := range rs {
		if r == nil || r.na != "" || r.err != nil {
			return r
		}
	}
	return &runResult{} // all good: naRow prints nothing for it
}

func (r *results) backlogTable() string {
	x := r.backlog
	t := newTable("store", "pending deliveries", "Redis bytes per pending delivery, beyond its body", "bytes per message (body + record)",
		"Redis used_memory", "scheduling rate (deliveries/s)", "target", "result")
	c := newTable("store", "due deliveries", "claimed + acked /s", "Claim call p50 / p99", "tasks per Claim", "Ack p50 / p99",
		"idle Claim p50 / p99 (nothing due)", "redis CPU s / 1k claims")
	if x == nil {
		if !containsStr(r.stores, "redis") {
			return "_Redis only; not run (--stores has no redis)._\n"
		}
		return "_Not run._\n"
	}
	if x.na != "" || (x.err != nil && x.pending == 0) {
		msg := "n/a (" + x.na + ")"
		if x.err != nil {
			msg = "ERROR: " + firstLine(x.err.Error())
		}
		t.row("redis", msg, "", "", "", "", "", "")
		return t.String()
	}
	res := "PASS"
	if x.perDelivery > memTarget {
		res = "**MISS**"
	}
	if x.err != nil {
		res = "ERROR"
	}
	t.row("redis", fmtInt(int64(x.pending)), fmtInt(int64(x.perDelivery+0.5)), fmtInt(int64(x.bodyPerMsg+0.5)),
		fmtBytes(x.usedMemory), fmtRate(x.enqueueRate), "≤ 1,024 bytes", res)
	t.note("%d messages with 1 KiB data, each fanned out to %d of %d endpoints through Store.Publish; bytes per delivery = (used_memory growth with deliveries − growth of the same messages without deliveries) ÷ deliveries.", x.messages, x.perMessage, x.endpoints)
	if x.err != nil {
		t.note("error: %s", firstLine(x.err.Error()))
	}
	c.row("redis", fmtInt(int64(x.due)), fmtRate(x.claimRate), fmtDur(x.claimCall.P50)+" / "+fmtDur(x.claimCall.P99),
		fmt.Sprintf("%.1f", x.tasksPer), fmtDur(x.ack.P50)+" / "+fmtDur(x.ack.P99),
		fmtDur(x.emptyClaim.P50)+" / "+fmtDur(x.emptyClaim.P99), fmt.Sprintf("%.3f", x.redisCPUk))
	c.note("%d goroutines claim (batches of %d, lease %s, %d in flight per endpoint) and ack at once, in-process against the store package: queue cost alone, no HTTP.", backlogClaimers, backlogClaimBatch, delivery.DefaultLease, delivery.DefaultMaxInFlight)
	return t.String() + "\n" + c.String()
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (r *results) costTable() string {
	t := newTable("store", "run", "deliveries", "webhookd CPU s / 1k deliveries", "of which system",
		"webhookd context switches / delivery", "redis-server CPU s / 1k",
		"Redis commands / script runs per delivery", "load tool CPU s / 1k", "webhookd peak RSS", "redis-server peak RSS")
	for _, s := range r.stores {
		runs := slices.Clone(r.sat[s])
		runs = append(runs, r.fanout[s]...)
		for _, x := range r.steady[s] {
			if rate := int(x.spec.rate); rate == 200 || rate == 1000 { // idle-to-busy costs, beside saturation's
				runs = append(runs, x)
			}
		}
		for _, x := range runs {
			if x == nil {
				continue
			}
			if naRow(t, x, []string{s, x.spec.label}, 10) {
				continue
			}
			per := func(d time.Duration) string {
				if x.delivered == 0 {
					return "—"
				}
				return fmt.Sprintf("%.3f", d.Seconds()*1000/float64(x.delivered))
			}
			redisCPU, redisRSS, redisCmds := "—", "—", "—"
			if s == "redis" {
				redisCPU, redisRSS = per(x.redisCPU), fmtBytes(x.redisHWM)
				if x.delivered > 0 && x.redisCmds > 0 {
					redisCmds = fmt.Sprintf("%.1f / %.2f", float64(x.redisCmds)/float64(x.delivered),
						float64(x.redisScripts)/float64(x.delivered))
				}
			}
			sys := "—"
			if x.gwCPU > 0 {
				sys = fmt.Sprintf("%.0f%%", 100*x.gwSys.Seconds()/x.gwCPU.Seconds())
			}
			switches := "—"
			if x.delivered > 0 && x.gwSwitches > 0 {
				switches = fmt.Sprintf("%.1f", float64(x.gwSwitches)/float64(x.delivered))
			}
			t.row(s, x.spec.label, fmtInt(int64(x.delivered)), per(x.gwCPU), sys, switches, redisCPU, redisCmds, per(x.selfCPU),
				fmtBytes(x.gwHWM), redisRSS)
		}
	}
	t.note("CPU is utime+stime from /proc/PID/stat over the measured window (after set-up and warm-up, until the last delivery); peak RSS is VmHWM over the process's life. The load tool (publishers and the verifying receiver) shares the machine.")
	t.note("Context switches are the times webhookd's threads gave up their CPU over the window, to sleep (on the network, a disk write, a timer) or when preempted: voluntary and nonvoluntary, summed over /proc/PID/task/*/status. Each is a sleep and a wake-up, whose CPU cost is the host probe's (Machine, above); at a light load they, more than the work, set the CPU per delivery.")
	t.note("Redis commands are those INFO commandstats counts over the same window (after CONFIG RESETSTAT), the ones scripts run included, script runs (EVALSHA) apart: unlike CPU time, they do not depend on how fast the shared VM happens to be.")
	return t.String()
}

//go:embed docs.md.tmpl
var docsTemplate string

// writeDocs writes benchmarks.md and benchmarks.png into dir.
func (r *results) writeDocs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if r.plotPoints() > 0 {
		png, err := r.plot()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "benchmarks.png"), png, 0o644); err != nil {
			return err
		}
	}
	tmpl, err := template.New("docs").Parse(docsTemplate)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, map[string]any{
		"Quick":   r.quick,
		"Machine": r.machineText(),
		"Setup":   r.setupText(),
		"Tables":  r.tables(),
		"Command": r.command,
		"HasPlot": r.plotPoints() > 0,
		"Empty":   len(r.scenario) == 0,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "benchmarks.md"), buf.Bytes(), 0o644)
}

// quietP99 is a steady row's e2e p99 over the deliveries that waited through no Redis fork; "—" when Redis did not
// fork during the run (or the row is not Redis's).
func quietP99(x *runResult) string {
	if len(x.forks) == 0 {
		return "—"
	}
	return fmtQ(x.e2eQuiet, 0.99)
}
