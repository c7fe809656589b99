package endpoints

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// Config configures a Service. The zero value is usable: https URLs on public addresses only.
type Config struct {
	// Policy decides which URLs may be registered. Defaults to the zero egress.Policy (https only, public addresses).
	Policy egress.Policy
	// Client sends the OPTIONS handshake. Defaults to egress.NewClient with Policy.
	Client *http.Client
	// HandshakeTimeout bounds the OPTIONS handshake. Defaults to 1s.
	HandshakeTimeout time.Duration
	// RotationGrace is how long a rotated-out key keeps signing when a rotation names no grace. Defaults to 24h.
	RotationGrace time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// RetryLimits bound the retry schedule an endpoint may set (schedule.go); zero fields take their defaults.
	RetryLimits RetryLimits
}

// Service applies the endpoint rules on top of a Store: validation, the URL policy and handshake, key generation and
// rotation. Every method is scoped by tenant; another tenant's endpoint is ErrNotFound.
type Service struct {
	store Store
	cfg   Config
}

// NewService returns a Service over store.
func NewService(store Store, cfg Config) *Service {
	if cfg.Client == nil {
		cfg.Client = egress.NewClient(egress.ClientConfig{Policy: cfg.Policy})
	}
	cfg.HandshakeTimeout = cmp.Or(cfg.HandshakeTimeout, time.Second)
	cfg.RotationGrace = cmp.Or(cfg.RotationGrace, 24*time.Hour)
	cfg.RetryLimits = cfg.RetryLimits.withDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: store, cfg: cfg}
}

// CreateInput describes a new endpoint. Zero fields take their defaults.
type CreateInput struct {
	URL         string            // required; must pass the URL policy and the OPTIONS handshake
	Description string            // at most MaxDescription bytes
	Events      []string          // filters; nil means ["*"]
	Profile     string            // a registered profile name (package profiles); "" means standard
	Signing     string            // hmac or ed25519; "" means the profile's default, or the algorithm of Secret
	Secret      string            // the signing key in the profile's form; "" means generate one
	Headers     map[string]string // custom request headers; see ValidateHeaders
	RateLimit   float64           // deliveries per second; 0 means unlimited
	Timeout     time.Duration     // per attempt; 0 means DefaultTimeout
	// TracePropagate overrides the operator's trace propagation for this endpoint; nil keeps it.
	TracePropagate *bool
	Metadata       map[string]string // free-form, see ValidateMetadata
	// Kind is KindEvents ("" means events) or KindCalls. A calls endpoint takes no event filters (Events must be
	// empty), signs under the standard profile, and URL is the base its call paths are appended to.
	Kind  string
	Calls *CallSettings // calls endpoints only: error tags and response schemas
	// Retries (0 to RetryLimits.MaxRetries), RetryInitial and RetryCap override the engine's retry schedule; nil and
	// zero keep it.
	Retries      *int
	RetryInitial time.Duration
	RetryCap     time.Duration

	// OrderingOnFailure is "skip" (or "", the default) or "block" (ordering.go).
	OrderingOnFailure string
}

// UpdateInput changes an endpoint, PATCH style: a nil field is left as it is.
type UpdateInput struct {
	URL         *string // re-checked with the URL policy and the handshake; on failure the old URL stays
	Description *string
	Events      *[]string
	// Profile and Signing change the signing scheme. A change of Signing within a profile (hmac to ed25519 or back)
	// is a rotation across schemes: Secret, or a generated key, becomes current and the old keys keep signing beside
	// it for Grace, so receivers see both signatures (v1 and v1a under standard) and can move over without
	// downtime. A change of Profile keeps the current keys when the new profile can sign with them, and otherwise
	// replaces them at once with Secret or a generated key: keys the new profile cannot use are dropped.
	Profile *string
	Signing *string
	Secret  *string // only with a change of Profile or Signing; use Rotate to change the key of a scheme
	// Grace is how long the current key keeps signing after a change of Signing; nil means Config.RotationGrace, 0
	// drops it at once. Keys rotated out before keep their own expiry, as with Rotate.
	Grace     *time.Duration
	Headers   *map[string]string
	RateLimit *float64
	Timeout   *time.Duration // 0 means DefaultTimeout
	// TracePropagate sets the endpoint's own trace propagation choice.
	TracePropagate *bool
	Metadata       *map[string]string
	Calls          *CallSettings // calls endpoints only; replaces the settings as a whole
	// Retries, RetryInitial and RetryCap change the retry schedule; a negative Retries or a zero duration goes back
	// to the engine's.
	Retries      *int
	RetryInitial *time.Duration
	RetryCap     *time.Duration

	// OrderingOnFailure is "skip" or "block" (ordering.go).
	OrderingOnFailure *string
}

// RotateInput describes a key rotation.
type RotateInput struct {
	Secret string         // the new key in the profile's form; "" means generate one
	Grace  *time.Duration // how long the old key keeps signing; nil means Config.RotationGrace, 0 stops it at once
}

// Create validates in, checks the URL (policy, then handshake) and stores a new endpoint with a fresh or given key.
// Nothing is stored when any check fails.
func (s *Service) Create(ctx context.Context, tenantID string, in CreateInput) (*Endpoint, error) {
	now := s.cfg.Now().UTC()
	e := &Endpoint{
		ID:          ids.New("ep"),
		TenantID:    tenantID,
		URL:         in.URL,
		Description: in.Description,
		Events:      slices.Clone(in.Events),
		Headers:     copyMap(in.Headers),
		RateLimit:   in.RateLimit,
		Timeout:     cmp.Or(in.Timeout, DefaultTimeout),
		Metadata:    copyMap(in.Metadata),

		TracePropagate: cloneBool(in.TracePropagate),
		CreatedAt:      now,
		UpdatedAt:      now,

		Retries:      cloneInt(in.Retries),
		RetryInitial: in.RetryInitial,
		RetryCap:     in.RetryCap,
	}
	if err := setKind(e, in); err != nil {
		return nil, err
	}
	var err error
	if e.OrderingOnFailure, err = orderingOnFailure(in.OrderingOnFailure); err != nil {
		return nil, err
	}
	if err := s.cfg.RetryLimits.Validate(e); err != nil {
		return nil, err
	}
	if e.Events == nil && !e.IsCalls() {
		e.Events = []string{"*"}
	}
	if err := validateFields(e); err != nil {
		return nil, err
	}
	p, err := profileByName(in.Profile)
	if err != nil {
		return nil, err
	}
	algName := in.Signing
	if algName == "" && in.Secret != "" {
		if k, err := p.ParseKey(in.Secret); err == nil {
			algName = k.Algorithm().String() // a whsk_ secret implies ed25519
		}
	}
	alg, err := algorithmFor(p, algName)
	if err != nil {
		return nil, err
	}
	if err := checkCallsProfile(e, p); err != nil {
		return nil, err
	}
	key, err := newKey(p, alg, in.Secret, now)
	if err != nil {
		return nil, err
	}
	e.Profile, e.Algorithm, e.Keys = p.Name(), alg.String(), []Key{key}
	if err := s.CheckURL(ctx, e.URL); err != nil {
		return nil, err
	}
	if err := s.store.CreateEndpoint(ctx, e); err != nil {
		return nil, fmt.Errorf("create endpoint: %w", err)
	}
	return s.annotate(e), nil
}

// Get returns one endpoint.
func (s *Service) Get(ctx context.Context, tenantID, id string) (*Endpoint, error) {
	e, err := s.store.GetEndpoint(ctx, tenantID, id)
	if err != nil {
		return nil, fmt.Errorf("get endpoint %s: %w", id, err)
	}
	return s.annotate(e), nil
}

// annotate sets e.URLRefused from the URL policy in force: the rules of CheckURL that need no I/O (syntax, scheme,
// an IP literal's address). A name is not resolved here; the dialler checks its addresses on every attempt.
func (s *Service) annotate(e *Endpoint) *Endpoint {
	e.URLRefused = ""
	u, err := s.cfg.Policy.CheckURL(e.URL)
	if err == nil {
		if a, perr := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); perr == nil {
			err = s.cfg.Policy.Allowed(a)
		}
	}
	if err != nil {
		e.URLRefused = err.Error() + "; every delivery attempt fails"
	}
	return e
}

// List returns up to limit endpoints after the cursor after ("" for the first page), and the cursor of the next page
// ("" when this is the last).
func (s *Service) List(ctx context.Context, tenantID, after string, limit int) ([]*Endpoint, string, error) {
	limit = max(limit, 1)
	es, err := s.store.ListEndpoints(ctx, tenantID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list endpoints: %w", err)
	}
	next := ""
	if len(es) > limit {
		es = es[:limit]
		next = es[limit-1].ID
	}
	for _, e := range es {
		s.annotate(e)
	}
	return es, next, nil
}

// Update applies the non-nil fields of in. A new URL must pass the URL policy and the handshake before anything is
// written; on any error the endpoint is unchanged.
func (s *Service) Update(ctx context.Context, tenantID, id string, in UpdateInput) (*Endpoint, error) {
	checked := "" // a URL that passed CheckURL, not checked again when a conflict makes the change run again
	return s.modify(ctx, tenantID, id, func(cur *Endpoint, now time.Time) (*Endpoint, error) {
		e := clone(cur)
		if in.URL != nil {
			e.URL = *in.URL
		}
		if in.Description != nil {
			e.Description = *in.Description
		}
		if in.Events != nil {
			e.Events = slices.Clone(*in.Events)
		}
		if in.Headers != nil {
			e.Headers = copyMap(*in.Headers)
		}
		if in.RateLimit != nil {
			e.RateLimit = *in.RateLimit
		}
		if in.Timeout != nil {
			e.Timeout = cmp.Or(*in.Timeout, DefaultTimeout)
		}
		if in.TracePropagate != nil {
			e.TracePropagate = cloneBool(in.TracePropagate)
		}
		if in.Metadata != nil {
			e.Metadata = copyMap(*in.Metadata)
		}
		if err := updateCalls(e, in); err != nil {
			return nil, err
		}
		applySchedule(e, in)
		if in.OrderingOnFailure != nil {
			oof, err := orderingOnFailure(*in.OrderingOnFailure)
			if err != nil {
				return nil, err
			}
			e.OrderingOnFailure = oof
		}
		if err := s.cfg.RetryLimits.Validate(e); err != nil {
			return nil, err
		}
		if err := validateFields(e); err != nil {
			return nil, err
		}
		if err := s.changeScheme(e, in, now); err != nil {
			return nil, err
		}
		if e.URL != cur.URL && e.URL != checked {
			if err := s.CheckURL(ctx, e.URL); err != nil {
				return nil, err
			}
			checked = e.URL
		}
		return e, nil
	})
}

// maxConflicts bounds how many times modify reapplies a change that lost a race with another write.
const maxConflicts = 64

// modify is a conditional read-modify-write of one endpoint: it reads the endpoint, lets change build the new record
// from it (change must not alter cur), and writes it over the version it read. When another write (a health change
// by the engine, another API call) came in between, the store answers ErrConflict and modify starts again from a
// fresh read, so that no write is lost.
func (s *Service) modify(ctx context.Context, tenantID, id string, change func(cur *Endpoint, now time.Time) (*Endpoint, error)) (*Endpoint, error) {
	for try := 0; ; try++ {
		cur, err := s.Get(ctx, tenantID, id)
		if err != nil {
			return nil, err
		}
		now := s.cfg.Now().UTC()
		e, err := change(cur, now)
		if err != nil {
			return nil, err
		}
		e, err = s.save(ctx, e, now)
		if errors.Is(err, ErrConflict) && try < maxConflicts {
			// Back off a little, more after each loss, so that a burst of writes to the endpoint lets this one in.
			t := time.NewTimer(time.Duration(rand.Int64N(int64(min(try+1, 20)) * int64(100*time.Microsecond))))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			continue
		}
		return e, err
	}
}

// changeScheme applies in.Profile, in.Signing, in.Secret and in.Grace to e (see UpdateInput).
func (s *Service) changeScheme(e *Endpoint, in UpdateInput, now time.Time) error {
	profile, algName := e.Profile, e.Algorithm
	if in.Profile != nil {
		profile = *in.Profile
	}
	if in.Signing != nil {
		algName = *in.Signing
	}
	p, err := profileByName(profile)
	if err != nil {
		return err
	}
	alg, err := algorithmFor(p, algName)
	if err != nil {
		return err
	}
	if err := checkCallsProfile(e, p); err != nil {
		return err
	}
	grace := s.cfg.RotationGrace
	if in.Grace != nil {
		if err := ValidateGrace(*in.Grace); err != nil {
			return err
		}
		grace = *in.Grace
	}
	if p.Name() == e.Profile && alg.String() == e.Algorithm {
		if in.Secret != nil {
			return fieldErr("secret", "can only be given with a change of profile or signing; rotate the key instead")
		}
		return nil
	}
	sameProfile := p.Name() == e.Profile
	e.Profile, e.Algorithm = p.Name(), alg.String()
	secret := ""
	if in.Secret != nil {
		secret = *in.Secret
	}
	if sameProfile {
		// A rotation across schemes: every key stays parseable by the profile, each by its own algorithm.
		k, err := newKey(p, alg, secret, now)
		if err != nil {
			return err
		}
		e.Keys = rotate(e.Keys, k, now, grace)
		return nil
	}
	if in.Secret == nil && len(e.Keys) > 0 {
		if _, err := parseSecret(p, alg, e.Keys[0].Secret); err == nil {
			// The current key still works: keep every key the new scheme accepts.
			e.Keys = slices.DeleteFunc(e.Keys, func(k Key) bool {
				_, err := parseSecret(p, alg, k.Secret)
				return err != nil
			})
			return nil
		}
	}
	k, err := newKey(p, alg, secret, now)
	if err != nil {
		return err
	}
	e.Keys = []Key{k}
	return nil
}

// Delete removes an endpoint.
func (s *Service) Delete(ctx context.Context, tenantID, id string) error {
	if err := s.store.DeleteEndpoint(ctx, tenantID, id); err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	return nil
}

// Enable turns deliveries back on. Since the endpoint may have been disabled because its receiver went away, the URL
// is checked again (policy and handshake) first; the health record is reset.
func (s *Service) Enable(ctx context.Context, tenantID, id string) (*Endpoint, error) {
	checked := false
	return s.modify(ctx, tenantID, id, func(cur *Endpoint, _ time.Time) (*Endpoint, error) {
		if !checked {
			if err := s.CheckURL(ctx, cur.URL); err != nil {
				return nil, err
			}
			checked = true
		}
		e := clone(cur)
		e.Disabled, e.DisabledReason, e.FailingSince = false, "", time.Time{}
		return e, nil
	})
}

// Disable stops deliveries to an endpoint, with reason "manual".
func (s *Service) Disable(ctx context.Context, tenantID, id string) (*Endpoint, error) {
	return s.modify(ctx, tenantID, id, func(cur *Endpoint, _ time.Time) (*Endpoint, error) {
		e := clone(cur)
		e.Disabled, e.DisabledReason = true, "manual"
		return e, nil
	})
}

// Rotate makes a new current key (given or generated). The old current key keeps signing beside it until now+grace
// (with grace 0 it is dropped at once); keys already expired are dropped, and at most MaxKeys are kept.
func (s *Service) Rotate(ctx context.Context, tenantID, id string, in RotateInput) (*Endpoint, error) {
	grace := s.cfg.RotationGrace
	if in.Grace != nil {
		grace = *in.Grace
	}
	if err := ValidateGrace(grace); err != nil {
		return nil, err
	}
	return s.modify(ctx, tenantID, id, func(cur *Endpoint, now time.Time) (*Endpoint, error) {
		p, err := profileByName(cur.Profile)
		if err != nil {
			return nil, err
		}
		alg, err := algorithmFor(p, cur.Algorithm)
		if err != nil {
			return nil, err
		}
		k, err := newKey(p, alg, in.Secret, now)
		if err != nil {
			return nil, err
		}
		e := clone(cur)
		e.Keys = rotate(e.Keys, k, now, grace)
		return e, nil
	})
}

// rotate returns the key list after making next current at now: next first, then the keys still signing at now,
// the old current one expiring at now+grace, at most MaxKeys in all.
func rotate(keys []Key, next Key, now time.Time, grace time.Duration) []Key {
	out := []Key{next}
	for _, k := range keys {
		if k.ExpiresAt.IsZero() {
			if grace == 0 {
				continue
			}
			k.ExpiresAt = now.Add(grace)
		}
		if !now.Before(k.ExpiresAt) {
			continue // expired
		}
		out = append(out, k)
	}
	if len(out) > MaxKeys {
		out = out[:MaxKeys]
	}
	return out
}

// Reveal returns the keys that sign at the moment, newest first, with their secrets — except for ed25519 keys, whose
// private half is never returned (receivers need only the public key). After a rotation across schemes the list
// mixes both kinds; each key is judged by its own form. It is the only call that returns secrets.
func (s *Service) Reveal(ctx context.Context, tenantID, id string) ([]Key, error) {
	e, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	p, err := profileByName(e.Profile)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := make([]Key, 0, len(e.Keys))
	for _, k := range e.Keys {
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			continue
		}
		if k.Public != "" || !isHMAC(p, k.Secret) {
			k.Secret = ""
		}
		out = append(out, k)
	}
	return out, nil
}

// CheckURL applies every rule a registered URL must meet: the URL policy (syntax, scheme), the address check of its
// host, and the OPTIONS handshake (a 2xx with Allow listing POST within HandshakeTimeout). Policy failures are a
// *FieldError for "url" that also matches the egress sentinel; handshake failures are a *HandshakeError.
func (s *Service) CheckURL(ctx context.Context, raw string) error {
	if raw == "" {
		return fieldErr("url", "is required")
	}
	u, err := s.cfg.Policy.CheckURL(raw)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, egress.ErrScheme) && strings.HasPrefix(strings.ToLower(raw), "http:") {
			msg += " (a gateway run with --allow-http-endpoints accepts http)"
		}
		return &FieldError{Field: "url", Message: msg, Err: err}
	}
	if err := s.cfg.Policy.Resolve(ctx, u.Hostname()); err != nil {
		if errors.Is(err, egress.ErrForbiddenAddress) || errors.Is(err, egress.ErrURL) {
			msg := err.Error()
			if open := (egress.Policy{AllowHTTP: true, AllowPrivate: true}); errors.Is(err, egress.ErrForbiddenAddress) &&
				open.Resolve(ctx, u.Hostname()) == nil {
				msg += " (a gateway run with --allow-private-endpoints accepts it)"
			}
			return &FieldError{Field: "url", Message: msg, Err: err}
		}
		// A lookup failure: name the host but not the resolver's details.
		return &FieldError{Field: "url", Message: fmt.Sprintf("host %s does not resolve", clip(u.Hostname())), Err: err}
	}
	if err := Handshake(ctx, s.cfg.Client, raw, s.cfg.HandshakeTimeout); err != nil {
		return fmt.Errorf("endpoint URL: %w", err)
	}
	return nil
}

func (s *Service) save(ctx context.Context, e *Endpoint, now time.Time) (*Endpoint, error) {
	e.UpdatedAt = now
	if err := s.store.UpdateEndpoint(ctx, e); err != nil {
		return nil, fmt.Errorf("update endpoint %s: %w", e.ID, err)
	}
	return s.annotate(e), nil
}

// validateFields checks the fields that need no I/O and no signing scheme.
func validateFields(e *Endpoint) error {
	filters := ValidateFilters(e.Events)
	if e.IsCalls() {
		filters = ValidateCallSettings(e.Calls)
	}
	for _, err := range []error{
		ValidateDescription(e.Description),
		filters,
		ValidateHeaders(e.Headers),
		ValidateRateLimit(e.RateLimit),
		ValidateTimeout(e.Timeout),
		ValidateMetadata(e.Metadata),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// isHMAC reports whether secret parses, under p, as an HMAC key: one whose secret a receiver must hold.
func isHMAC(p profiles.Profile, secret string) bool {
	k, err := p.ParseKey(secret)
	return err == nil && k.Algorithm() == signing.HMAC
}

// newKey parses secret, or generates a key when it is empty.
func newKey(p profiles.Profile, alg signing.Algorithm, secret string, now time.Time) (Key, error) {
	if secret != "" {
		k, err := parseSecret(p, alg, secret)
		if err != nil {
			return Key{}, err
		}
		return Key{Secret: secret, Public: k.Public(), CreatedAt: now}, nil
	}
	sec, pub, err := p.GenerateKey(alg)
	if err != nil {
		return Key{}, fmt.Errorf("generate %s %s key: %w", p.Name(), alg, err)
	}
	return Key{Secret: sec, Public: pub, CreatedAt: now}, nil
}

// clone returns a deep copy of e.
func clone(e *Endpoint) *Endpoint {
	c := *e
	c.Events = slices.Clone(e.Events)
	c.Keys = slices.Clone(e.Keys)
	c.Headers = copyMap(e.Headers)
	c.Metadata = copyMap(e.Metadata)
	c.Calls = cloneCallSettings(e.Calls)
	c.Retries = cloneInt(e.Retries)
	c.TracePropagate = cloneBool(e.TracePropagate)
	return &c
}

func cloneBool(p *bool) *bool {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
