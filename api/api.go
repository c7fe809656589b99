package api

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/tenants"
)

// Defaults of Config.
const (
	DefaultMaxEventBytes = 256 << 10
	DefaultMaxBatchBytes = 8 << 20
	DefaultMaxBodyBytes  = 64 << 10
)

// Config configures the API. Only OperatorToken is required.
type Config struct {
	// OperatorToken is the bearer token of the operator, who manages tenants, their tokens and the event catalogue,
	// publishes events, and may act on any tenant. Required.
	OperatorToken string
	// MaxEventBytes bounds the request body of POST /v1/tenants/{tenant}/events; a larger body is refused with 413.
	// Defaults to 256 KiB.
	MaxEventBytes int64
	// MaxBatchBytes bounds the request body of POST /v1/tenants/{tenant}/events/batch; a larger body is refused with
	// 413. Defaults to 8 MiB.
	MaxBatchBytes int64
	// MaxBodyBytes bounds every other request body. Defaults to 64 KiB.
	MaxBodyBytes int64
	// Logger receives the access log and internal errors. Defaults to slog.Default().
	Logger *slog.Logger
	// ReadyChecks are what GET /readyz checks (the store, the delivery engine); with none it always answers 200.
	// GET /healthz answers 200 whenever the process serves HTTP. Neither needs a token.
	ReadyChecks []ReadyCheck
	// ReadyTimeout bounds each ready check. Defaults to 2s.
	ReadyTimeout time.Duration
	// Metrics, if set, is served at GET /metrics, without a token. Defaults to none (404).
	Metrics http.Handler
	// Observer, if set, hears every request, ingested event, handshake failure and internal error (metrics).
	Observer Observer
	// BodyReadTimeout bounds the reading of a request body once the caller is authenticated: a body not received
	// by then is answered 408 and the connection closed. Defaults to DefaultBodyReadTimeout; negative: no bound
	// but the HTTP server's.
	BodyReadTimeout time.Duration
	// Limits are the API's quotas (rates per token, tenant and operator, handshakes, endpoints per tenant, failed
	// authentications per address); each has a default (see Limits).
	Limits Limits
	// ConsoleURL is the console's public address put in a portal session's URL, e.g.
	// "https://hooks.example.com/console/". Defaults to ConsolePath on the host a request came to.
	ConsoleURL string
}

// DeliveryLog is what the API reads of the delivery log. delivery.Log is one.
type DeliveryLog interface {
	GetMessage(ctx context.Context, tenantID, id string) (*delivery.Message, error)
	GetDelivery(ctx context.Context, tenantID, id string) (*delivery.Delivery, error)
	ListDeliveries(ctx context.Context, tenantID string, f delivery.Filter) ([]*delivery.Delivery, error)
	ListAttempts(ctx context.Context, tenantID, deliveryID string) ([]delivery.Attempt, error)
}

// Deps are the services the API works on, built by the caller (gateway.New builds each once, for the API and for
// everything else in the process). Each service carries its own settings: the URL policy, handshake timeout and
// rotation grace of endpoints.Config, the idempotency window and the engine's doorbell of events.Config.
type Deps struct {
	Tenants   *tenants.Service   // required
	Endpoints *endpoints.Service // required
	Events    *events.Service    // required
	Log       DeliveryLog        // required: the delivery log the API reads
	Calls     *calls.Service     // optional: management calls; without it the calls routes answer 404
	// Limits, if set, gives each endpoint's adaptive in-flight limit (the delivery engine of this process), shown as
	// in_flight_limit by GET .../endpoints/{id}.
	Limits EndpointLimits
}

// EndpointLimits reads an endpoint's adaptive limit of attempts in flight. *delivery.Engine is one.
type EndpointLimits interface {
	EndpointLimit(tenantID, endpointID string) int
}

// ErrConfig is returned by New for an unusable Config or Deps.
var ErrConfig = errors.New("api: invalid configuration")

// server holds the API's state; its methods are the handlers.
type server struct {
	cfg       Config
	log       *slog.Logger
	opHash    [32]byte
	tenants   *tenants.Service
	endpoints *endpoints.Service
	events    *events.Service
	dlog      DeliveryLog
	calls     *calls.Service
	epLimits  EndpointLimits // nil: in_flight_limit left out
	obs       Observer
	ready     *readiness
	router    *mux.Router
	limits    Limits   // with defaults
	suspects  suspects // addresses that failed to authenticate lately (limits.go)
}

// New returns the HTTP handler of the /v1 API (see routes.go for the table).
func New(cfg Config, deps Deps) (http.Handler, error) {
	s, err := newServer(cfg, deps)
	if err != nil {
		return nil, err
	}
	return s.handler(), nil
}

func newServer(cfg Config, deps Deps) (*server, error) {
	switch {
	case cfg.OperatorToken == "":
		return nil, errors.Join(ErrConfig, errors.New("OperatorToken is required"))
	case deps.Tenants == nil || deps.Endpoints == nil || deps.Events == nil || deps.Log == nil:
		return nil, errors.Join(ErrConfig, errors.New("Deps: Tenants, Endpoints, Events and Log are required"))
	case cfg.MaxEventBytes < 0 || cfg.MaxBatchBytes < 0 || cfg.MaxBodyBytes < 0 || cfg.ReadyTimeout < 0:
		return nil, errors.Join(ErrConfig, errors.New("sizes and durations must not be negative"))
	}
	cfg.MaxEventBytes = cmp.Or(cfg.MaxEventBytes, DefaultMaxEventBytes)
	cfg.MaxBatchBytes = cmp.Or(cfg.MaxBatchBytes, DefaultMaxBatchBytes)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.ReadyTimeout = cmp.Or(cfg.ReadyTimeout, 2*time.Second)
	cfg.BodyReadTimeout = cmp.Or(cfg.BodyReadTimeout, DefaultBodyReadTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, c := range cfg.ReadyChecks {
		if c.Name == "" || c.Check == nil {
			return nil, errors.Join(ErrConfig, errors.New("ReadyChecks: every check needs a Name and a Check"))
		}
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	s := &server{
		cfg:       cfg,
		log:       cfg.Logger,
		opHash:    sha256.Sum256([]byte(cfg.OperatorToken)),
		tenants:   deps.Tenants,
		endpoints: deps.Endpoints,
		events:    deps.Events,
		dlog:      deps.Log,
		calls:     deps.Calls,
		epLimits:  deps.Limits,
		obs:       obs,
		limits:    cfg.Limits.withDefaults(),
		ready: &readiness{checks: cfg.ReadyChecks, timeout: cfg.ReadyTimeout, log: cfg.Logger,
			failed: make(map[string]bool)},
	}
	s.router = s.newRouter()
	return s, nil
}

// handler wraps the router in the middleware every request passes: request id, access log, panic recovery.
func (s *server) handler() http.Handler {
	return s.requestID(s.accessLog(s.recoverPanic(s.router)))
}
