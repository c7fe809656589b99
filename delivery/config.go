package delivery

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// MaxEndpointTimeout is the longest per-attempt timeout the engine applies, whatever an endpoint asks for.
const MaxEndpointTimeout = 30 * time.Second

// DefaultEndpointTimeout applies to endpoints whose Timeout is zero.
const DefaultEndpointTimeout = time.Second

// ErrConfig is wrapped by every error NewEngine returns for a bad Config or missing dependency.
var ErrConfig = errors.New("delivery: invalid config")

// Config tunes an Engine. The zero value is the production setting.
type Config struct {
	// Workers bounds the attempts in flight at once in this process. Defaults to 256: a worker is a goroutine, and
	// most of its time is spent waiting for the receiver.
	Workers int
	// ClaimBatch bounds the tasks taken from the queue per claim. Defaults to 16.
	ClaimBatch int
	// Lease is how long a claimed task belongs to this process before another may reclaim it. It must cover the
	// longest attempt (MaxEndpointTimeout) plus the writes that record it; an attempt's timeout is also cut to half
	// the lease. Defaults to 60s.
	Lease time.Duration
	// MaxInFlightPerEndpoint bounds the attempts in flight to one endpoint across every worker and replica (enforced
	// by Queue.Claim); negative means unlimited. Defaults to 64. Within it each endpoint has an adaptive limit of
	// attempts in flight in this process (see Engine.EndpointLimit), which starts at 8 (or the cap, if lower), grows
	// while attempts succeed fast and shrinks on timeouts, 429, 503 and rising latency; unlimited caps it at Workers.
	MaxInFlightPerEndpoint int
	// Retry is the retry schedule. Defaults to 6 attempts at 1s, 2s, 4s, 8s, 16s with ±20% jitter (see Retry).
	Retry Retry
	// RetryAfterCap bounds how long a receiver's Retry-After header may postpone a retry. Defaults to 1h.
	RetryAfterCap time.Duration
	// HealthSpan is how long an endpoint may fail with no success in between before it is disabled with reason
	// "failing". Defaults to 24h.
	HealthSpan time.Duration
	// HealthWriteEvery paces the writes of one endpoint's health transitions (healthy to failing and back): after a
	// burst of 4, one per HealthWriteEvery, each writing the state at its time, so that a receiver failing now and
	// then does not have its record rewritten at every failure. Disables are written at once. Defaults to 1s.
	HealthWriteEvery time.Duration
	// FailingAfter is how long an endpoint may fail with no success before a HealthNotifier hears it is failing (and,
	// after a success, recovered). Negative: never. Defaults to DefaultFailingAfter (5 minutes).
	FailingAfter time.Duration
	// IdleMax bounds the sleep when nothing is due; Wake, a finished attempt or the next due time end it sooner.
	// Defaults to 1s.
	IdleMax time.Duration
	// ReclaimEvery is how often expired leases (of crashed or stalled workers anywhere) are put back in their
	// lanes. While the engine claims nothing and finds nothing to reclaim, the interval doubles each round up to
	// 6 × ReclaimEvery. Defaults to 5s.
	ReclaimEvery time.Duration
	// ShutdownTimeout is how long Run lets in-flight attempts finish after its context is cancelled; attempts still
	// running then are aborted and their tasks released unspent. Defaults to 10s.
	ShutdownTimeout time.Duration
	// ResponseLimit bounds the bytes of a response body read (so the connection can be reused); the rest is left
	// unread and the connection closed. Defaults to 64 KiB.
	ResponseLimit int64
	// ResponseKeep is how many leading bytes of a response body are kept in the attempt record. Defaults to 1 KiB.
	ResponseKeep int
	// UserAgent is the User-Agent header of every attempt whose endpoint's custom headers set none. Empty takes the
	// one an egress client sets (egress.UserAgent), so that the client has nothing to clone, and leaves it to any
	// other Client. Every request shares one slice for the value: the Client's transport must not modify request
	// headers in place (net/http's does not).
	UserAgent string
	// MessageCache is how many recently loaded messages the engine keeps (also bounded to 16 MiB of data), so that
	// a fan-out or a retry does not load its message from the store again; negative disables it. Messages are
	// immutable, so an entry is never stale. Defaults to 4096.
	MessageCache int
	// Now is the clock for attempt timestamps, scheduling and health. Defaults to time.Now.
	Now func() time.Time
	// Logger receives one line per attempt and the engine's own events. Defaults to slog.Default().
	Logger *slog.Logger
}

// Retry is an exponential retry schedule with jitter: after attempt n (1-based) fails, attempt n+1 is due
// Initial × 2^(n−1), capped at Cap, then moved by a uniform ±Jitter fraction. The zero value is the default schedule.
type Retry struct {
	// Initial is the wait after the first attempt fails. Defaults to 1s.
	Initial time.Duration
	// Cap bounds the wait before jitter. Defaults to 1h.
	Cap time.Duration
	// Count is the number of retries after the first attempt, so Count+1 attempts in all; negative means none.
	// Defaults to 5.
	Count int
	// Jitter is the fraction, in [0, 1), by which a wait is moved at random either way; negative means none.
	// Defaults to 0.2.
	Jitter float64
}

// Default values, exported so that flags and docs can show them.
const (
	DefaultWorkers          = 256
	DefaultClaimBatch       = 16
	DefaultLease            = 60 * time.Second
	DefaultMaxInFlight      = 64
	DefaultRetryInitial     = time.Second
	DefaultRetryCap         = time.Hour
	DefaultRetryCount       = 5
	DefaultRetryJitter      = 0.2
	DefaultRetryAfterCap    = time.Hour
	DefaultHealthSpan       = 24 * time.Hour
	DefaultHealthWriteEvery = time.Second
	DefaultIdleMax          = time.Second
	DefaultReclaimEvery     = 5 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultResponseLimit    = 64 << 10
	DefaultResponseKeep     = 1 << 10
)

// withDefaults returns r with zero fields set to their defaults. "None" (negative) fields stay negative, so that
// defaulting again (a Retry taken from a Config that has its defaults) keeps them none; users read them as zero.
func (r Retry) withDefaults() Retry {
	r.Initial = cmp.Or(r.Initial, DefaultRetryInitial)
	r.Cap = cmp.Or(r.Cap, DefaultRetryCap)
	r.Count = cmp.Or(r.Count, DefaultRetryCount)
	r.Jitter = cmp.Or(r.Jitter, DefaultRetryJitter)
	return r
}

// MaxAttempts is the number of attempts a delivery gets: Count+1.
func (r Retry) MaxAttempts() int { return max(r.withDefaults().Count, 0) + 1 }

func (r Retry) validate() error {
	switch {
	case r.Initial < 0:
		return fmt.Errorf("%w: Retry.Initial %v is negative", ErrConfig, r.Initial)
	case r.Cap < r.Initial:
		return fmt.Errorf("%w: Retry.Cap %v is below Retry.Initial %v", ErrConfig, r.Cap, r.Initial)
	case r.Jitter >= 1:
		return fmt.Errorf("%w: Retry.Jitter %v is not below 1", ErrConfig, r.Jitter)
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Workers = cmp.Or(c.Workers, DefaultWorkers)
	c.ClaimBatch = cmp.Or(c.ClaimBatch, DefaultClaimBatch)
	c.Lease = cmp.Or(c.Lease, DefaultLease)
	c.MaxInFlightPerEndpoint = cmp.Or(c.MaxInFlightPerEndpoint, DefaultMaxInFlight)
	c.Retry = c.Retry.withDefaults()
	c.RetryAfterCap = cmp.Or(c.RetryAfterCap, DefaultRetryAfterCap)
	c.HealthSpan = cmp.Or(c.HealthSpan, DefaultHealthSpan)
	c.HealthWriteEvery = cmp.Or(c.HealthWriteEvery, DefaultHealthWriteEvery)
	c.FailingAfter = cmp.Or(c.FailingAfter, DefaultFailingAfter)
	c.IdleMax = cmp.Or(c.IdleMax, DefaultIdleMax)
	c.ReclaimEvery = cmp.Or(c.ReclaimEvery, DefaultReclaimEvery)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	c.ResponseLimit = cmp.Or(c.ResponseLimit, DefaultResponseLimit)
	c.ResponseKeep = cmp.Or(c.ResponseKeep, DefaultResponseKeep)
	c.MessageCache = cmp.Or(c.MessageCache, DefaultMessageCacheItems)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate checks a Config that has its defaults.
func (c Config) validate() error {
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"Lease", c.Lease}, {"RetryAfterCap", c.RetryAfterCap}, {"HealthSpan", c.HealthSpan},
		{"HealthWriteEvery", c.HealthWriteEvery},
		{"IdleMax", c.IdleMax}, {"ReclaimEvery", c.ReclaimEvery}, {"ShutdownTimeout", c.ShutdownTimeout},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s %v is negative", ErrConfig, f.name, f.v)
		}
	}
	switch {
	case c.Workers < 1:
		return fmt.Errorf("%w: Workers %d is below 1", ErrConfig, c.Workers)
	case c.ClaimBatch < 1:
		return fmt.Errorf("%w: ClaimBatch %d is below 1", ErrConfig, c.ClaimBatch)
	case c.ResponseLimit < 0 || c.ResponseKeep < 0:
		return fmt.Errorf("%w: ResponseLimit and ResponseKeep must not be negative", ErrConfig)
	case int64(c.ResponseKeep) > c.ResponseLimit:
		return fmt.Errorf("%w: ResponseKeep %d exceeds ResponseLimit %d", ErrConfig, c.ResponseKeep, c.ResponseLimit)
	}
	return c.Retry.validate()
}

// maxInFlight is the ClaimOptions form of MaxInFlightPerEndpoint: 0 for unlimited.
func (c Config) maxInFlight() int { return max(c.MaxInFlightPerEndpoint, 0) }

// limitCap is the cap of an endpoint's adaptive limit: MaxInFlightPerEndpoint, or Workers when that is unlimited.
func (c Config) limitCap() int {
	if c.MaxInFlightPerEndpoint > 0 {
		return min(c.MaxInFlightPerEndpoint, c.Workers)
	}
	return c.Workers
}

// attemptTimeout is the deadline of one attempt to an endpoint that asks for d.
func (c Config) attemptTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		d = DefaultEndpointTimeout
	}
	return min(d, MaxEndpointTimeout, c.Lease/2)
}
