package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/console"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/gateway"
	"github.com/webhookd/webhookd/internal/logbuf"
	"github.com/webhookd/webhookd/internal/procs"
	"github.com/webhookd/webhookd/metrics"
	"github.com/webhookd/webhookd/tenants"
	"github.com/webhookd/webhookd/tracing"
)

func init() {
	register("serve", "run the gateway: the HTTP API and the delivery engine", runServe)
}

// serveConfig is everything `webhookd serve` takes; every field is a flag and a WEBHOOKD_* variable.
type serveConfig struct {
	Listen            string
	Data              string
	Store             string
	RedisRequireFsync bool
	OperatorToken     string
	OperatorTokenF    string
	AllowPrivate      bool
	AllowHTTP         bool
	Workers           int
	ClaimBatch        int
	MaxInFlight       int
	RetryInitial      time.Duration
	RetryCap          time.Duration
	Retries           int
	RetryJitter       float64
	HealthSpan        time.Duration
	Retention         time.Duration
	MaxEventBytes     int64
	MaxBatchBytes     int64
	HandshakeTO       time.Duration
	RotationGrace     time.Duration
	ShutdownTimeout   time.Duration
	Lease             time.Duration
	ReclaimEvery      time.Duration
	LogFormat         string
	LogLevel          string
	LogBuffer         time.Duration
	ConfigFile        string
	SecretKeysFile    string
	Metrics           bool
	TenantLabels      int
	ReadyTimeout      time.Duration
	PprofListen       string
	AdaptiveProcs     bool
	PollingMonitor    bool

	MaxConnections        int
	BodyReadTimeout       time.Duration
	RateToken             float64
	RateTenant            float64
	RateOperator          float64
	HandshakeRate         float64
	MaxEndpoints          int
	AuthFailures          int
	CallBreaker           int
	CallCooldown          time.Duration
	ConsoleTitle          string
	ConsoleAccent         string
	ConsoleFrameAncestors string
	ConsoleURL            string
	Console               bool
	SchemaMode            string
	UnknownEventTypes     string
	Tracing               bool
	TracePropagate        bool
	EndpointLabels        int

	OperatorTenant      string
	AllowTenantDeletion bool

	// set holds the flags given (on the command line or in the environment): a setting the config file may also
	// make is passed to the gateway only when given.
	set                 map[string]bool
	RetentionMin        time.Duration
	RetentionMax        time.Duration
	FailingAfter        time.Duration
	RecheckEvery        time.Duration
	RecheckDisableAfter int
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address the HTTP API listens on")
	fs.StringVar(&c.Data, "data", gateway.DefaultData, "directory of the embedded store")
	fs.BoolVar(&c.RedisRequireFsync, "redis-require-fsync", false, "refuse to start unless Redis fsyncs every write (appendonly yes, appendfsync always): no event lost on a host crash")
	fs.StringVar(&c.Store, "store", "", "storage: empty for the embedded store under --data, or redis://host:port/db, rediss://…, redis+cluster://host:port,host:port")
	fs.StringVar(&c.OperatorToken, "operator-token", "", "operator bearer token; when empty, read from --operator-token-file, else from (or created in) <data>/operator-token")
	fs.StringVar(&c.OperatorTokenF, "operator-token-file", "", "file holding the operator bearer token (a mounted secret); used when --operator-token is empty")
	fs.BoolVar(&c.AllowPrivate, "allow-private-endpoints", false, "let endpoints resolve to loopback, private, link-local and CGNAT addresses (never cloud metadata)")
	fs.BoolVar(&c.AllowHTTP, "allow-http-endpoints", false, "accept plain http endpoint URLs (https only otherwise)")
	fs.IntVar(&c.Workers, "workers", delivery.DefaultWorkers, "delivery attempts in flight at once")
	fs.IntVar(&c.ClaimBatch, "claim-batch", delivery.DefaultClaimBatch, "most deliveries taken from the queue per claim")
	fs.IntVar(&c.MaxInFlight, "max-in-flight-per-endpoint", delivery.DefaultMaxInFlight, "cap on attempts in flight to one endpoint at once (each endpoint's adaptive limit stays within it)")
	fs.DurationVar(&c.RetryInitial, "retry-initial", delivery.DefaultRetryInitial, "wait after the first failed attempt; doubles each retry")
	fs.DurationVar(&c.RetryCap, "retry-cap", delivery.DefaultRetryCap, "longest wait between attempts, before jitter")
	fs.IntVar(&c.Retries, "retries", delivery.DefaultRetryCount, "retries after the first attempt before a delivery is dead")
	fs.Float64Var(&c.RetryJitter, "retry-jitter", delivery.DefaultRetryJitter, "random fraction by which a retry wait moves either way")
	fs.DurationVar(&c.HealthSpan, "health-span", delivery.DefaultHealthSpan, "disable an endpoint that fails this long without a success")
	fs.DurationVar(&c.Retention, "retention", delivery.DefaultRetention, "how long finished deliveries, their attempts and messages are kept")
	fs.DurationVar(&c.RetentionMin, "retention-min", tenants.DefaultRetentionMin, "the shortest retention period a tenant may have of its own")
	fs.DurationVar(&c.RetentionMax, "retention-max", tenants.DefaultRetentionMax, "the longest retention period a tenant may have of its own")
	fs.Int64Var(&c.MaxEventBytes, "max-event-bytes", 256<<10, "largest event request body accepted")
	fs.Int64Var(&c.MaxBatchBytes, "max-batch-bytes", 8<<20, "largest batch publish request body accepted")
	fs.DurationVar(&c.HandshakeTO, "handshake-timeout", time.Second, "time an endpoint has to answer the OPTIONS handshake")
	fs.DurationVar(&c.RotationGrace, "rotation-grace", 24*time.Hour, "how long a rotated-out key keeps signing by default")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", delivery.DefaultShutdownTimeout, "time in-flight work gets to finish on SIGTERM")
	fs.DurationVar(&c.Lease, "lease", delivery.DefaultLease, "how long a claimed delivery is this replica's before another may take it back (attempt timeouts are cut to half of it)")
	fs.DurationVar(&c.ReclaimEvery, "reclaim-every", delivery.DefaultReclaimEvery, "how often expired leases (of crashed replicas) are put back; backs off to 6x while idle")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.LogBuffer, "log-buffer", logbuf.DefaultDelay, "write log lines in batches, at most this long after a batch's first line; warnings and errors go out at once with the lines before them, and a kill -9 loses the last batch (0: each line at once)")
	fs.StringVar(&c.ConfigFile, "config", "", "JSON file declaring tenants and endpoints, applied at start (see docs/operations.md)")
	fs.StringVar(&c.SecretKeysFile, "secret-keys-file", "", "file holding the operator keys that seal endpoint secrets at rest, as "+envSecretKeys)
	fs.BoolVar(&c.Metrics, "metrics", true, "serve Prometheus metrics at /metrics on the API listener (no token)")
	fs.IntVar(&c.TenantLabels, "metrics-tenant-labels", metrics.DefaultMaxTenantLabels, `tenants that get their own metrics label; later ones count as "other"`)
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", gateway.DefaultReadyTimeout, "time each /readyz check (store ping) may take")
	fs.IntVar(&c.MaxConnections, "max-connections", gateway.DefaultMaxConnections, "most connections the API listener holds open at once; more wait to be accepted (0: no cap)")
	fs.DurationVar(&c.BodyReadTimeout, "body-read-timeout", api.DefaultBodyReadTimeout, "time an authenticated request's body has to arrive; 408 beyond (0: only the server's 30s read timeout)")
	fs.Float64Var(&c.RateToken, "api-rate-token", api.DefaultTokenRate, "requests per second of one tenant token, bursts of twice that; 429 beyond (0: no limit)")
	fs.Float64Var(&c.RateTenant, "api-rate-tenant", api.DefaultTenantRate, "requests per second of all tokens of one tenant together (0: no limit)")
	fs.Float64Var(&c.RateOperator, "api-rate-operator", 0, "requests per second of the operator token (0: no limit)")
	fs.Float64Var(&c.HandshakeRate, "handshake-rate", api.DefaultHandshakeRate, "endpoint URL checks (OPTIONS handshakes: create, URL change, enable) per second of one tenant's tokens (0: no limit)")
	fs.IntVar(&c.MaxEndpoints, "max-endpoints-per-tenant", api.DefaultMaxEndpoints, "endpoints one tenant may have; 409 beyond (0: no cap)")
	fs.IntVar(&c.AuthFailures, "auth-failures-per-minute", api.DefaultAuthFailures, "failed authentications one client address (IPv6: its /64) may have per minute before its requests get 429 (0: no throttle)")
	fs.BoolVar(&c.AdaptiveProcs, "adaptive-procs", true, "run Go's scheduler on one processor while webhookd uses under about half a core, and on all of them as soon as it needs more: less CPU per delivery at a light load (not when GOMAXPROCS is set)")
	fs.BoolVar(&c.PollingMonitor, "polling-monitor", true, "keep the Go runtime's monitor thread polling through idle moments instead of sleeping until a system call wakes it, which a light load pays for at every request: webhookd executes itself again at start with GODEBUG="+procs.MonitorSetting+" added (Linux; not when GODEBUG sets schedtrace)")
	fs.StringVar(&c.PprofListen, "pprof-listen", "", "serve net/http/pprof (/debug/pprof/, no token) on this separate address, e.g. 127.0.0.1:6060; off when empty")
	fs.IntVar(&c.CallBreaker, "call-breaker-failures", calls.DefaultBreakerAfter, "consecutive failed management calls that open a calls endpoint's circuit")
	fs.DurationVar(&c.CallCooldown, "call-breaker-cooldown", calls.DefaultBreakerCool, "how long an open circuit fails calls fast before one probe goes through")

	fs.BoolVar(&c.Console, "console", true, "serve the tenant console at /console/ on the API listener")
	fs.StringVar(&c.ConsoleTitle, "console-title", console.DefaultTitle, "the tenant console's title, e.g. your EMM console's name")
	fs.StringVar(&c.ConsoleAccent, "console-accent", console.DefaultAccent, "the tenant console's accent colour, #rgb or #rrggbb")
	fs.StringVar(&c.ConsoleFrameAncestors, "console-frame-ancestors", console.DefaultFrameAncestors, "who may frame the console (CSP frame-ancestors): 'none', 'self' or origins such as https://emm.example.com")
	fs.StringVar(&c.OperatorTenant, "operator-tenant", "", "tenant whose subscribed endpoints hear of every tenant's operational events (webhookd.*); none when empty")
	fs.BoolVar(&c.AllowTenantDeletion, "allow-tenant-deletion", false, "let the operator delete tenants with all their data (DELETE /v1/tenants/{id}); deletions already begun finish either way")
	fs.DurationVar(&c.FailingAfter, "failing-after", delivery.DefaultFailingAfter, "send webhookd.endpoint.failing for an endpoint that fails this long without a success (0: never)")
	fs.DurationVar(&c.RecheckEvery, "recheck-every", endpoints.DefaultRecheckEvery, "how often every enabled endpoint's URL is checked again (OPTIONS handshake), jittered (0: never)")
	fs.IntVar(&c.RecheckDisableAfter, "recheck-disable-after", endpoints.DefaultRecheckDisable, "failed re-checks in a row that disable an endpoint (0: never)")
	fs.StringVar(&c.ConsoleURL, "console-url", "", "the console's public address in portal-session URLs, e.g. https://hooks.example.com/console/; default /console/ on the host the request came to")

	fs.StringVar(&c.SchemaMode, "schema-mode", string(events.SchemaEnforce), "what publishing does with data that breaks its type's schema: enforce (422), warn (accept, count, log) or off; a tenant (config file) or an event type may override it")
	fs.StringVar(&c.UnknownEventTypes, "unknown-event-types", string(events.UnknownAllow), "what publishing does with a type not in the catalogue: allow or refuse; a tenant (config file) may override it")
	fs.BoolVar(&c.Tracing, "tracing", false, "export OpenTelemetry spans of publishes and attempts over OTLP/HTTP, configured by the OTEL_* variables; also on when OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint variable is set")
	fs.BoolVar(&c.TracePropagate, "trace-propagate", false, "send each attempt's W3C traceparent header to the receiver (with tracing on)")
	fs.IntVar(&c.EndpointLabels, "metrics-endpoint-labels", metrics.DefaultMaxEndpointLabels, `endpoints that get their own label in the per-endpoint metrics; later ones count as "other" (0: no per-endpoint metrics)`)
}

// serveSynopsis is the help text of serve above its flags.
const serveSynopsis = `Runs the HTTP API and the delivery engine until SIGINT or SIGTERM. /healthz, /readyz and /metrics
are served on the API listener without a token: bind --listen to a private interface, or filter
them at the proxy, if they must not be public.

` + keyringEnvHelp

func runServe(ctx context.Context, args []string, stdio IO) int {
	var cfg serveConfig
	fs := newFlagSet("serve [flags]", serveSynopsis, stdio.Out)
	cfg.flags(fs)
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stdio.Err, "webhookd serve:", err)
		return 2
	}
	cfg.set = setFlags(fs)
	logger, flush, err := newBufferedLogger(stdio.Err, cfg.LogFormat, cfg.LogLevel, cfg.LogBuffer)
	if err != nil {
		fmt.Fprintln(stdio.Err, "webhookd serve:", err)
		return 2
	}
	defer flush()
	if err := serve(ctx, cfg, logger, nil); err != nil {
		logger.Error("webhookd stopped", "err", err)
		return 1
	}
	return 0
}

// newBufferedLogger is newLogger writing through a logbuf.Writer when delay is positive (warnings and errors flush
// it), and refuses a negative delay; flush writes out what is buffered, and stops its timer.
func newBufferedLogger(w io.Writer, format, level string, delay time.Duration) (logger *slog.Logger, flush func(), err error) {
	if delay < 0 {
		return nil, nil, fmt.Errorf("--log-buffer %v: want 0 (each line at once) or a positive duration", delay)
	}
	if delay == 0 {
		logger, err = newLogger(w, format, level)
		return logger, func() {}, err
	}
	buf := logbuf.New(w, delay, 0)
	logger, err = newLogger(buf, format, level)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(logbuf.Handler(logger.Handler(), buf, slog.LevelWarn)), func() { buf.Close() }, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// gatewayConfig maps serve's flags onto the gateway's configuration. Where a flag's 0 means "none" and the
// gateway's 0 means "default", it passes -1.
func gatewayConfig(cfg serveConfig, logger *slog.Logger) (gateway.Config, error) {
	keyring, err := loadKeyring(cfg.SecretKeysFile)
	if err != nil {
		return gateway.Config{}, err
	}
	return gateway.Config{
		Listen:            cfg.Listen,
		Data:              cfg.Data,
		Store:             cfg.Store,
		RedisRequireFsync: cfg.RedisRequireFsync,
		OperatorToken:     cfg.OperatorToken,
		OperatorTokenFile: cfg.OperatorTokenF,
		Keyring:           keyring,
		Egress:            egress.Policy{AllowHTTP: cfg.AllowHTTP, AllowPrivate: cfg.AllowPrivate},
		HandshakeTimeout:  cfg.HandshakeTO,
		RotationGrace:     cfg.RotationGrace,
		Delivery: delivery.Config{
			Workers:                cfg.Workers,
			ClaimBatch:             cfg.ClaimBatch,
			MaxInFlightPerEndpoint: cfg.MaxInFlight,
			Retry: delivery.Retry{
				Initial: cfg.RetryInitial, Cap: cfg.RetryCap,
				Count: orNone(cfg.Retries), Jitter: orNone(cfg.RetryJitter),
			},
			HealthSpan:      cfg.HealthSpan,
			FailingAfter:    orNone(cfg.FailingAfter),
			ShutdownTimeout: cfg.ShutdownTimeout,
			Lease:           cfg.Lease,
			ReclaimEvery:    cfg.ReclaimEvery,
			Logger:          logger,
		},
		Retention:           orNone(cfg.Retention),
		MaxEventBytes:       cfg.MaxEventBytes,
		MaxBatchBytes:       cfg.MaxBatchBytes,
		ReadyTimeout:        cfg.ReadyTimeout,
		DisableMetrics:      !cfg.Metrics,
		MetricsTenantLabels: cfg.TenantLabels,
		ConfigFile:          cfg.ConfigFile,
		PprofListen:         cfg.PprofListen,
		Logger:              logger,

		MaxConnections:  orNone(cfg.MaxConnections),
		BodyReadTimeout: orNone(cfg.BodyReadTimeout),
		Limits: api.Limits{
			TokenRate:     orNone(cfg.RateToken),
			TenantRate:    orNone(cfg.RateTenant),
			OperatorRate:  cfg.RateOperator,
			HandshakeRate: orNone(cfg.HandshakeRate),
			MaxEndpoints:  orNone(cfg.MaxEndpoints),
			AuthFailures:  orNone(cfg.AuthFailures),
		},
		Calls: calls.Config{BreakerAfter: cfg.CallBreaker, BreakerCooldown: cfg.CallCooldown},
		Console: console.Config{
			Title: cfg.ConsoleTitle, Accent: cfg.ConsoleAccent, FrameAncestors: cfg.ConsoleFrameAncestors,
		},
		ConsoleURL:     cfg.ConsoleURL,
		DisableConsole: !cfg.Console,

		SchemaMode:            events.SchemaMode(cfg.SchemaMode),
		UnknownEventTypes:     events.UnknownTypes(cfg.UnknownEventTypes),
		Tracing:               cfg.Tracing || tracing.Enabled(os.Getenv),
		TracePropagate:        cfg.TracePropagate,
		MetricsEndpointLabels: orNone(cfg.EndpointLabels),
		OperatorTenant:        cfg.OperatorTenant, // "" leaves it to the config file
		AllowTenantDeletion:   cfg.AllowTenantDeletion,
		RetentionMin:          cfg.RetentionMin,
		RetentionMax:          cfg.RetentionMax,
		Recheck:               cfg.recheck(),
	}, nil
}

// setFlags returns the names of the flags fs was given.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// recheck is the re-check's configuration from the flags given; one not given leaves its setting to the config
// file, else the gateway's default.
func (c serveConfig) recheck() endpoints.RecheckConfig {
	var r endpoints.RecheckConfig
	if c.set == nil || c.set["recheck-every"] {
		r.Every = orNone(c.RecheckEvery)
	}
	if c.set == nil || c.set["recheck-disable-after"] {
		r.DisableAfter = orNone(c.RecheckDisableAfter)
	}
	return r
}

// orNone maps a flag's 0 ("none": no retries, no jitter, no pruning) to -1, which the gateway reads as none; its 0
// means the default.
func orNone[T int | float64 | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// serve runs the gateway until ctx ends. ready, when not nil, receives the API's address once it listens.
func serve(ctx context.Context, cfg serveConfig, logger *slog.Logger, ready func(addr string)) error {
	gcfg, err := gatewayConfig(cfg, logger)
	if err != nil {
		return err
	}
	g, err := gateway.New(ctx, gcfg)
	if errors.Is(err, gateway.ErrNoKeyring) {
		return fmt.Errorf("%w: set %s, %s or --secret-keys-file", err, envSecretKeys, envSecretKey)
	}
	if err != nil {
		return err
	}
	defer g.Close()
	if adaptProcs(cfg, os.Getenv) {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			if err := procs.Run(pctx, procs.Config{Logger: logger}); err != nil {
				logger.Warn("adaptive GOMAXPROCS off", "err", err)
			}
		}()
	}
	if ready != nil {
		ready(g.Addr())
	}
	return g.Run(ctx)
}

// adaptProcs tells whether serve fits GOMAXPROCS to the load (package procs): unless the operator set GOMAXPROCS,
// with either store. The embedded store's journal fdatasync holds the one processor while it runs, a short stall at
// a light load; under load the governor is back on every processor.
func adaptProcs(cfg serveConfig, getenv func(string) string) bool {
	return cfg.AdaptiveProcs && getenv("GOMAXPROCS") == ""
}

// ExecPollingMonitor executes webhookd again with the runtime's monitor kept polling (procs.ExecPollingMonitor) when
// args are a serve command with --polling-monitor on, and otherwise does nothing. main calls it before anything else;
// it returns only when it did not exec, with the error of an exec that failed. Flags that do not parse are left to
// the serve command to report.
func ExecPollingMonitor(args []string) error {
	if len(args) == 0 || args[0] != "serve" {
		return nil
	}
	var cfg serveConfig
	fs := newFlagSet("serve", "", io.Discard)
	cfg.flags(fs)
	if err := parseWithEnv(fs, args[1:]); err != nil || !cfg.PollingMonitor {
		return nil
	}
	return procs.ExecPollingMonitor()
}
