package tenants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/internal/ids"
)

// ErrInvalid is matched by every validation error of this package (each a *FieldError).
var ErrInvalid = errors.New("invalid tenant")

// FieldError is a validation failure of one input field; it matches ErrInvalid with errors.Is.
type FieldError struct {
	Field   string // the JSON field name, e.g. "name"
	Message string
}

func (e *FieldError) Error() string { return "invalid tenant: " + e.Field + ": " + e.Message }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Limits and token format.
const (
	MaxName = 200 // bytes of a tenant or token name

	// TokenPrefix starts every tenant token; the rest is the unpadded base64url form of 32 random bytes.
	TokenPrefix = "wht_"
	tokenBytes  = 32
)

var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// AllowDeletion lets Delete delete tenants; without it Delete answers ErrDeletionDisabled.
	AllowDeletion bool
	// Logger hears of the reaper's work. Defaults to slog.Default().
	Logger *slog.Logger
	// RetentionMin and RetentionMax bound a tenant's own retention period (retention.go). They default to
	// DefaultRetentionMin and DefaultRetentionMax.
	RetentionMin, RetentionMax time.Duration
}

// Service creates tenants, issues and revokes their tokens, and authenticates requests.
type Service struct {
	store Store
	now   func() time.Time

	allowDeletion  bool
	log            *slog.Logger
	retMin, retMax time.Duration
	kick           chan struct{} // wakes the reaper (RunReaper)

	// known holds ids of tenants seen to exist, for Exists, with when they were seen (Unix ns); an entry is trusted
	// for knownFor (another replica may have deleted the tenant since). At most maxKnown are kept.
	known  sync.Map
	nKnown atomic.Int64
}

// maxKnown bounds the tenant ids Exists remembers; knownFor is how long it trusts one.
const (
	maxKnown = 100_000
	knownFor = 10 * time.Second
)

// NewService returns a Service over store.
func NewService(store Store, cfg ServiceConfig) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetentionMin <= 0 {
		cfg.RetentionMin = DefaultRetentionMin
	}
	if cfg.RetentionMax <= 0 {
		cfg.RetentionMax = DefaultRetentionMax
	}
	return &Service{store: store, now: cfg.Now, allowDeletion: cfg.AllowDeletion, log: cfg.Logger,
		kick: make(chan struct{}, 1), retMin: cfg.RetentionMin, retMax: cfg.RetentionMax}
}

// CreateInput describes a new tenant.
type CreateInput struct {
	ID   string // optional; generated ("ten_…") when empty; otherwise 1 to 64 of [A-Za-z0-9_-]
	Name string // required, at most MaxName bytes
	// Retention is the tenant's own retention period; 0 for the operator's default (SetRetention).
	Retention time.Duration
}

// Create stores a new tenant. A taken id is ErrExists.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Tenant, error) {
	id := in.ID
	if id == "" {
		id = ids.New("ten")
	} else if !ids.Valid(id) {
		return nil, &FieldError{Field: "id", Message: "must be 1 to 64 of [A-Za-z0-9_-]"}
	}
	if err := validName("name", in.Name, true); err != nil {
		return nil, err
	}
	if err := s.checkRetention(in.Retention); err != nil {
		return nil, err
	}
	t := &Tenant{ID: id, Name: in.Name, CreatedAt: s.now().UTC(), Retention: in.Retention}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return nil, fmt.Errorf("create tenant %s: %w", id, err)
	}
	return t, nil
}

// Get returns a tenant, or ErrNotFound (also for a tenant being deleted).
func (s *Service) Get(ctx context.Context, id string) (*Tenant, error) {
	t, err := s.store.GetTenant(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get tenant %s: %w", id, err)
	}
	if t.Deleting() {
		return nil, fmt.Errorf("get tenant %s: being deleted: %w", id, ErrNotFound)
	}
	return t, nil
}

// Exists returns nil when the tenant exists (and is not being deleted), else an error matching ErrNotFound (or the
// store's error). A tenant once seen is remembered for a few seconds, so the operator's calls on a tenant's routes
// seldom cost a store read.
func (s *Service) Exists(ctx context.Context, id string) error {
	if v, ok := s.known.Load(id); ok && s.now().UnixNano()-v.(int64) < int64(knownFor) {
		return nil
	}
	if _, err := s.Get(ctx, id); err != nil {
		s.forget(id)
		return err
	}
	if _, loaded := s.known.Swap(id, s.now().UnixNano()); !loaded && s.nKnown.Add(1) > maxKnown {
		s.known.Delete(id)
		s.nKnown.Add(-1)
	}
	return nil
}

// List returns up to limit tenants after the cursor after ("" for the first page), and the cursor of the next page
// ("" when this is the last).
func (s *Service) List(ctx context.Context, after string, limit int) ([]*Tenant, string, error) {
	limit = max(limit, 1)
	ts, err := s.store.ListTenants(ctx, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list tenants: %w", err)
	}
	next := ""
	if len(ts) > limit {
		ts = ts[:limit]
		next = ts[limit-1].ID
	}
	return ts, next, nil
}

// IssueToken makes a new token for a tenant and returns its record and its text. The text is returned only here: the
// store keeps its SHA-256 hash.
func (s *Service) IssueToken(ctx context.Context, tenantID, name string) (*Token, string, error) {
	if err := validName("name", name, false); err != nil {
		return nil, "", err
	}
	if _, err := s.Get(ctx, tenantID); err != nil {
		return nil, "", err
	}
	raw := make([]byte, tokenBytes)
	rand.Read(raw)
	text := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t := &Token{
		ID:        ids.New("tok"),
		TenantID:  tenantID,
		Name:      name,
		Hash:      sha256.Sum256([]byte(text)),
		CreatedAt: s.now().UTC(),
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return nil, "", fmt.Errorf("create token: %w", err)
	}
	return t, text, nil
}

// ListTokens returns a tenant's tokens, revoked ones included.
func (s *Service) ListTokens(ctx context.Context, tenantID string) ([]*Token, error) {
	ts, err := s.store.ListTokens(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken revokes one of a tenant's tokens; a token of another tenant is ErrNotFound.
func (s *Service) RevokeToken(ctx context.Context, tenantID, tokenID string) error {
	if err := s.store.RevokeToken(ctx, tenantID, tokenID, s.now().UTC()); err != nil {
		return fmt.Errorf("revoke token %s: %w", tokenID, err)
	}
	return nil
}

// Authenticate returns the live token whose text is token, or an error matching ErrToken for a malformed, unknown or
// revoked one. Lookup is by hash, so the comparison does not depend on the text.
func (s *Service) Authenticate(ctx context.Context, token string) (*Token, error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return nil, ErrToken
	}
	t, err := s.store.TokenByHash(ctx, sha256.Sum256([]byte(token)))
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !t.RevokedAt.IsZero() {
		return nil, ErrToken
	}
	return t, nil
}

func validName(field, s string, required bool) error {
	switch {
	case strings.TrimSpace(s) == "" && required:
		return &FieldError{Field: field, Message: "is required"}
	case len(s) > MaxName:
		return &FieldError{Field: field, Message: fmt.Sprintf("at most %d bytes, got %d", MaxName, len(s))}
	case !utf8.ValidString(s):
		return &FieldError{Field: field, Message: "not valid UTF-8"}
	}
	return nil
}

// forget drops a tenant from what Exists remembers.
func (s *Service) forget(id string) {
	if _, ok := s.known.LoadAndDelete(id); ok {
		s.nKnown.Add(-1)
	}
}
