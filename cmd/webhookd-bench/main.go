// Command webhookd-bench measures webhookd end to end, as a producer and receivers see it.
//
// For each scenario and store it starts the real `webhookd serve` as a child process (a fresh embedded store in a
// temp dir, or a throwaway redis-server), points endpoints at an in-process loopback receiver that verifies every
// signature and records when each webhook-id arrived, publishes 1 KiB events through the HTTP API, and prints
// markdown tables with the targets of issue 5 and PASS/MISS. Every run is bounded in events and in time, and uses
// loopback addresses only.
//
//	go run ./cmd/webhookd-bench                       # every scenario, both stores (about 20 minutes)
//	go run ./cmd/webhookd-bench --quick               # smoke test with small counts (under a minute)
//	go run ./cmd/webhookd-bench --write-docs          # also docs/benchmarks.md and docs/benchmarks.png
//
// Run it on an otherwise idle machine: the gateway, Redis, the publishers and the receiver share its cores, and the
// cost table says how much each took. Before its runs it measures what the host charges for a wake-up (hostprobe.go),
// which bounds the CPU per delivery at a light load, and prints it under the machine.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	webhookd     string
	redisServer  string
	scenarios    []string
	stores       []string
	quick        bool
	writeDocs    bool
	docsDir      string
	maxTime      time.Duration
	cpuProfile   string
	commandStats bool

	publishers  int
	openWorkers int
	warmup      int
	drain       time.Duration
	idempotency bool
	logLevel    string
	gatewayArgs []string

	satEvents   int
	satDuration time.Duration
	repeat      int // closed-loop throughput runs (saturation, fan-out) are run this many times; the median is reported
	satBatch    int // events per request in the tuned saturation run
	satCap      int // in-flight cap per endpoint in the tuned saturation runs

	rates          []int
	plotRates      []int
	steadyDuration time.Duration

	fanouts          []int
	fanoutDeliveries int
	fanoutDuration   time.Duration

	isoEndpoints int
	isoHang      int
	isoEvents    int
	isoRate      float64
	isoDuration  time.Duration

	backlog        int
	backlogDue     int
	backlogTimeout time.Duration

	callsRate        int
	callsDuration    time.Duration
	callsWorkers     int
	callsSatDuration time.Duration
}

var allScenarios = []string{"saturation", "steady", "fanout", "isolation", "backlog", "cost", "ordered"}

type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}
func (l listFlag) Set(s string) error {
	*l.v = nil
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l.v = append(*l.v, f)
		}
	}
	return nil
}

type intsFlag struct{ v *[]int }

func (l intsFlag) String() string {
	if l.v == nil {
		return ""
	}
	var s []string
	for _, n := range *l.v {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ",")
}
func (l intsFlag) Set(s string) error {
	*l.v = nil
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		*l.v = append(*l.v, n)
	}
	return nil
}

type repeatFlag struct{ v *[]string }

func (r repeatFlag) String() string     { return "" }
func (r repeatFlag) Set(s string) error { *r.v = append(*r.v, s); return nil }

func parseFlags(args []string) (options, error) {
	o := options{
		scenarios: slices.Clone(allScenarios), stores: []string{"embedded", "redis"},
		rates: []int{200, 1000}, plotRates: []int{100, 200, 500, 1000, 2000, 4000}, fanouts: []int{10, 100},
	}
	fs := flag.NewFlagSet("webhookd-bench", flag.ContinueOnError)
	fs.StringVar(&o.webhookd, "webhookd", "", "webhookd binary to run (default: go build ./cmd/webhookd into a temp dir)")
	fs.StringVar(&o.redisServer, "redis-server", "", "redis-server binary (default: redis-server on PATH; Redis rows are n/a without one)")
	fs.Var(listFlag{&o.scenarios}, "scenarios", "scenarios to run: "+strings.Join(allScenarios, ",")+" (or none)")
	fs.Var(listFlag{&o.stores}, "stores", "stores to run: embedded,redis")
	fs.BoolVar(&o.quick, "quick", false, "smoke test: small counts, under a minute; the numbers are not results")
	fs.BoolVar(&o.writeDocs, "write-docs", false, "write benchmarks.md and benchmarks.png into --docs-dir")
	fs.StringVar(&o.docsDir, "docs-dir", "", "where --write-docs writes (default: docs/ of the module)")
	fs.DurationVar(&o.maxTime, "max-time", 0, "stop everything after this long (default 60m, quick 2m)")
	fs.BoolVar(&o.commandStats, "commandstats", false, "after each Redis run, print Redis's calls per delivery by command (INFO commandstats)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the tool's own CPU profile (publishers and receiver) to this file")

	fs.IntVar(&o.publishers, "publishers", 32, "closed-loop publishers (goroutines, each with its keep-alive connection)")
	fs.IntVar(&o.openWorkers, "open-workers", 64, "senders behind the open-loop schedule")
	fs.IntVar(&o.warmup, "warmup", 200, "events published and delivered before each measured window")
	fs.DurationVar(&o.drain, "drain", 0, "how long to wait for deliveries after publishing ends (default 60s, quick 8s)")
	fs.BoolVar(&o.idempotency, "idempotency-keys", true, "give every event a producer id (the \"id\" field), as a retrying console does")
	fs.StringVar(&o.logLevel, "gateway-log-level", "info", "webhookd's --log-level (info logs one line per attempt, as in production)")
	fs.Var(repeatFlag{&o.gatewayArgs}, "gateway-arg", "extra argument for webhookd serve (repeat: --gateway-arg=--workers=128)")

	fs.IntVar(&o.satEvents, "sat-events", 0, "saturation: events at most (default 60000, quick 2000)")
	fs.DurationVar(&o.satDuration, "sat-duration", 0, "saturation: publishing time at most (default 15s, quick 3s)")
	fs.IntVar(&o.repeat, "repeat", 0, "saturation and fan-out: runs of each, the median reported with every run's rate (default 3, quick 1)")
	fs.IntVar(&o.satBatch, "sat-batch", 50, "saturation: events per request (POST …/events/batch) in the tuned run; 0 skips the tuned runs")
	fs.IntVar(&o.satCap, "sat-cap", 64, "saturation: --max-in-flight-per-endpoint of the tuned runs")
	fs.Var(intsFlag{&o.rates}, "rates", "steady: offered events/s with targets in the table")
	fs.Var(intsFlag{&o.plotRates}, "plot-rates", "steady: further offered rates for the latency plot (quick: --rates only)")
	fs.DurationVar(&o.steadyDuration, "steady-duration", 0, "steady: seconds per rate (default 30s, quick 2s)")
	fs.Var(intsFlag{&o.fanouts}, "fanouts", "fan-out: endpoints per event")
	fs.IntVar(&o.fanoutDeliveries, "fanout-deliveries", 0, "fan-out: deliveries per run at most (default 100000, quick 5000)")
	fs.DurationVar(&o.fanoutDuration, "fanout-duration", 0, "fan-out: publishing time at most (default 15s, quick 3s)")
	fs.IntVar(&o.isoEndpoints, "iso-endpoints", 100, "isolation: endpoints, each subscribed to every event")
	fs.IntVar(&o.isoHang, "iso-hang", 10, "isolation: how many of them hang past the 1s attempt budget")
	fs.IntVar(&o.isoEvents, "iso-events", 0, "isolation throughput: events at most, closed loop (default 600, quick 20)")
	fs.Float64Var(&o.isoRate, "iso-rate", 20, "isolation latency: offered events/s (each to every endpoint)")
	fs.DurationVar(&o.isoDuration, "iso-duration", 0, "isolation: publishing time at most per run (default 20s, quick 0.5s)")
	fs.IntVar(&o.backlog, "backlog", 0, "backlog: deliveries scheduled in Redis (default 1000000, quick 20000)")
	fs.IntVar(&o.backlogDue, "backlog-due", 0, "backlog: how many of them are due now (default 10000, quick 2000)")
	fs.DurationVar(&o.backlogTimeout, "backlog-timeout", 15*time.Minute, "backlog: the scenario's time bound")
	fs.IntVar(&o.callsRate, "calls-rate", 500, "calls (--scenarios calls, not in the default set): offered calls/s")
	fs.DurationVar(&o.callsDuration, "calls-duration", 0, "calls: seconds at --calls-rate, directly and through webhookd (default 30s, quick 2s)")
	fs.IntVar(&o.callsWorkers, "calls-workers", 32, "calls: closed loops of the saturation run")
	fs.DurationVar(&o.callsSatDuration, "calls-sat-duration", 0, "calls: length of the saturation run (default 10s, quick 2s)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	pick := func(full, quick int) int {
		if o.quick {
			return quick
		}
		return full
	}
	pickD := func(full, quick time.Duration) time.Duration {
		if o.quick {
			return quick
		}
		return full
	}
	setI := func(v *int, full, quick int) {
		if *v == 0 {
			*v = pick(full, quick)
		}
	}
	setD := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = pickD(full, quick)
		}
	}
	setD(&o.maxTime, 60*time.Minute, 2*time.Minute)
	setD(&o.drain, 60*time.Second, 8*time.Second)
	setI(&o.satEvents, 60000, 2000)
	setI(&o.repeat, 3, 1)
	setD(&o.satDuration, 15*time.Second, 3*time.Second)
	setD(&o.steadyDuration, 30*time.Second, 2*time.Second)
	setI(&o.fanoutDeliveries, 100000, 5000)
	setD(&o.fanoutDuration, 15*time.Second, 3*time.Second)
	setI(&o.isoEvents, 600, 20)
	setD(&o.isoDuration, 20*time.Second, 500*time.Millisecond)
	setI(&o.backlog, 1000000, 20000)
	setI(&o.backlogDue, 10000, 2000)
	setD(&o.callsDuration, 30*time.Second, 2*time.Second)
	setD(&o.callsSatDuration, 10*time.Second, 2*time.Second)
	planned, chosen := false, false
	fs.Visit(func(f *flag.Flag) {
		planned = planned || f.Name == "plot-rates"
		chosen = chosen || f.Name == "scenarios"
	})
	if o.quick && !planned {
		o.plotRates = nil
	}
	if o.quick && !chosen { // its 16 runs would take the smoke test past a minute
		o.scenarios = slices.DeleteFunc(o.scenarios, func(s string) bool { return s == "ordered" })
	}
	if o.quick && o.warmup == 200 {
		o.warmup = 50
	}
	if len(o.scenarios) == 1 && o.scenarios[0] == "none" {
		o.scenarios = nil
	}
	for _, s := range o.scenarios {
		if !slices.Contains(allScenarios, s) && s != "calls" {
			return o, fmt.Errorf("--scenarios: unknown scenario %q (want %s)", s, strings.Join(allScenarios, ","))
		}
	}
	for _, s := range o.stores {
		if s != "embedded" && s != "redis" {
			return o, fmt.Errorf("--stores: unknown store %q (want embedded,redis)", s)
		}
	}
	switch {
	case o.publishers < 1 || o.openWorkers < 1:
		return o, fmt.Errorf("--publishers and --open-workers must be at least 1")
	case o.isoHang < 0 || o.isoHang >= o.isoEndpoints:
		return o, fmt.Errorf("--iso-hang must be below --iso-endpoints")
	case o.isoRate <= 0:
		return o, fmt.Errorf("--iso-rate must be positive")
	}
	return o, nil
}

// bench is one invocation of the tool.
type bench struct {
	opt         options
	webhookdBin string
	redisBin    string
	modRoot     string
	log         io.Writer
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) has(s string) bool { return slices.Contains(b.opt.scenarios, s) }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opt, err := parseFlags(args)
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(os.Stderr, "webhookd-bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opt.maxTime)
	defer cancel()

	b := &bench{opt: opt, log: os.Stderr}
	b.modRoot, err = moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhookd-bench:", err)
		return 1
	}
	needGateway := slices.ContainsFunc(opt.scenarios, func(s string) bool { return s != "backlog" })
	if b.webhookdBin = opt.webhookd; b.webhookdBin == "" && needGateway {
		dir, err := os.MkdirTemp("", "webhookd-bench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "webhookd-bench:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		b.webhookdBin = filepath.Join(dir, "webhookd")
		b.progress("building webhookd ...")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.webhookdBin, "./cmd/webhookd")
		cmd.Dir = b.modRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "webhookd-bench: go build ./cmd/webhookd: %v\n%s", err, out)
			return 1
		}
	}
	if b.redisBin = opt.redisServer; b.redisBin == "" {
		b.redisBin, _ = exec.LookPath("redis-server")
	}

	if opt.cpuProfile != "" {
		f, err := os.Create(opt.cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "webhookd-bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "webhookd-bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if b.has("calls") { // its own report: docs/benchmarks.md does not hold it (see calls.go)
		fmt.Print(b.runCalls(ctx).markdown())
		b.opt.scenarios = slices.DeleteFunc(b.opt.scenarios, func(s string) bool { return s == "calls" })
		if len(b.opt.scenarios) == 0 {
			return 0
		}
	}
	// The host's wake-up cost, before any run, while nothing else in the process runs (hostprobe.go).
	probes := 200
	if opt.quick {
		probes = 20
	}
	host, err := probeHost("", probes)
	if err != nil {
		b.progress("host probe: %v", err)
	}
	var ordered []orderedPair
	ranOrdered := b.has("ordered")
	if ranOrdered { // first, as its pairs of runs alternate by themselves (see ordered.go); section 7 of the page
		ordered = b.runOrdered(ctx)
		b.opt.scenarios = slices.DeleteFunc(b.opt.scenarios, func(s string) bool { return s == "ordered" })
		if len(b.opt.scenarios) == 0 && !opt.writeDocs {
			fmt.Print("### Ordered deliveries\n\n" + orderedTable(ordered))
			return 0
		}
	}
	rep := b.runAll(ctx)
	if ranOrdered {
		rep.scenario["ordered"], rep.ordered = true, ordered
	}
	rep.machine = machineInfo(b)
	rep.machine.Host = host
	rep.command = commandLine(args)
	md := rep.markdown()
	fmt.Print(md)
	if opt.writeDocs {
		dir := opt.docsDir
		if dir == "" {
			dir = filepath.Join(b.modRoot, "docs")
		}
		if err := rep.writeDocs(dir); err != nil {
			fmt.Fprintln(os.Stderr, "webhookd-bench: write docs:", err)
			return 1
		}
		if rep.plotPoints() > 0 {
			b.progress("wrote %s and %s", filepath.Join(dir, "benchmarks.md"), filepath.Join(dir, "benchmarks.png"))
		} else {
			b.progress("wrote %s (no steady-load runs: no plot)", filepath.Join(dir, "benchmarks.md"))
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "webhookd-bench: stopped early:", context.Cause(ctx))
		return 1
	}
	if bad := rep.failures(); len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "webhookd-bench: the run failed:")
		for _, f := range bad {
			fmt.Fprintln(os.Stderr, "  -", f)
		}
		return 1
	}
	return 0
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/webhookd/webhookd\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run from inside the webhookd module (no go.mod of github.com/webhookd/webhookd above %s)", dir)
		}
	}
}

// commandLine is how this run was invoked, for the report.
func commandLine(args []string) string {
	prog := os.Args[0]
	if strings.Contains(prog, "go-build") { // go run
		prog = "go run ./cmd/webhookd-bench"
	}
	parts := []string{prog}
	for _, a := range args {
		if strings.ContainsAny(a, " '\"$") || a == "" {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// results holds every scenario's results, by store.
type results struct {
	quick    bool
	opt      options
	stores   []string
	machine  machine
	command  string
	sat      map[string][]*runResult // defaults first, then the tuned runs
	steady   map[string][]*runResult
	fanout   map[string][]*runResult
	iso      map[string]*isoResult
	backlog  *backlogResult
	ordered  []orderedPair // keyless and keyed runs, by store, endpoints and failure rate
	scenario map[string]bool
}

// isoResult pairs runs with and without hanging endpoints.
// medianRun returns the run of rs with the median delivery rate (the upper one of an even count), noting every run's
// rate in it; an incomplete run is returned instead, so that the report shows what went wrong.
func medianRun(rs []*runResult) *runResult {
	for _, x := range rs {
		if !x.complete() {
			return x
		}
	}
	rates := make([]float64, len(rs))
	for i, x := range rs {
		rates[i] = x.deliveryRate
	}
	sorted := slices.Clone(rs)
	slices.SortStableFunc(sorted, func(a, b *runResult) int { return cmp.Compare(a.deliveryRate, b.deliveryRate) })
	m := sorted[len(sorted)/2]
	m.rates = rates
	return m
}

type isoResult struct {
	baseSat, hangSat *runResult // closed loop: healthy throughput
	baseLat, hangLat *runResult // open loop at --iso-rate: healthy latency
}

func (b *bench) runAll(ctx context.Context) *results {
	rep := &results{quick: b.opt.quick, opt: b.opt, stores: b.opt.stores, scenario: map[string]bool{},
		sat: map[string][]*runResult{}, steady: map[string][]*runResult{}, fanout: map[string][]*runResult{},
		iso: map[string]*isoResult{}}
	for _, s := range b.opt.scenarios {
		rep.scenario[s] = true
	}
	o := b.opt
	for _, store := range o.stores {
		na := ""
		exec := func(spec runSpec) *runResult {
			spec.store = store
			if na != "" {
				return &runResult{spec: spec, na: na}
			}
			if ctx.Err() != nil {
				return &runResult{spec: spec, err: context.Cause(ctx)}
			}
			r := b.execute(ctx, spec)
			if r.na != "" {
				na = r.na
			}
			return r
		}
		// median runs spec o.repeat times and keeps the run with the median delivery rate, noting every rate: on a
		// shared VM runs of one build vary more than the differences being measured.
		median := func(spec runSpec) *runResult {
			var rs []*runResult
			for range max(o.repeat, 1) {
				x := exec(spec)
				if !x.complete() {
					return x
				}
				rs = append(rs, x)
			}
			return medianRun(rs)
		}
		if b.has("saturation") || b.has("cost") {
			sat := runSpec{label: "saturation, 1 endpoint", endpoints: 1, events: o.satEvents, duration: o.satDuration}
			rep.sat[store] = append(rep.sat[store], median(sat))
			if o.satBatch > 0 && b.has("saturation") {
				// The same endpoint allowed more attempts in flight, then also fed by batch publishes.
				capArg := fmt.Sprintf("--max-in-flight-per-endpoint=%d", o.satCap)
				tuned := sat
				tuned.label, tuned.args = fmt.Sprintf("saturation, 1 endpoint, cap %d", o.satCap), []string{capArg}
				rep.sat[store] = append(rep.sat[store], median(tuned))
				tuned.label, tuned.batch = fmt.Sprintf("saturation, 1 endpoint, cap %d, batches of %d", o.satCap, o.satBatch), o.satBatch
				rep.sat[store] = append(rep.sat[store], median(tuned))
			}
		}
		if b.has("steady") || b.has("cost") {
			// The cost table has the steady 200 and 1,000 events/s rows (--rates): cost alone runs those.
			rates := slices.Clone(o.rates)
			for _, r := range o.plotRates {
				if b.has("steady") && !slices.Contains(rates, r) {
					rates = append(rates, r)
				}
			}
			slices.Sort(rates)
			for _, r := range rates {
				rep.steady[store] = append(rep.steady[store], exec(runSpec{
					label: fmt.Sprintf("steady %d events/s", r), endpoints: 1, open: true, rate: float64(r),
					events: int(float64(r) * o.steadyDuration.Seconds()), duration: o.steadyDuration}))
			}
		}
		if b.has("fanout") {
			for _, n := range o.fanouts {
				rep.fanout[store] = append(rep.fanout[store], median(runSpec{
					label: fmt.Sprintf("fan-out %d endpoints", n), endpoints: n,
					events: max(1, o.fanoutDeliveries/n), duration: o.fanoutDuration}))
			}
		}
		if b.has("isolation") {
			n, h := o.isoEndpoints, o.isoHang
			ir := &isoResult{}
			// The throughput pair alternates (none, hanging, none, …) --repeat times, so that a drift of the machine's
			// speed weighs on both sides alike; each side is the median of its runs.
			var bases, hangs []*runResult
			for range max(o.repeat, 1) {
				bases = append(bases, exec(runSpec{label: fmt.Sprintf("isolation throughput, %d endpoints, none hanging", n),
					endpoints: n, events: o.isoEvents, duration: o.isoDuration}))
				hangs = append(hangs, exec(runSpec{label: fmt.Sprintf("isolation throughput, %d endpoints, %d hanging", n, h),
					endpoints: n, hang: h, events: o.isoEvents, duration: o.isoDuration}))
			}
			ir.baseSat, ir.hangSat = medianRun(bases), medianRun(hangs)
			ir.baseLat = exec(runSpec{label: fmt.Sprintf("isolation latency, %g events/s × %d endpoints, none hanging", o.isoRate, n),
				endpoints: n, open: true, rate: o.isoRate, events: int(o.isoRate * o.isoDuration.Seconds()), duration: o.isoDuration})
			ir.hangLat = exec(runSpec{label: fmt.Sprintf("isolation latency, %g events/s × %d endpoints, %d hanging", o.isoRate, n, h),
				endpoints: n, hang: h, open: true, rate: o.isoRate, events: int(o.isoRate * o.isoDuration.Seconds()), duration: o.isoDuration})
			rep.iso[store] = ir
		}
	}
	if b.has("backlog") && slices.Contains(o.stores, "redis") && ctx.Err() == nil {
		rep.backlog = b.runBacklog(ctx)
		if rep.backlog.err != nil {
			b.progress("  backlog ERROR: %v", rep.backlog.err)
		}
	}
	return rep
}

// failures lists what makes the whole run fail: signature failures and errors (not n/a rows, not missed targets).
func (r *results) failures() []string {
	var out []string
	check := func(x *runResult) {
		if x == nil || x.na != "" {
			return
		}
		if x.err != nil {
			out = append(out, fmt.Sprintf("%s %s: %s", x.spec.store, x.spec.label, firstLine(x.err.Error())))
		}
		if x.sigFailures > 0 {
			out = append(out, fmt.Sprintf("%s %s: %d signature failures: %s", x.spec.store, x.spec.label, x.sigFailures, x.firstSigErr))
		}
	}
	for _, s := range r.stores {
		for _, x := range r.sat[s] {
			check(x)
		}
		for _, x := range r.steady[s] {
			check(x)
		}
		for _, x := range r.fanout[s] {
			check(x)
		}
		if ir := r.iso[s]; ir != nil {
			check(ir.baseSat)
			check(ir.hangSat)
			check(ir.baseLat)
			check(ir.hangLat)
		}
	}
	if r.backlog != nil && r.backlog.err != nil {
		out = append(out, "redis backlog: "+firstLine(r.backlog.err.Error()))
	}
	return out
}
