// Package endpoints owns the endpoint registry: what an endpoint is, the rules it must meet (URL policy, handshake,
// event filters, custom headers, keys and their rotation), and the Store it is kept in.
package endpoints

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Errors for callers to test with errors.Is.
var (
	ErrNotFound = errors.New("endpoint not found")
	ErrInvalid  = errors.New("invalid endpoint")
	// ErrConflict is returned by Store.UpdateEndpoint when the stored record's Version is not the one the caller
	// read: another write came in between. Read again and reapply the change.
	ErrConflict = errors.New("endpoint changed concurrently")
)

// Key is one signing key of an endpoint. Secret is the private material in the profile's form (whsec_/whsk_ for
// standard, the raw string for openmdm, hex for mender); it is never returned by get or list.
type Key struct {
	Secret    string    `json:"-"`
	Public    string    `json:"public_key,omitempty"` // whpk_ for ed25519 keys
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for the current key; a rotated-out key keeps signing beside the new one until then.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Endpoint is a URL a tenant registered to receive events.
type Endpoint struct {
	ID          string            `json:"id"`
	TenantID    string            `json:"tenant_id"`
	URL         string            `json:"url"`
	Description string            `json:"description"`
	Events      []string          `json:"events"`     // exact types, "*", or "prefix.*"
	Profile     string            `json:"profile"`    // a name registered in package profiles
	Algorithm   string            `json:"signing"`    // hmac or ed25519
	Keys        []Key             `json:"keys"`       // newest first
	Headers     map[string]string `json:"headers"`    // custom request headers
	RateLimit   float64           `json:"rate_limit"` // deliveries per second; 0 means unlimited
	Timeout     time.Duration     `json:"timeout"`    // per attempt; Defaults to 1s, at most 30s
	// TracePropagate, when set, decides whether attempts carry their W3C traceparent to this endpoint, overriding
	// the operator's choice (--trace-propagate); nil keeps it.
	TracePropagate *bool             `json:"trace_propagate,omitempty"`
	Metadata       map[string]string `json:"metadata"`
	Disabled       bool              `json:"disabled"`
	// DisabledReason says why: "manual", "gone" (the receiver answered 410), "failing" (health span exceeded),
	// "handshake" (failed the periodic re-check, recheck.go).
	DisabledReason string `json:"disabled_reason,omitempty"`
	// FailingSince is the first failure after the last success; zero while healthy.
	FailingSince time.Time `json:"failing_since,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Version counts the writes to the stored record: every store write (create, update, health) bumps it, and
	// UpdateEndpoint writes only over the version the caller read, so that no concurrent write is lost.
	Version int64 `json:"version,omitempty"`
	// URLRefused is why the URL policy in force refuses URL (an http URL once plain http is no longer allowed, an
	// address the policy now refuses), though it was accepted when registered: the Service's reads set it, it is
	// never stored. Every delivery attempt to such an endpoint fails with the same rule.
	URLRefused string `json:"-"`
	// Kind is KindEvents ("" in older records) or KindCalls (kind.go); it is set at creation and never changes.
	Kind string `json:"kind,omitempty"`
	// Calls holds the settings of a calls endpoint (error tags, response schemas); nil for an events endpoint.
	Calls *CallSettings `json:"calls,omitempty"`

	// Retries, RetryInitial and RetryCap override the engine's retry schedule for this endpoint (schedule.go): nil
	// and zero keep the engine's (5 retries, 1s doubling, capped at 1h).
	Retries      *int          `json:"retries,omitempty"`
	RetryInitial time.Duration `json:"retry_initial,omitempty"`
	RetryCap     time.Duration `json:"retry_cap,omitempty"`
	// HandshakeFailures counts the periodic re-checks (recheck.go) failed in a row since the last that passed;
	// HandshakeError is the last failure, HandshakeCheckedAt the last re-check. A passing re-check clears the first two.
	HandshakeFailures  int       `json:"handshake_failures,omitempty"`
	HandshakeError     string    `json:"handshake_error,omitempty"`
	HandshakeCheckedAt time.Time `json:"handshake_checked_at,omitzero"`

	// OrderingOnFailure is OrderingBlock or "" (OrderingSkip): see ordering.go.
	OrderingOnFailure string `json:"ordering_on_failure,omitempty"`
}

// SigningKeys returns the secrets that sign at now: the current key and rotated keys not yet expired, newest first.
func (e *Endpoint) SigningKeys(now time.Time) []string {
	out := make([]string, 0, len(e.Keys))
	for _, k := range e.Keys {
		if k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt) {
			out = append(out, k.Secret)
		}
	}
	return out
}

// Accepts reports whether the endpoint's filters select an event type: "*" selects all, "device.*" selects every
// type under device (device.enrolled, device.status.changed) but not "device" itself, and other filters match exactly.
func (e *Endpoint) Accepts(eventType string) bool {
	if e.Kind == KindCalls {
		return false // a calls endpoint receives no events
	}
	return MatchAny(e.Events, eventType)
}

// MatchAny reports whether any filter selects eventType.
func MatchAny(filters []string, eventType string) bool {
	for _, f := range filters {
		switch {
		case f == "*" || f == eventType:
			return true
		case strings.HasSuffix(f, ".*"):
			p := f[:len(f)-1] // keep the dot
			if len(eventType) > len(p) && strings.HasPrefix(eventType, p) {
				return true
			}
		}
	}
	return false
}

// Store persists endpoints. Every call is scoped by tenant: an endpoint of another tenant is ErrNotFound. Lists are
// in ascending id order (ids sort by creation time), after the cursor "after" ("" for the first page), at most limit.
type Store interface {
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	GetEndpoint(ctx context.Context, tenantID, id string) (*Endpoint, error)
	ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*Endpoint, error)
	// UpdateEndpoint replaces the stored record (ErrNotFound if absent) when its Version is still e.Version, and
	// then sets e.Version to the new one; ErrConflict when another write came in between. SetEndpointHealth bumps
	// the stored Version too.
	UpdateEndpoint(ctx context.Context, e *Endpoint) error
	DeleteEndpoint(ctx context.Context, tenantID, id string) error
	// SetEndpointHealth records a health transition without rewriting the rest of the record: failingSince (zero when
	// healthy) and, when disable is true, Disabled with reason and UpdatedAt the store's clock.
	SetEndpointHealth(ctx context.Context, tenantID, id string, failingSince time.Time, disable bool, reason string) error
}
