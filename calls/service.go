package calls

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// Endpoints is how the service reads endpoints; endpoints.Store is one.
type Endpoints interface {
	GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error)
}

// Config configures a Service. The zero value is usable: the production URL policy, 1 MiB answers, a breaker opening
// after 5 failures for 30 s.
type Config struct {
	// Policy is checked on every call's URL; Client (which must enforce the same policy when dialling) sends it.
	// Client defaults to egress.NewClient with Policy.
	Policy egress.Policy
	Client *http.Client
	// ResponseLimit bounds an answer's body; a larger one is bad_response. Defaults to 1 MiB.
	ResponseLimit int64
	// Excerpt is how many bytes of the request and of the answer the call log keeps. Defaults to 4 KiB.
	Excerpt int
	// BreakerAfter is how many consecutive failures (timeout, unreachable, bad_response) open an endpoint's circuit;
	// BreakerCooldown how long it stays open before one probe goes through. Defaults 5 and 30s.
	BreakerAfter    int
	BreakerCooldown time.Duration
	// LogQueue bounds the calls waiting to be written to the log; beyond it an entry is dropped (and counted).
	// Defaults to 4096.
	LogQueue int
	// Observer hears of every call (metrics). Logger hears of log write failures. Now is the clock.
	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service makes calls. It is safe for concurrent use; Close it to flush the call log.
type Service struct {
	eps      Endpoints
	log      Log
	cfg      Config
	breakers *breakers
	schemas  sync.Map // endpoint id + "\x00" + updated + "\x00" + path → *jsonschema.Schema
	nschemas atomic.Int64
	writer   *logWriter
}

// New returns a Service over eps, writing its call log to log in the background until Close.
func New(eps Endpoints, log Log, cfg Config) *Service {
	if cfg.Client == nil {
		cfg.Client = egress.NewClient(egress.ClientConfig{Policy: cfg.Policy})
	}
	cfg.ResponseLimit = cmp.Or(cfg.ResponseLimit, DefaultResponseLimit)
	cfg.Excerpt = cmp.Or(cfg.Excerpt, DefaultExcerpt)
	cfg.BreakerAfter = cmp.Or(cfg.BreakerAfter, DefaultBreakerAfter)
	cfg.BreakerCooldown = cmp.Or(cfg.BreakerCooldown, DefaultBreakerCool)
	cfg.LogQueue = cmp.Or(cfg.LogQueue, DefaultLogQueue)
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{eps: eps, log: log, cfg: cfg, breakers: newBreakers(cfg.BreakerAfter, cfg.BreakerCooldown)}
	s.writer = newLogWriter(log, cfg.LogQueue, cfg.Observer, cfg.Logger)
	return s
}

// Config returns the service's configuration, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Close writes the calls still queued for the log and stops the writer. Calls made after Close are not logged.
func (s *Service) Close() { s.writer.close() }

// Prune deletes the call log entries made before cutoff: with it the Service is a delivery.Pruner, so the gateway
// keeps calls as long as deliveries.
func (s *Service) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	return s.log.PruneCalls(ctx, cutoff)
}

// List returns up to limit calls of one endpoint after the cursor after, and the cursor of the next page ("" on the
// last). The endpoint must be the tenant's calls endpoint.
func (s *Service) List(ctx context.Context, tenantID, endpointID, after string, limit int) ([]*Call, string, error) {
	if _, err := s.endpoint(ctx, tenantID, endpointID); err != nil {
		return nil, "", err
	}
	limit = max(limit, 1)
	cs, err := s.log.ListCalls(ctx, tenantID, endpointID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list calls: %w", err)
	}
	next := ""
	if len(cs) > limit {
		cs = cs[:limit]
		next = cs[limit-1].ID
	}
	return cs, next, nil
}

func (s *Service) endpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error) {
	if !ids.Valid(id) {
		return nil, fmt.Errorf("calls endpoint %q: %w", id, endpoints.ErrNotFound)
	}
	ep, err := s.eps.GetEndpoint(ctx, tenantID, id)
	if err != nil {
		return nil, fmt.Errorf("calls endpoint %s: %w", id, err)
	}
	if !ep.IsCalls() {
		return nil, fmt.Errorf("endpoint %s receives events, not calls: %w", id, endpoints.ErrKind)
	}
	return ep, nil
}

// Check validates a request without I/O: the path, the body (JSON) and the budget.
func Check(req Request) error {
	if err := endpoints.ValidateCallPath(req.Path); err != nil {
		var fe *endpoints.FieldError
		if errors.As(err, &fe) {
			return &FieldError{Field: "path", Message: fe.Message}
		}
		return &FieldError{Field: "path", Message: err.Error()}
	}
	if len(bytes.TrimSpace(req.Body)) == 0 {
		return &FieldError{Field: "body", Message: "is required: the JSON to send (null is allowed)"}
	}
	if !json.Valid(req.Body) {
		return &FieldError{Field: "body", Message: "is not valid JSON"}
	}
	if req.Timeout != 0 && (req.Timeout < MinTimeout || req.Timeout > MaxTimeout) {
		return &FieldError{Field: "timeout", Message: fmt.Sprintf("must be between %s and %s, got %s", MinTimeout, MaxTimeout, req.Timeout)}
	}
	return nil
}

// Call makes one call for the tenant and returns its result. The error is for a call that could not be made at all
// (bad input: *FieldError; an unknown endpoint: endpoints.ErrNotFound; an events endpoint: endpoints.ErrKind; a
// disabled one: ErrDisabled), and nothing is logged then. Every call that is made, whatever its outcome, is logged.
func (s *Service) Call(ctx context.Context, tenantID string, req Request) (*Result, error) {
	if err := Check(req); err != nil {
		return nil, err
	}
	ep, err := s.endpoint(ctx, tenantID, req.EndpointID)
	if err != nil {
		return nil, err
	}
	if ep.Disabled {
		return nil, fmt.Errorf("endpoint %s: %w", ep.ID, ErrDisabled)
	}
	start := time.Now()
	now := s.cfg.Now().UTC()
	msgID := signing.NewMessageID()
	res := &Result{ID: ids.New("call"), WebhookID: msgID.String(), EndpointID: ep.ID, Path: req.Path, CreatedAt: now}
	budget := cmp.Or(req.Timeout, ep.Timeout, DefaultTimeout)
	budget = min(budget, MaxTimeout)

	var raw []byte // the answer's body as read
	if ok, probe := s.breakers.allow(ep.ID, now); !ok {
		res.Outcome, res.Error = CircuitOpen, fmt.Sprintf("the circuit of %s is open after %d consecutive failures", ep.ID, s.cfg.BreakerAfter)
	} else {
		raw = s.send(ctx, ep, req, msgID, now, budget, start, res)
		if ctx.Err() != nil && res.Outcome != OK && res.Outcome != TypedError {
			if probe {
				s.breakers.abandon(ep.ID)
			}
		} else {
			s.breakers.done(ep.ID, probe, res.Outcome.failure(), s.cfg.Now())
		}
	}
	res.Latency = time.Since(start)
	s.cfg.Observer.CallDone(tenantID, res.Outcome, res.Latency)
	s.writer.add(&Call{
		ID: res.ID, TenantID: tenantID, EndpointID: ep.ID, WebhookID: res.WebhookID, Path: req.Path,
		Request: excerpt(req.Body, s.cfg.Excerpt), Response: excerpt(raw, s.cfg.Excerpt), Status: res.Status,
		Outcome: res.Outcome, Tag: res.Tag, Error: res.Error, Latency: res.Latency, Attempts: res.Attempts,
		CreatedAt: now,
	})
	return res, nil
}

// send signs and posts the call (twice at most: an idempotent call whose first connection failed before the request
// went out) and fills in res; it returns the answer's body as read.
func (s *Service) send(ctx context.Context, ep *endpoints.Endpoint, req Request, msgID signing.MessageID, now time.Time,
	budget time.Duration, start time.Time, res *Result) []byte {
	target, err := s.target(ep.URL, req.Path)
	if err != nil {
		res.Outcome, res.Error = Unreachable, err.Error()
		return nil
	}
	p, err := profiles.Lookup(ep.Profile)
	if err != nil {
		res.Outcome, res.Error = Unreachable, err.Error()
		return nil
	}
	var keys []signing.Key
	for _, sec := range ep.SigningKeys(now) {
		k, err := p.ParseKey(sec)
		if err != nil {
			res.Outcome, res.Error = Unreachable, "the endpoint holds a key its profile cannot read"
			return nil
		}
		keys = append(keys, k)
	}
	cctx, cancel := context.WithDeadline(ctx, start.Add(budget))
	defer cancel()
	m := signing.Message{ID: msgID}
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		hreq, err := http.NewRequestWithContext(cctx, http.MethodPost, target, bytes.NewReader(req.Body))
		if err != nil {
			res.Outcome, res.Error = Unreachable, "cannot build the request"
			return nil
		}
		hreq.Header = make(http.Header, len(ep.Headers)+4)
		for k, v := range ep.Headers { // custom headers first: the profile's replace any that collide
			hreq.Header.Set(k, v)
		}
		if err := p.SetHeaders(hreq.Header, &m, req.Body, s.cfg.Now(), keys); err != nil {
			res.Outcome, res.Error = Unreachable, "no key signs for this endpoint"
			return nil
		}
		var wrote bool
		var mu sync.Mutex
		trace := &httptrace.ClientTrace{WroteHeaders: func() { mu.Lock(); wrote = true; mu.Unlock() }}
		hreq = hreq.WithContext(httptrace.WithClientTrace(cctx, trace))
		resp, err := s.cfg.Client.Do(hreq)
		if err != nil {
			mu.Lock()
			sent := wrote
			mu.Unlock()
			switch {
			case cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
				res.Outcome, res.Error = Timeout, fmt.Sprintf("no answer within %s", budget)
				return nil
			case req.Idempotent && !sent && attempt == 1 && ctx.Err() == nil && cctx.Err() == nil:
				continue // nothing reached the backend: one more try within the same budget
			}
			res.Outcome, res.Error = Unreachable, transportError(err)
			return nil
		}
		return s.answer(cctx, ctx, ep, req.Path, resp, budget, res)
	}
}

// answer reads and classifies a response.
func (s *Service) answer(cctx, ctx context.Context, ep *endpoints.Endpoint, path string, resp *http.Response,
	budget time.Duration, res *Result) []byte {
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.ResponseLimit+1))
	switch {
	case err != nil && cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		res.Outcome, res.Error = Timeout, fmt.Sprintf("the answer did not end within %s", budget)
		return body
	case err != nil:
		res.Outcome, res.Error = Unreachable, "reading the answer: "+transportError(err)
		return body
	case int64(len(body)) > s.cfg.ResponseLimit:
		res.Outcome, res.Error = BadResponse, fmt.Sprintf("the answer is larger than %d bytes", s.cfg.ResponseLimit)
		return body[:s.cfg.ResponseLimit]
	case !json.Valid(body):
		res.Outcome, res.Error = BadResponse, fmt.Sprintf("the answer (status %d) is not JSON", resp.StatusCode)
		return body
	}
	res.Body = body
	if tag, ok := errorTag(body, ep.Tags()); ok {
		res.Outcome, res.Tag = TypedError, tag
		return body
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		res.Outcome, res.Error = BadResponse, fmt.Sprintf("status %d without a declared error tag", resp.StatusCode)
		return body
	}
	if err := s.checkSchema(ep, path, body); err != nil {
		res.Outcome, res.Error = BadResponse, err.Error()
		return body
	}
	res.Outcome = OK
	return body
}

// errorTag reports whether body is an object whose "_tag" is one of tags.
func errorTag(body []byte, tags []string) (string, bool) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return "", false
	}
	var v struct {
		Tag *string `json:"_tag"`
	}
	if json.Unmarshal(b, &v) != nil || v.Tag == nil {
		return "", false
	}
	for _, t := range tags {
		if t == *v.Tag {
			return t, true
		}
	}
	return "", false
}

// maxSchemaCache bounds the compiled schemas kept.
const maxSchemaCache = 4096

// checkSchema checks body against the schema the endpoint declares for path, if any.
func (s *Service) checkSchema(ep *endpoints.Endpoint, path string, body []byte) error {
	if ep.Calls == nil || ep.Calls.Schemas[path] == nil {
		return nil
	}
	key := ep.ID + "\x00" + ep.UpdatedAt.String() + "\x00" + path
	var sch *jsonschema.Schema
	if v, ok := s.schemas.Load(key); ok {
		sch = v.(*jsonschema.Schema)
	} else {
		var err error
		if sch, err = endpoints.CompileSchema(ep.Calls.Schemas[path]); err != nil {
			return fmt.Errorf("the schema of %s does not compile: %w", path, err)
		}
		if s.nschemas.Add(1) > maxSchemaCache { // endpoint updates leave stale keys behind: start afresh
			s.schemas.Clear()
			s.nschemas.Store(1)
		}
		s.schemas.Store(key, sch)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("the answer does not meet the schema of %s: %s", path, oneLine(err.Error()))
	}
	return nil
}

// target joins the endpoint's base URL and a call path, and checks the result against the URL policy.
func (s *Service) target(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("the endpoint's URL does not parse")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	if _, err := s.cfg.Policy.CheckURL(u.String()); err != nil {
		return "", err
	}
	return u.String(), nil
}

// transportError describes a failed request without its URL (the base URL may carry a secret in its query).
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// excerpt returns the first n bytes of b as valid UTF-8.
func excerpt(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1000 {
		s = s[:1000] + "…"
	}
	return s
}
