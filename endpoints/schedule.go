package endpoints

import (
	"cmp"
	"time"
)

// MaxRetries is the most retries any endpoint's schedule may have, whatever the operator allows.
const MaxRetries = 10

// Defaults of RetryLimits.
const (
	DefaultMinRetryInitial = 100 * time.Millisecond
	DefaultMaxRetryCap     = 24 * time.Hour
)

// RetryLimits are the operator's bounds on the retry schedule an endpoint may set. Zero fields take their defaults.
type RetryLimits struct {
	// MaxRetries bounds Endpoint.Retries, at most MaxRetries (the default).
	MaxRetries int
	// MinInitial is the shortest first wait an endpoint may ask for. Defaults to 100ms.
	MinInitial time.Duration
	// MaxCap is the longest wait (RetryInitial and RetryCap) an endpoint may ask for. Defaults to 24h.
	MaxCap time.Duration
}

func (l RetryLimits) withDefaults() RetryLimits {
	l.MaxRetries = cmp.Or(l.MaxRetries, MaxRetries)
	l.MaxRetries = min(max(l.MaxRetries, 0), MaxRetries)
	l.MinInitial = cmp.Or(l.MinInitial, DefaultMinRetryInitial)
	l.MaxCap = max(cmp.Or(l.MaxCap, DefaultMaxRetryCap), l.MinInitial)
	return l
}

// Validate checks e's schedule overrides against the limits: a *FieldError (ErrInvalid) for the first out of bounds.
func (l RetryLimits) Validate(e *Endpoint) error {
	l = l.withDefaults()
	if e.Retries != nil && (*e.Retries < 0 || *e.Retries > l.MaxRetries) {
		return fieldErr("retries", "must be 0 to %d, got %d", l.MaxRetries, *e.Retries)
	}
	if d := e.RetryInitial; d != 0 && (d < l.MinInitial || d > l.MaxCap) {
		return fieldErr("retry_initial", "must be %v to %v, got %v", l.MinInitial, l.MaxCap, d)
	}
	if d := e.RetryCap; d != 0 && (d < l.MinInitial || d > l.MaxCap) {
		return fieldErr("retry_cap", "must be %v to %v, got %v", l.MinInitial, l.MaxCap, d)
	}
	if e.RetryCap != 0 && e.RetryInitial > e.RetryCap {
		return fieldErr("retry_cap", "must not be below retry_initial %v, got %v", e.RetryInitial, e.RetryCap)
	}
	return nil
}

// applySchedule applies the schedule fields of an update to e.
func applySchedule(e *Endpoint, in UpdateInput) {
	if in.Retries != nil {
		e.Retries = nil
		if *in.Retries >= 0 {
			e.Retries = cloneInt(in.Retries)
		}
	}
	if in.RetryInitial != nil {
		e.RetryInitial = *in.RetryInitial
	}
	if in.RetryCap != nil {
		e.RetryCap = *in.RetryCap
	}
}

func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
