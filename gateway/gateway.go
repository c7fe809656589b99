package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/console"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/metrics"
	"github.com/webhookd/webhookd/secrets"
	"github.com/webhookd/webhookd/tenants"
)

// Defaults of Config.
const (
	DefaultData         = "./data"
	DefaultReadyTimeout = 2 * time.Second
)

// Config configures a Gateway. The zero value runs the embedded store under ./data with the production URL policy
// (https endpoints on public addresses), serves no HTTP listener of its own (mount Handler), and keeps the operator
// token in <Data>/operator-token.
type Config struct {
	// Listen is the TCP address the API listens on, e.g. "127.0.0.1:8080" (":0" picks a free port; see Addr). Empty
	// with no Listener means no listener: serve Handler yourself.
	Listen string
	// Listener, if set, is where the API is served instead of Listen. Close (or the end of Run) closes it.
	Listener net.Listener

	// Data is the directory of the embedded store and of the operator-token file. Defaults to DefaultData.
	Data string
	// Store selects the backend: empty for the embedded store under Data; redis://host:port/db, rediss://…,
	// redis+cluster://host:port,host:port for Redis (see OpenStore).
	Store string
	// RedisRequireFsync makes a Redis store refuse to open unless Redis fsyncs every write before answering
	// (appendonly yes, appendfsync always on every master): no accepted event is lost on a crash of Redis's host.
	// Without it the gateway logs what such a crash would lose.
	RedisRequireFsync bool

	// OperatorToken is the operator's bearer token (at least 16 characters). When empty it is read from
	// OperatorTokenFile, else from <Data>/operator-token, which is created on first start.
	OperatorToken     string
	OperatorTokenFile string
	// Keyring seals endpoint secrets at rest. Nil stores them in plaintext, and refuses to start on a store that
	// holds sealed ones (ErrNoKeyring).
	Keyring *secrets.Keyring

	// Egress decides which endpoint URLs may be registered and which addresses deliveries may reach. Defaults to the
	// zero egress.Policy: https only, public addresses only.
	Egress egress.Policy
	// HandshakeTimeout bounds the OPTIONS handshake of a new or changed endpoint URL. Defaults to 1s.
	HandshakeTimeout time.Duration
	// RotationGrace is how long a rotated-out key keeps signing when the rotation names no grace. Defaults to 24h.
	RotationGrace time.Duration
	// IdempotencyWindow is how long a producer's event id is remembered. Defaults to 24h.
	IdempotencyWindow time.Duration
	// Delivery configures the delivery engine (workers, retries, leases, health, shutdown timeout); every field has
	// its default. Its Logger defaults to Logger. Its ShutdownTimeout also bounds the HTTP server's shutdown.
	Delivery delivery.Config
	// Retention is how long finished deliveries, their attempts and messages are kept. Defaults to 7 days; negative
	// keeps them for ever. A tenant may have its own period (PATCH /v1/tenants/{tenant}), between RetentionMin and
	// RetentionMax (tenants.DefaultRetentionMin and DefaultRetentionMax by default).
	Retention                  time.Duration
	RetentionMin, RetentionMax time.Duration

	// MaxEventBytes and MaxBatchBytes bound the bodies of a publish and of a batch publish (api defaults).
	MaxEventBytes int64
	MaxBatchBytes int64
	// ReadyTimeout bounds each /readyz check. Defaults to 2s.
	ReadyTimeout time.Duration
	// DisableMetrics turns off GET /metrics (Prometheus, served on the API listener without a token).
	DisableMetrics bool
	// MetricsTenantLabels is how many tenants get their own metrics label. Defaults to metrics.DefaultMaxTenantLabels.
	MetricsTenantLabels int
	// MetricsEndpointLabels is how many endpoints get their own label in the per-endpoint metrics; negative leaves
	// them out. Defaults to metrics.DefaultMaxEndpointLabels.
	MetricsEndpointLabels int
	// Tracing exports OpenTelemetry spans (a publish request's, and each attempt's) over OTLP/HTTP, configured by
	// the standard OTEL_* environment variables. Off by default.
	Tracing bool
	// TracePropagate sends each attempt's W3C traceparent to the receiver (when spans are made). Off by default.
	TracePropagate bool
	// TracerProvider, if set, makes the spans instead of an OTLP exporter (tests use an in-memory one); it turns
	// tracing on whatever Tracing says.
	TracerProvider trace.TracerProvider

	// ConfigFile, if set, is a JSON file declaring tenants and endpoints, applied at start (see configfile.go and
	// docs/operations.md). Its secret_env entries are read with Getenv.
	ConfigFile string
	// Getenv reads the config file's secret variables. Defaults to os.LookupEnv.
	Getenv func(string) (string, bool)

	// MaxConnections caps the connections the gateway's own listener (Listen or Listener) holds open at once; more
	// wait to be accepted. Defaults to DefaultMaxConnections; negative: no cap. A cap above half the process's
	// descriptor limit is lowered to that half (and logged), so the store and outbound deliveries keep the rest.
	MaxConnections int
	// BodyReadTimeout bounds the reading of a request body once its caller is authenticated (408 beyond). Defaults
	// to api.DefaultBodyReadTimeout; negative: only the HTTP server's 30 s read timeout.
	BodyReadTimeout time.Duration
	// Limits are the API's quotas (api.Limits: request rates, handshake rate, endpoints per tenant, failed
	// authentications per address); each has its default. Without a Limiter, replicas sharing a Redis store share
	// its limiter, and the embedded store's gateway keeps its buckets in memory.
	Limits api.Limits

	// PprofListen, if set, serves net/http/pprof on this separate address (no token) and samples the blocking and
	// mutex profiles while the gateway runs.
	PprofListen string

	// Logger receives every log line of the gateway. Defaults to slog.Default().
	Logger *slog.Logger

	// Calls configures management calls (breaker, answer limit, log excerpts; every field has its default). Its
	// Policy, Client, Observer and Logger are the gateway's own. The call log is kept as long as Retention says.
	Calls calls.Config
	// Console brands and frames the tenant console served at /console/ (title, accent colour, frame ancestors).
	Console console.Config
	// ConsoleURL is the console's public address in portal-session URLs; defaults to /console/ on the host the
	// request came to (api.Config.ConsoleURL).
	ConsoleURL string
	// DisableConsole stops serving /console/ (portal sessions still work, for a console served elsewhere).
	DisableConsole bool

	// SchemaMode is what publishing does with data that breaks its type's schema, unless the tenant (config file) or
	// the event type says otherwise. Defaults to events.SchemaEnforce.
	SchemaMode events.SchemaMode
	// UnknownEventTypes is what publishing does with a type not in the catalogue, unless the tenant (config file)
	// says otherwise. Defaults to events.UnknownAllow.
	UnknownEventTypes events.UnknownTypes
	// OperatorTenant, if set, names the tenant whose subscribed endpoints hear of every tenant's operational events
	// (webhookd.*; see events.OpsNotifier). Its endpoints subscribe to them like any tenant's.
	OperatorTenant string
	// Recheck configures the periodic re-check of endpoint URLs (Every, PerHost, DisableAfter; each has its default,
	// a negative Every turns it off). Tenants, OnFailure and Logger are the gateway's own.
	Recheck endpoints.RecheckConfig
	// RetryLimits bound the retry schedule an endpoint may set (endpoints.RetryLimits).
	RetryLimits endpoints.RetryLimits
	// AllowTenantDeletion lets the operator delete tenants (DELETE /v1/tenants/{tenant}); the config file's
	// allow_tenant_deletion turns it on too. Deletions already begun are finished whatever it says.
	AllowTenantDeletion bool
	// TenantReapEvery is how often the tenant reaper looks for deletions to resume. Defaults to
	// tenants.DefaultReapEvery; it also runs at start and after every deletion.
	TenantReapEvery time.Duration
}

func (c Config) withDefaults() Config {
	c.Data = cmp.Or(c.Data, DefaultData)
	c.ReadyTimeout = cmp.Or(c.ReadyTimeout, DefaultReadyTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Delivery.Logger == nil {
		c.Delivery.Logger = c.Logger
	}
	if c.Getenv == nil {
		c.Getenv = os.LookupEnv
	}
	return c
}

// Gateway is one webhookd: the store, the domain services (each built once), the delivery engine, the retention
// service and the HTTP API over them. Build it with New, run it with Run, then Close it.
type Gateway struct {
	cfg   Config
	log   *slog.Logger
	store Store
	where string

	tenants   *tenants.Service
	endpoints *endpoints.Service
	events    *events.Service
	engine    *delivery.Engine
	retention *delivery.Retention
	calls     *calls.Service
	callsKeep *delivery.Retention
	recheck   *endpoints.Rechecker
	metrics   *metrics.Metrics
	handler   http.Handler
	token     string

	ln          net.Listener // nil without one
	stopPprof   func()
	stopTracing func(context.Context) error // flushes and stops the OTLP exporter; nil without one
	engineUp    atomic.Bool
	ran         atomic.Bool
	closeOnce   sync.Once
	closeErr    error
}

// ErrConfig is returned by New for an unusable Config.
var ErrConfig = errors.New("gateway: invalid configuration")

// ErrRunning is returned by Run when Run was called before: a gateway runs once.
var ErrRunning = errors.New("gateway: Run called twice")

// New builds a gateway: it resolves the operator token, reads the config file (a bad one fails before anything is
// opened), opens the store, checks the secrets at rest, builds the services, applies the config file, builds the
// engine, the retention service and the API, and binds the listeners. Nothing runs until Run. On error, whatever was
// opened is closed again.
func New(ctx context.Context, cfg Config) (_ *Gateway, err error) {
	cfg = cfg.withDefaults()
	if cfg.HandshakeTimeout < 0 || cfg.RotationGrace < 0 || cfg.IdempotencyWindow < 0 || cfg.ReadyTimeout < 0 ||
		cfg.MaxEventBytes < 0 || cfg.MaxBatchBytes < 0 {
		return nil, fmt.Errorf("%w: sizes and durations must not be negative (but Retention)", ErrConfig)
	}
	if cfg.RetentionMin < 0 || cfg.RetentionMax < 0 ||
		cfg.RetentionMin > 0 && cfg.RetentionMax > 0 && cfg.RetentionMin > cfg.RetentionMax {
		return nil, fmt.Errorf("%w: RetentionMin %v and RetentionMax %v: want 0 ≤ min ≤ max", ErrConfig,
			cfg.RetentionMin, cfg.RetentionMax)
	}
	if c := cfg.Calls; c.BreakerAfter < 0 || c.BreakerCooldown < 0 || c.ResponseLimit < 0 || c.Excerpt < 0 || c.LogQueue < 0 {
		return nil, fmt.Errorf("%w: Calls: sizes and durations must not be negative", ErrConfig)
	}
	if err := checkSchemaConfig(cfg); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	token, err := operatorToken(cfg, logger)
	if err != nil {
		return nil, err
	}
	var file *fileConfig
	if cfg.ConfigFile != "" {
		if file, err = loadConfigFile(cfg.ConfigFile, cfg.Egress, cfg.Getenv); err != nil {
			return nil, err
		}
		cfg = file.apply(cfg)
	}
	store, where, err := OpenStoreWith(ctx, cfg.Store, cfg.Data, StoreOptions{RedisRequireFsync: cfg.RedisRequireFsync, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	g := &Gateway{cfg: cfg, log: logger, store: store, where: where, token: token}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if err := g.checkSecretsAtRest(ctx); err != nil {
		return nil, err
	}
	store = g.store // rewritten into a fresh file when it sealed secrets

	// Everything reads and writes endpoints through the read cache over the sealing decorator: the backend only sees
	// sealed secrets, and the engine does not load and decrypt its endpoint on every attempt. This process sees its
	// own writes at once, other replicas' (Redis) within a second.
	eps := endpoints.NewCachedStore(secrets.NewEndpoints(store, cfg.Keyring), time.Second)
	// Every worker may be sending to one host (endpoints of many tenants on one integration service): keep a
	// connection per worker rather than dial again.
	client := egress.NewClient(egress.ClientConfig{Policy: cfg.Egress,
		MaxIdleConnsPerHost: cmp.Or(cfg.Delivery.Workers, delivery.DefaultWorkers)})
	bell := delivery.NewDoorbell()

	g.tenants = tenants.NewService(store, tenants.ServiceConfig{
		AllowDeletion: cfg.AllowTenantDeletion || file != nil && file.AllowTenantDeletion, Logger: logger,
		RetentionMin: cfg.RetentionMin, RetentionMax: cfg.RetentionMax,
	})
	g.endpoints = endpoints.NewService(eps, endpoints.Config{
		Policy: cfg.Egress, Client: client, HandshakeTimeout: cfg.HandshakeTimeout, RotationGrace: cfg.RotationGrace,
		RetryLimits: cfg.RetryLimits,
	})
	g.events = events.NewService(store, events.Config{
		Endpoints: eps, Log: store, Queue: store, Waker: bell, IdempotencyWindow: cfg.IdempotencyWindow,
		SchemaMode: cfg.SchemaMode, UnknownTypes: cfg.UnknownEventTypes, Policies: file.schemaPolicies(),
		OnSchemaWarning: g.schemaWarning,
	})
	if err := g.events.SeedOpsEventTypes(ctx); err != nil {
		return nil, err
	}
	ops := events.NewOpsNotifier(g.events, cfg.OperatorTenant, logger)
	rcfg := cfg.Recheck
	rcfg.Tenants, rcfg.OnFailure, rcfg.Logger = g.tenantIDs, ops.HandshakeFailed, logger
	g.recheck = g.endpoints.NewRechecker(rcfg)

	if file != nil {
		res, err := applyConfig(ctx, file, g.tenants, g.endpoints, logger)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", cfg.ConfigFile, err)
		}
		logger.Info("config file applied", "file", cfg.ConfigFile, "tenants_created", res.TenantsCreated,
			"endpoints_created", res.EndpointsCreated, "endpoints_updated", res.EndpointsUpdated,
			"endpoints_rotated", res.EndpointsRotated, "endpoints_unchanged", res.Unchanged)
	}

	g.metrics = metrics.New(metrics.Config{MaxTenantLabels: cfg.MetricsTenantLabels, Queue: store,
		MaxEndpointLabels: cfg.MetricsEndpointLabels})
	ops.CountWith(g.metrics.OpsEventCounter())
	tracer, err := g.setupTracing(ctx) // tracing.go
	if err != nil {
		return nil, err
	}
	deps := delivery.Deps{
		Queue: store, Messages: store, Endpoints: eps, Client: client, Doorbell: bell,
		Notifier: ops, Observer: g.metrics,
	}
	if tracer != nil {
		deps.Tracer = tracer
	}
	g.engine, err = delivery.NewEngine(cfg.Delivery, deps)
	if err != nil {
		return nil, fmt.Errorf("delivery engine: %w", err)
	}
	g.metrics.WatchInFlight(g.engine.InFlight)
	if hk, ok := store.(delivery.HeldKeysReporter); ok {
		g.metrics.WatchHeldKeys(hk)
	}
	g.retention = delivery.NewRetention(store, delivery.RetentionConfig{
		Keep: cfg.Retention, Logger: logger, Observer: g.metrics, TenantKeep: g.tenants.Retentions,
	})

	ccfg := cfg.Calls
	ccfg.Policy, ccfg.Client, ccfg.Observer, ccfg.Logger = cfg.Egress, client, g.metrics.CallObserver(), logger
	g.calls = calls.New(eps, store, ccfg)
	g.callsKeep = delivery.NewRetention(g.calls, delivery.RetentionConfig{
		Keep: cfg.Retention, Logger: logger, Observer: g.metrics,
	})

	checks := []api.ReadyCheck{
		{Name: "store", Check: func(ctx context.Context) error {
			err := store.Ping(ctx)
			if err != nil {
				g.metrics.StoreError("ping")
			}
			return err
		}},
		{Name: "engine", Check: func(context.Context) error {
			if !g.engineUp.Load() {
				return errors.New("the delivery engine is not running")
			}
			return nil
		}},
	}
	var metricsHandler http.Handler
	if !cfg.DisableMetrics {
		metricsHandler = g.metrics.Handler()
	}
	g.handler, err = api.New(api.Config{
		OperatorToken: token,
		MaxEventBytes: cfg.MaxEventBytes,
		MaxBatchBytes: cfg.MaxBatchBytes,
		Logger:        logger,
		ReadyChecks:   checks,
		ReadyTimeout:  cfg.ReadyTimeout,
		Metrics:       metricsHandler,
		Observer:      g.metrics,

		BodyReadTimeout: cfg.BodyReadTimeout,
		Limits:          sharedLimits(cfg.Limits, store), // listener.go
		ConsoleURL:      cfg.ConsoleURL,
	}, api.Deps{Tenants: g.tenants, Endpoints: g.endpoints, Events: g.events, Log: store, Calls: g.calls,
		Limits: g.engine})
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if tracer != nil {
		g.handler = tracer.Handler(g.handler)
	}
	if !cfg.DisableConsole {
		if g.handler, err = withConsole(g.handler, cfg.Console); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}

	switch {
	case cfg.Listener != nil:
		g.ln = cfg.Listener
	case cfg.Listen != "":
		if g.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	if n := connectionCap(cfg.MaxConnections, fileLimit(), logger); g.ln != nil && n > 0 {
		g.ln = newLimitListener(g.ln, n)
	}
	if cfg.PprofListen != "" {
		addr, stop, err := servePprof(cfg.PprofListen)
		if err != nil {
			return nil, err
		}
		g.stopPprof = stop
		logger.Warn("pprof profiles served without a token", "addr", addr)
	}
	return g, nil
}

// Handler returns the HTTP API (/v1, /healthz, /readyz and, unless disabled, /metrics and /console/), for a caller that serves it
// on its own server. /readyz reports the engine not ready until Run runs it.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Addr returns the address the API listens on ("" without a listener).
func (g *Gateway) Addr() string {
	if g.ln == nil {
		return ""
	}
	return g.ln.Addr().String()
}

// OperatorToken returns the operator's bearer token, as configured or read from (or created in) its file.
func (g *Gateway) OperatorToken() string { return g.token }

// Run serves the API on the gateway's listener (if any) and runs the delivery engine and the retention service
// until ctx ends or the HTTP server fails. Then it stops taking requests (in-flight requests finish, so a 202 is never
// half-written), then the engine, each within the engine's ShutdownTimeout, and returns. A gateway runs once; call
// Close afterwards.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	shutdownTimeout := g.engine.Config().ShutdownTimeout
	var srv *http.Server
	if g.ln != nil {
		srv = &http.Server{
			Handler:           g.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		}
	}
	g.log.Info("webhookd serving", "addr", g.Addr(), "store", g.where,
		"allow_private_endpoints", g.cfg.Egress.AllowPrivate, "allow_http_endpoints", g.cfg.Egress.AllowHTTP,
		"secrets_at_rest", secretsMode(g.cfg.Keyring), "metrics", !g.cfg.DisableMetrics)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	if srv != nil {
		wg.Go(func() {
			if err := srv.Serve(g.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		})
	}
	g.engineUp.Store(true) // Run starts at once below; /readyz fails again when it returns
	wg.Go(func() {
		defer g.engineUp.Store(false)
		if err := g.engine.Run(runCtx); err != nil {
			errc <- fmt.Errorf("delivery engine: %w", err)
		}
	})
	wg.Go(func() { g.retention.Run(runCtx) })
	wg.Go(func() { g.callsKeep.Run(runCtx) })
	wg.Go(func() { g.recheck.Run(runCtx) })
	wg.Go(func() { g.tenants.RunReaper(runCtx, g.cfg.TenantReapEvery) })
	wg.Go(func() { g.engine.RunFailingCheck(runCtx, 0, g.allEndpoints) })

	var runErr error
	select {
	case <-ctx.Done():
		g.log.Info("shutting down", "timeout", shutdownTimeout)
	case runErr = <-errc:
	}
	if srv != nil {
		shCtx, shCancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer shCancel()
		if err := srv.Shutdown(shCtx); err != nil {
			g.log.Warn("http shutdown", "err", err)
		}
	}
	cancel()
	wg.Wait()
	g.log.Info("webhookd stopped")
	return runErr
}

// Close releases what New opened: the listeners and the store. Call it after Run has returned (or instead of Run).
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		if g.stopPprof != nil {
			g.stopPprof()
		}
		if g.ln != nil {
			g.ln.Close() // already closed by Run's shutdown, or never served
		}
		if g.calls != nil {
			g.calls.Close() // its last log entries, before the store closes
		}
		g.closeErr = g.store.Close()
		if g.stopTracing != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := g.stopTracing(ctx); err != nil {
				g.log.Warn("tracing: flush spans", "error", err)
			}
		}
	})
	return g.closeErr
}
