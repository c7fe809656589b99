package api

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/webhookd/webhookd/endpoints"
)

// Defaults of Limits: generous for a gateway beside one console, where tenant tokens are few and trusted;
// docs/operations.md has settings for a multi-tenant service.
const (
	DefaultTokenRate       = 100.0 // requests per second of one tenant token
	DefaultTenantRate      = 200.0 // requests per second of all of one tenant's tokens together
	DefaultHandshakeRate   = 5.0   // endpoint URL checks (OPTIONS handshakes) per second of one tenant
	DefaultMaxEndpoints    = 1000  // endpoints of one tenant
	DefaultAuthFailures    = 30    // failed authentications of one client address per minute before 429
	DefaultBodyReadTimeout = 10 * time.Second
)

// Limits are the API's quotas. Rates are per second with bursts of twice the rate (at least 1). For each field, 0
// means the default and a negative value means no limit. The operator is held to OperatorRate only (none by
// default): it is the console, and trusted.
type Limits struct {
	TokenRate     float64 // requests per second of one tenant token
	TenantRate    float64 // requests per second of all tokens of one tenant together
	OperatorRate  float64 // requests per second of the operator token; 0 (and negative) means none
	HandshakeRate float64 // per tenant: endpoint creations, URL changes and enables (each an OPTIONS to the URL)
	MaxEndpoints  int     // endpoints one tenant may have, whoever creates them
	// AuthFailures is how many failed authentications one client address (an IPv6 /64) may have per minute; beyond
	// them every request from it that needs a token is answered 429 until the minute has refilled, whatever token
	// it carries, so that the answer says nothing about a token.
	AuthFailures int
	// Limiter holds the buckets. Defaults to one in this process (golang.org/x/time/rate); replicas sharing a Redis
	// store share its limiter (redisstore.Store.Reserve), so the limits hold across them.
	Limiter Limiter
}

// Limiter is a set of token buckets by key. Reserve reports how long until key's bucket (rate tokens per second, at
// most burst) holds a token, 0 when it holds one now; with take, a token that is there is taken. A Limiter that fails
// is logged and the request let through: quotas never take the API down.
type Limiter interface {
	Reserve(ctx context.Context, key string, rate float64, burst int, take bool) (time.Duration, error)
}

func (l Limits) withDefaults() Limits {
	or := func(v, def float64) float64 {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	l.TokenRate = or(l.TokenRate, DefaultTokenRate)
	l.TenantRate = or(l.TenantRate, DefaultTenantRate)
	l.OperatorRate = max(l.OperatorRate, 0)
	l.HandshakeRate = or(l.HandshakeRate, DefaultHandshakeRate)
	l.MaxEndpoints = int(or(float64(l.MaxEndpoints), DefaultMaxEndpoints))
	l.AuthFailures = int(or(float64(l.AuthFailures), DefaultAuthFailures))
	if l.Limiter == nil {
		l.Limiter = NewLocalLimiter()
	}
	return l
}

func burstOf(r float64) int { return max(1, int(math.Ceil(2*r))) }

// rateLimitedError is a 429 answer; wait becomes Retry-After.
type rateLimitedError struct {
	wait time.Duration
	what string
}

func (e *rateLimitedError) Error() string { return "rate limited: " + e.what }

func (e *rateLimitedError) apiError() *apiError {
	return newError(http.StatusTooManyRequests, CodeRateLimited, "%s; retry after %s", e.what, retryAfter(e.wait)+"s")
}

// retryAfter is the Retry-After value of wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// take takes a token of key's bucket, or returns a rateLimitedError saying what was exceeded.
func (s *server) take(ctx context.Context, key string, r float64, what string) error {
	if r <= 0 {
		return nil
	}
	wait, err := s.limits.Limiter.Reserve(ctx, key, r, burstOf(r), true)
	if err != nil {
		s.log.Warn("rate limiter failed; request let through", "key", key, "err", err)
		return nil
	}
	if wait > 0 {
		return &rateLimitedError{wait: wait, what: what}
	}
	return nil
}

// admit applies the request rates of the caller: the operator's, or a tenant token's and its tenant's.
func (s *server) admit(ctx context.Context, who principal) error {
	if who.operator {
		return s.take(ctx, "op", s.limits.OperatorRate, "too many requests with the operator token")
	}
	if who.tokenID != "" {
		if err := s.take(ctx, "tok:"+who.tokenID, s.limits.TokenRate, "too many requests with this token"); err != nil {
			return err
		}
	}
	return s.take(ctx, "ten:"+who.tenantID, s.limits.TenantRate, "too many requests for this tenant")
}

// handshake runs do, a call that may check a URL (an OPTIONS request webhookd sends to a URL the caller chose), under
// the tenant's handshake rate: refused when the tenant has no handshake left, charged one when do made one (it
// succeeded, or failed in the handshake), free when it failed before (validation, the URL policy). The operator is
// not limited.
func (s *server) handshake(ctx context.Context, c *call, do func() error) error {
	r := s.limits.HandshakeRate
	if c.who.operator || r <= 0 {
		return do()
	}
	key := "hs:" + c.tenant
	wait, err := s.limits.Limiter.Reserve(ctx, key, r, burstOf(r), false)
	if err != nil {
		s.log.Warn("rate limiter failed; request let through", "key", key, "err", err)
	} else if wait > 0 {
		return &rateLimitedError{wait: wait, what: "too many endpoint URL checks (handshakes) for this tenant"}
	}
	err = do()
	if _, failed := errors.AsType[*endpoints.HandshakeError](err); err == nil || failed {
		if _, lerr := s.limits.Limiter.Reserve(ctx, key, r, burstOf(r), true); lerr != nil {
			s.log.Warn("rate limiter failed", "key", key, "err", lerr)
		}
	}
	return err
}

// checkEndpointCap refuses a new endpoint to a tenant that has MaxEndpoints. Concurrent creates may each pass the
// check, so a tenant can exceed the cap by as many creates as it runs at once (each still rate limited).
func (s *server) checkEndpointCap(ctx context.Context, tenant string) error {
	max := s.limits.MaxEndpoints
	if max <= 0 {
		return nil
	}
	n, after := 0, ""
	for n < max {
		es, next, err := s.endpoints.List(ctx, tenant, after, min(maxLimit, max-n))
		if err != nil {
			return err
		}
		n += len(es)
		if next == "" {
			break
		}
		after = next
	}
	if n >= max {
		return newError(http.StatusConflict, CodeEndpointLimit,
			"this tenant has %d endpoints, the most it may have; delete one first", max)
	}
	return nil
}

const authWindow = time.Minute

// authenticateThrottled is authenticate behind the throttle of failed authentications per client address: an
// address over its budget gets 429 before its token is even looked at.
func (s *server) authenticateThrottled(r *http.Request) (principal, error) {
	n := s.limits.AuthFailures
	if n <= 0 {
		return s.authenticate(r)
	}
	rt := float64(n) / authWindow.Seconds()
	addr := clientKey(r.RemoteAddr)
	key := "auth:" + addr
	// Only an address that failed here lately is looked up: the others cost nothing (no Redis round trip). With
	// replicas, an address failing on several draws from one shared budget once it has failed on each.
	if s.suspects.has(addr) {
		wait, err := s.limits.Limiter.Reserve(r.Context(), key, rt, n, false)
		if err != nil {
			s.log.Warn("rate limiter failed; request let through", "key", key, "err", err)
		} else if wait > 0 {
			return principal{}, &rateLimitedError{wait: wait, what: "too many failed authentications from this address"}
		}
	}
	who, err := s.authenticate(r)
	if err == errUnauthorized {
		s.suspects.add(addr)
		if _, lerr := s.limits.Limiter.Reserve(r.Context(), key, rt, n, true); lerr != nil {
			s.log.Warn("rate limiter failed", "key", key, "err", lerr)
		}
	}
	return who, err
}

// suspects are the client addresses that failed to authenticate in the last authWindow, in this process.
type suspects struct {
	mu    sync.RWMutex
	m     map[string]time.Time // address → its last failure
	sweep time.Time
}

func (s *suspects) add(addr string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]time.Time)
	}
	if now.Sub(s.sweep) > authWindow {
		for a, t := range s.m {
			if now.Sub(t) > authWindow {
				delete(s.m, a)
			}
		}
		s.sweep = now
	}
	s.m[addr] = now
}

func (s *suspects) has(addr string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.m[addr]
	return ok && time.Since(t) <= authWindow
}

// clientKey is the throttling key of a client address: the IP, or for IPv6 its /64 (one subscriber's usual share).
// Behind a reverse proxy every client has the proxy's address.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// bodyDeadline bounds the time left to read the request body, so that a client dripping a body is cut off.
func (s *server) bodyDeadline(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 || s.cfg.BodyReadTimeout <= 0 {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyReadTimeout)) // unsupported: no bound
}

// localLimiter is the Limiter of one process: a rate.Limiter per key, dropped once full again (idle).
type localLimiter struct {
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	sweep time.Time
}

// NewLocalLimiter returns a Limiter whose buckets live in this process (golang.org/x/time/rate).
func NewLocalLimiter() Limiter { return &localLimiter{m: make(map[string]*rate.Limiter)} }

func (l *localLimiter) Reserve(_ context.Context, key string, r float64, burst int, take bool) (time.Duration, error) {
	if r <= 0 || burst < 1 {
		return 0, nil
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		for k, lim := range l.m {
			if lim.TokensAt(now) >= float64(lim.Burst()) {
				delete(l.m, k)
			}
		}
		l.sweep = now
	}
	lim := l.m[key]
	if lim == nil || lim.Limit() != rate.Limit(r) || lim.Burst() != burst {
		lim = rate.NewLimiter(rate.Limit(r), burst)
		l.m[key] = lim
	}
	if tokens := lim.TokensAt(now); tokens < 1 {
		return max(time.Nanosecond, time.Duration((1-tokens)/r*float64(time.Second))), nil
	}
	if take {
		lim.AllowN(now, 1)
	}
	return 0, nil
}
