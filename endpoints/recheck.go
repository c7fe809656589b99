package endpoints

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"time"
)

// ReasonHandshake is the DisabledReason of an endpoint the re-check disabled.
const ReasonHandshake = "handshake"

// Defaults of RecheckConfig.
const (
	DefaultRecheckEvery   = 24 * time.Hour
	DefaultRecheckPerHost = time.Second
	DefaultRecheckDisable = 3
)

// RecheckConfig configures a Rechecker.
type RecheckConfig struct {
	// Every is the time between two rounds, moved at random by up to a tenth either way. Defaults to 24h.
	Every time.Duration
	// PerHost is the least time between two checks of endpoints on the same host. Defaults to 1s.
	PerHost time.Duration
	// DisableAfter is how many failed re-checks in a row disable an endpoint (reason "handshake"); negative: never.
	// Defaults to 3.
	DisableAfter int
	// Tenants lists the ids of every tenant whose endpoints are re-checked. Required.
	Tenants func(ctx context.Context) ([]string, error)
	// OnFailure, if set, hears of every failed re-check, after the endpoint's record is updated (ep as stored;
	// ep.Disabled when this failure disabled it).
	OnFailure func(ctx context.Context, ep *Endpoint, err error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Rechecker re-runs the URL checks (policy, address, OPTIONS handshake) of every enabled events endpoint on a
// schedule, so that an endpoint that was safe when registered is seen when it stops being so. Each result is recorded
// on the endpoint (HandshakeFailures, HandshakeError, HandshakeCheckedAt). One runs per process; replicas sharing a
// store each re-check every endpoint, so run it on one (or give the others a negative Every).
type Rechecker struct {
	s   *Service
	cfg RecheckConfig
}

// NewRechecker returns a Rechecker over s.
func (s *Service) NewRechecker(cfg RecheckConfig) *Rechecker {
	cfg.Every = cmp.Or(cfg.Every, DefaultRecheckEvery)
	cfg.PerHost = cmp.Or(cfg.PerHost, DefaultRecheckPerHost)
	cfg.DisableAfter = cmp.Or(cfg.DisableAfter, DefaultRecheckDisable)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Rechecker{s: s, cfg: cfg}
}

// Run runs a round after a jittered Every, and again every jittered Every, until ctx ends; it returns nil. A
// negative Every makes it return at once.
func (r *Rechecker) Run(ctx context.Context) error {
	if r.cfg.Every < 0 || r.cfg.Tenants == nil {
		return nil
	}
	for {
		d := time.Duration(float64(r.cfg.Every) * (0.9 + 0.2*rand.Float64()))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		checked, failed := r.CheckOnce(ctx)
		r.cfg.Logger.Info("endpoints re-checked", "checked", checked, "failed", failed)
	}
}

// CheckOnce re-checks every enabled events endpoint once, waiting PerHost between two endpoints on one host, and
// returns how many it checked and how many failed.
func (r *Rechecker) CheckOnce(ctx context.Context) (checked, failed int) {
	tenants, err := r.cfg.Tenants(ctx)
	if err != nil {
		r.cfg.Logger.Error("endpoints re-check: list tenants", "err", err)
		return 0, 0
	}
	last := map[string]time.Time{} // host → when it was last checked
	for _, tenant := range tenants {
		after := ""
		for ctx.Err() == nil {
			page, err := r.s.store.ListEndpoints(ctx, tenant, after, 100)
			if err != nil {
				r.cfg.Logger.Error("endpoints re-check: list endpoints", "tenant", tenant, "err", err)
				break
			}
			for _, ep := range page {
				if ep.Disabled || ep.IsCalls() {
					continue
				}
				host := ""
				if u, err := url.Parse(ep.URL); err == nil {
					host = u.Host
				}
				if wait := time.Until(last[host].Add(r.cfg.PerHost)); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-ctx.Done():
						t.Stop()
						return checked, failed
					case <-t.C:
					}
				}
				last[host] = time.Now()
				checked++
				if r.check(ctx, ep) != nil {
					failed++
				}
			}
			if len(page) < 100 {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return checked, failed
}

var errSkip = errors.New("skip")

// check re-checks one endpoint and records the result; it returns the check's error.
func (r *Rechecker) check(ctx context.Context, ep *Endpoint) error {
	cerr := r.s.CheckURL(ctx, ep.URL)
	if ctx.Err() != nil {
		return nil // shutting down: no verdict
	}
	saved, err := r.s.modify(ctx, ep.TenantID, ep.ID, func(cur *Endpoint, now time.Time) (*Endpoint, error) {
		if cur.Disabled || cur.URL != ep.URL {
			return nil, errSkip // disabled or changed meanwhile: this result is moot
		}
		e := clone(cur)
		e.HandshakeCheckedAt = now
		if cerr == nil {
			if e.HandshakeFailures == 0 && e.HandshakeError == "" && !cur.HandshakeCheckedAt.IsZero() {
				return nil, errSkip // nothing to record but the time: spare the write
			}
			e.HandshakeFailures, e.HandshakeError = 0, ""
			return e, nil
		}
		e.HandshakeFailures++
		e.HandshakeError = clip(cerr.Error())
		if r.cfg.DisableAfter > 0 && e.HandshakeFailures >= r.cfg.DisableAfter {
			e.Disabled, e.DisabledReason = true, ReasonHandshake
		}
		return e, nil
	})
	switch {
	case errors.Is(err, errSkip):
		return cerr
	case err != nil:
		r.cfg.Logger.Error("endpoints re-check: record", "tenant", ep.TenantID, "endpoint_id", ep.ID, "err", err)
		return cerr
	}
	if cerr != nil {
		r.cfg.Logger.Warn("endpoint re-check failed", "tenant", ep.TenantID, "endpoint_id", ep.ID,
			"failures", saved.HandshakeFailures, "disabled", saved.Disabled, "err", cerr)
		if r.cfg.OnFailure != nil {
			r.cfg.OnFailure(ctx, saved, cerr)
		}
	}
	return cerr
}
