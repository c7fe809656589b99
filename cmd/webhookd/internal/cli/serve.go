package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/metrics"
	"github.com/webhookd/webhookd/secrets"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	redisstore "github.com/webhookd/webhookd/store/redisstore"
	"github.com/webhookd/webhookd/tenants"
)

func init() {
	register("serve", "run the gateway: the HTTP API and the delivery engine", runServe)
}

// serveConfig is everything `webhookd serve` takes; every field is a flag and a WEBHOOKD_* variable.
type serveConfig struct {
	Listen          string
	Data            string
	Store           string
	OperatorToken   string
	OperatorTokenF  string
	AllowPrivate    bool
	AllowHTTP       bool
	Workers         int
	ClaimBatch      int
	MaxInFlight     int
	RetryInitial    time.Duration
	RetryCap        time.Duration
	Retries         int
	RetryJitter     float64
	HealthSpan      time.Duration
	Retention       time.Duration
	MaxEventBytes   int64
	MaxBatchBytes   int64
	HandshakeTO     time.Duration
	RotationGrace   time.Duration
	ShutdownTimeout time.Duration
	Lease           time.Duration
	ReclaimEvery    time.Duration
	LogFormat       string
	LogLevel        string
	ConfigFile      string
	SecretKeysFile  string
	Metrics         bool
	TenantLabels    int
	ReadyTimeout    time.Duration
	PprofListen     string
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address the HTTP API listens on")
	fs.StringVar(&c.Data, "data", "./data", "directory of the embedded store")
	fs.StringVar(&c.Store, "store", "", "storage: empty for the embedded store under --data, or redis://host:port/db, rediss://…, redis+cluster://host:port,host:port")
	fs.StringVar(&c.OperatorToken, "operator-token", "", "operator bearer token; when empty, read from --operator-token-file, else from (or created in) <data>/operator-token")
	fs.StringVar(&c.OperatorTokenF, "operator-token-file", "", "file holding the operator bearer token (a mounted secret); used when --operator-token is empty")
	fs.BoolVar(&c.AllowPrivate, "allow-private-endpoints", false, "let endpoints resolve to loopback, private, link-local and CGNAT addresses (never cloud metadata)")
	fs.BoolVar(&c.AllowHTTP, "allow-http-endpoints", false, "accept plain http endpoint URLs (https only otherwise)")
	fs.IntVar(&c.Workers, "workers", delivery.DefaultWorkers, "delivery attempts in flight at once")
	fs.IntVar(&c.ClaimBatch, "claim-batch", delivery.DefaultClaimBatch, "most deliveries taken from the queue per claim")
	fs.IntVar(&c.MaxInFlight, "max-in-flight-per-endpoint", delivery.DefaultMaxInFlight, "attempts in flight to one endpoint at once")
	fs.DurationVar(&c.RetryInitial, "retry-initial", delivery.DefaultRetryInitial, "wait after the first failed attempt; doubles each retry")
	fs.DurationVar(&c.RetryCap, "retry-cap", delivery.DefaultRetryCap, "longest wait between attempts, before jitter")
	fs.IntVar(&c.Retries, "retries", delivery.DefaultRetryCount, "retries after the first attempt before a delivery is dead")
	fs.Float64Var(&c.RetryJitter, "retry-jitter", delivery.DefaultRetryJitter, "random fraction by which a retry wait moves either way")
	fs.DurationVar(&c.HealthSpan, "health-span", delivery.DefaultHealthSpan, "disable an endpoint that fails this long without a success")
	fs.DurationVar(&c.Retention, "retention", 7*24*time.Hour, "how long finished deliveries, their attempts and messages are kept")
	fs.Int64Var(&c.MaxEventBytes, "max-event-bytes", 256<<10, "largest event request body accepted")
	fs.Int64Var(&c.MaxBatchBytes, "max-batch-bytes", 8<<20, "largest batch publish request body accepted")
	fs.DurationVar(&c.HandshakeTO, "handshake-timeout", time.Second, "time an endpoint has to answer the OPTIONS handshake")
	fs.DurationVar(&c.RotationGrace, "rotation-grace", 24*time.Hour, "how long a rotated-out key keeps signing by default")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", delivery.DefaultShutdownTimeout, "time in-flight work gets to finish on SIGTERM")
	fs.DurationVar(&c.Lease, "lease", delivery.DefaultLease, "how long a claimed delivery is this replica's before another may take it back (attempt timeouts are cut to half of it)")
	fs.DurationVar(&c.ReclaimEvery, "reclaim-every", delivery.DefaultReclaimEvery, "how often expired leases (of crashed replicas) are put back; backs off to 6x while idle")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.ConfigFile, "config", "", "JSON file declaring tenants and endpoints, applied at start (see docs/operations.md)")
	fs.StringVar(&c.SecretKeysFile, "secret-keys-file", "", "file holding the operator keys that seal endpoint secrets at rest, as "+envSecretKeys)
	fs.BoolVar(&c.Metrics, "metrics", true, "serve Prometheus metrics at /metrics on the API listener (no token)")
	fs.IntVar(&c.TenantLabels, "metrics-tenant-labels", metrics.DefaultMaxTenantLabels, `tenants that get their own metrics label; later ones count as "other"`)
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", 2*time.Second, "time each /readyz check (store ping) may take")
	fs.StringVar(&c.PprofListen, "pprof-listen", "", "serve net/http/pprof (/debug/pprof/, no token) on this separate address, e.g. 127.0.0.1:6060; off when empty")
}

// serveSynopsis is the help text of serve above its flags.
const serveSynopsis = `Runs the HTTP API and the delivery engine until SIGINT or SIGTERM. /healthz, /readyz and /metrics
are served on the API listener without a token: bind --listen to a private interface, or filter
them at the proxy, if they must not be public.

` + keyringEnvHelp

func runServe(ctx context.Context, args []string, stdio IO) int {
	var cfg serveConfig
	fs := newFlagSet("serve [flags]", serveSynopsis, stdio.Err)
	cfg.flags(fs)
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stdio.Err, "webhookd serve:", err)
		return 2
	}
	logger, err := newLogger(stdio.Err, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stdio.Err, "webhookd serve:", err)
		return 2
	}
	if err := serve(ctx, cfg, logger, nil); err != nil {
		logger.Error("webhookd stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(w interface{ Write([]byte) (int, error) }, format, level string) (*slog.Logger, error) {
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

// gatewayStore is what serve needs of a backend.
type gatewayStore interface {
	tenants.Store
	endpoints.Store
	events.Store
	delivery.Queue
	delivery.Log
	Close() error
}

// openStore opens the backend --store names: empty for the embedded store under --data; redis://, rediss://, or
// redis+cluster://host:port,host:port (rediss+cluster:// with TLS) for Redis. The description it returns, for the
// log, never holds a password.
func openStore(ctx context.Context, cfg serveConfig) (gatewayStore, string, error) {
	switch {
	case cfg.Store == "" || cfg.Store == "bolt" || cfg.Store == "embedded":
		s, err := boltstore.Open(cfg.Data, boltstore.Options{})
		if err != nil {
			return nil, "", err
		}
		return s, "embedded:" + cfg.Data, nil
	case strings.HasPrefix(cfg.Store, "redis://"), strings.HasPrefix(cfg.Store, "rediss://"),
		strings.HasPrefix(cfg.Store, "redis+cluster://"), strings.HasPrefix(cfg.Store, "rediss+cluster://"):
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := redisstore.Open(octx, cfg.Store, redisstore.Options{})
		if err != nil {
			return nil, "", err
		}
		return s, redactURL(cfg.Store), nil
	}
	return nil, "", fmt.Errorf("--store %q: want empty (embedded), redis://, rediss:// or redis+cluster://", redactURL(cfg.Store))
}

// redactURL hides the password of a store URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable store URL)"
	}
	return u.Redacted()
}

// serve runs the gateway until ctx ends. ready, when not nil, receives the API's address once it listens.
func serve(ctx context.Context, cfg serveConfig, logger *slog.Logger, ready func(addr string)) error {
	token, err := operatorToken(cfg)
	if err != nil {
		return err
	}
	keyring, err := loadKeyring(cfg.SecretKeysFile)
	if err != nil {
		return err
	}
	policy := egress.Policy{AllowHTTP: cfg.AllowHTTP, AllowPrivate: cfg.AllowPrivate}
	var file *fileConfig
	if cfg.ConfigFile != "" {
		// Read before the store opens: a bad file fails the start before anything else happens.
		if file, err = loadConfigFile(cfg.ConfigFile, policy, os.LookupEnv); err != nil {
			return err
		}
	}
	store, where, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()
	if err := checkSecretsAtRest(ctx, store, keyring, logger); err != nil {
		return err
	}
	// Everything reads and writes endpoints through the sealing decorator; the backend only sees sealed secrets. Its
	// read cache spares the engine a load and decrypt per attempt; this process sees its own writes at once, other
	// replicas' (Redis) within a second.
	eps := endpoints.NewCachedStore(secrets.NewEndpoints(store, keyring), time.Second)

	if file != nil {
		es := endpoints.NewService(eps, endpoints.Config{
			Policy: policy, HandshakeTimeout: cfg.HandshakeTO, RotationGrace: cfg.RotationGrace,
		})
		res, err := applyConfig(ctx, file, tenants.NewService(store, tenants.ServiceConfig{}), es, logger)
		if err != nil {
			return fmt.Errorf("config file %s: %w", cfg.ConfigFile, err)
		}
		logger.Info("config file applied", "file", cfg.ConfigFile, "tenants_created", res.TenantsCreated,
			"endpoints_created", res.EndpointsCreated, "endpoints_updated", res.EndpointsUpdated,
			"endpoints_rotated", res.EndpointsRotated, "endpoints_unchanged", res.Unchanged)
	}

	client := egress.NewClient(egress.ClientConfig{Policy: policy})
	var engine *delivery.Engine
	mx := metrics.New(metrics.Config{
		MaxTenantLabels: cfg.TenantLabels,
		Queue:           store,
		InFlight:        func() int { return engine.InFlight() },
	})

	notifier := &disabledNotifier{}
	engine, err = delivery.NewEngine(delivery.Config{
		Workers:                cfg.Workers,
		ClaimBatch:             cfg.ClaimBatch,
		MaxInFlightPerEndpoint: cfg.MaxInFlight,
		Retry: delivery.Retry{
			Initial: cfg.RetryInitial, Cap: cfg.RetryCap,
			Count: retriesOrNone(cfg.Retries), Jitter: jitterOrNone(cfg.RetryJitter),
		},
		HealthSpan:      cfg.HealthSpan,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Lease:           cfg.Lease,
		ReclaimEvery:    cfg.ReclaimEvery,
		UserAgent:       egress.DefaultUserAgent,
		Logger:          logger,
	}, delivery.Deps{Queue: store, Messages: store, Endpoints: eps, Client: client, Notifier: notifier, Observer: mx})
	if err != nil {
		return fmt.Errorf("delivery engine: %w", err)
	}
	notifier.events = events.NewService(store, events.Config{Endpoints: eps, Log: store, Queue: store, Waker: engine})
	notifier.logger = logger

	var engineUp atomic.Bool
	checks := []api.ReadyCheck{{Name: "engine", Check: func(context.Context) error {
		if !engineUp.Load() {
			return errors.New("the delivery engine is not running")
		}
		return nil
	}}}
	if p, ok := store.(interface{ Ping(context.Context) error }); ok {
		checks = append([]api.ReadyCheck{{Name: "store", Check: func(ctx context.Context) error {
			err := p.Ping(ctx)
			if err != nil {
				mx.StoreError("ping")
			}
			return err
		}}}, checks...)
	}
	var metricsHandler http.Handler
	if cfg.Metrics {
		metricsHandler = mx.Handler()
	}
	handler, err := api.New(api.Config{
		OperatorToken:    token,
		MaxEventBytes:    cfg.MaxEventBytes,
		MaxBatchBytes:    cfg.MaxBatchBytes,
		URLPolicy:        policy,
		HandshakeTimeout: cfg.HandshakeTO,
		RotationGrace:    cfg.RotationGrace,
		Logger:           logger,
		ReadyChecks:      checks,
		ReadyTimeout:     cfg.ReadyTimeout,
		Metrics:          metricsHandler,
		Observer:         mx,
	}, api.Deps{Tenants: store, Endpoints: eps, Events: store, Log: store, Queue: store, Waker: engine})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("webhookd serving", "addr", ln.Addr().String(), "store", where,
		"allow_private_endpoints", cfg.AllowPrivate, "allow_http_endpoints", cfg.AllowHTTP,
		"secrets_at_rest", secretsMode(keyring), "metrics", cfg.Metrics)

	if cfg.PprofListen != "" {
		addr, stop, err := servePprof(cfg.PprofListen)
		if err != nil {
			return err
		}
		defer stop()
		logger.Warn("pprof profiles served without a token", "addr", addr)
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	engineUp.Store(true) // Run starts at once below; /readyz fails again when it returns
	go func() {
		defer wg.Done()
		defer engineUp.Store(false)
		if err := engine.Run(runCtx); err != nil {
			errc <- fmt.Errorf("delivery engine: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		pruneLoop(runCtx, store, cfg.Retention, logger, mx)
	}()
	if ready != nil {
		ready(ln.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case runErr = <-errc:
	}
	// Stop taking requests first (in-flight requests finish, so a 202 is never half-written), then the engine.
	shCtx, shCancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer shCancel()
	if err := srv.Shutdown(shCtx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	cancel()
	wg.Wait()
	logger.Info("webhookd stopped")
	return runErr
}

// Sampling of the blocking and mutex profiles while --pprof-listen is on (both are off otherwise, and empty): a
// blocking event of blockProfileRate ns or more is always recorded, a shorter one with probability d/rate; one mutex
// contention in mutexProfileFraction.
const (
	blockProfileRate     = 10_000
	mutexProfileFraction = 100
)

// servePprof serves the runtime profiles (net/http/pprof) on their own listener, never the API's, for profiling under
// load, and turns on the blocking and mutex profiles. It returns the address it listens on and a function that
// closes the listener and turns those profiles off again.
func servePprof(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--pprof-listen: %w", err)
	}
	runtime.SetBlockProfileRate(blockProfileRate)
	runtime.SetMutexProfileFraction(mutexProfileFraction)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), func() {
		srv.Close()
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	}, nil
}

func secretsMode(kr *secrets.Keyring) string {
	if kr == nil {
		return "plaintext"
	}
	return "sealed:" + kr.CurrentID()
}

// checkSecretsAtRest runs at start. Without a keyring it refuses a store holding sealed secrets (they could not be
// opened) and warns that secrets are kept in plaintext. With one, it opens every sealed secret (a missing or wrong
// key fails the start now, naming the endpoint, rather than every delivery later) and seals those still in
// plaintext.
func checkSecretsAtRest(ctx context.Context, store gatewayStore, kr *secrets.Keyring, logger *slog.Logger) error {
	if kr == nil {
		c, err := secrets.Count(ctx, store, store)
		if err != nil {
			return fmt.Errorf("secrets at rest: %w", err)
		}
		if n := len(c.Sealed); n > 0 {
			ids := slices.Sorted(maps.Keys(c.Sealed))
			return fmt.Errorf("secrets at rest: the store holds endpoint secrets sealed under operator key ids %s, but neither %s, %s nor --secret-keys-file is set",
				strings.Join(ids, ", "), envSecretKeys, envSecretKey)
		}
		logger.Warn("no operator key: endpoint secrets are stored in plaintext; set "+envSecretKey+
			" (webhookd secrets new-key) to seal them at rest", "plaintext_secrets", c.Plain)
		return nil
	}
	n, err := secrets.Reseal(ctx, store, store, kr, secrets.SealPlain)
	if err != nil {
		return fmt.Errorf("secrets at rest: %w", err)
	}
	if n > 0 {
		logger.Info("sealed plaintext endpoint secrets under the operator key", "endpoints", n, "key_id", kr.CurrentID())
	}
	return nil
}

func retriesOrNone(n int) int {
	if n == 0 {
		return -1 // the engine reads 0 as "default"; the flag's 0 means no retries
	}
	return n
}

func jitterOrNone(j float64) float64 {
	if j == 0 {
		return -1
	}
	return j
}

// pruneLoop enforces retention: every hour (or sooner for short retentions) it deletes what finished before the cutoff.
func pruneLoop(ctx context.Context, log delivery.Log, retention time.Duration, logger *slog.Logger, mx *metrics.Metrics) {
	if retention <= 0 {
		return
	}
	every := min(time.Hour, max(retention/24, time.Second))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := log.Prune(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			mx.StoreError("prune")
			logger.Warn("retention prune failed", "err", err)
		case n > 0:
			logger.Info("retention pruned deliveries", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// operatorToken returns the configured token, or the one kept in <data>/operator-token, creating it on first start.
// The token itself is never logged: the log names the file.
func operatorToken(cfg serveConfig) (string, error) {
	if cfg.OperatorToken != "" {
		if len(cfg.OperatorToken) < 16 {
			return "", errors.New("--operator-token must be at least 16 characters")
		}
		return cfg.OperatorToken, nil
	}
	if cfg.OperatorTokenF != "" {
		b, err := os.ReadFile(cfg.OperatorTokenF)
		if err != nil {
			return "", fmt.Errorf("--operator-token-file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if len(t) < 16 {
			return "", fmt.Errorf("--operator-token-file %s: the token must be at least 16 characters", cfg.OperatorTokenF)
		}
		return t, nil
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(cfg.Data, "operator-token")
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("operator token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := "whop_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	fmt.Fprintf(os.Stderr, "webhookd: created an operator token in %s (read it with: cat %s)\n", path, path)
	return tok, nil
}

// disabledNotifier publishes endpoint.disabled to the tenant's endpoints that subscribe to it.
type disabledNotifier struct {
	events *events.Service
	logger *slog.Logger
}

func (n *disabledNotifier) EndpointDisabled(ctx context.Context, ep *endpoints.Endpoint, reason string) {
	if n.events == nil {
		return
	}
	data, _ := json.Marshal(map[string]any{
		"endpoint_id": ep.ID, "url": ep.URL, "reason": reason, "failing_since": ep.FailingSince,
	})
	if _, _, _, err := n.events.Publish(ctx, ep.TenantID, events.PublishInput{Type: "endpoint.disabled", Data: data}); err != nil {
		n.logger.Warn("publish endpoint.disabled", "tenant", ep.TenantID, "endpoint_id", ep.ID, "err", err)
	}
}
