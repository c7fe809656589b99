package tenants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/webhookd/webhookd/internal/ids"
)

// Portal sessions are the console's credentials: a token for one tenant that expires within hours, can be read-only
// and can be revoked. Like API tokens they are stored as SHA-256 hashes; the text is shown once, at creation.

// Portal session errors, for callers to test with errors.Is. Both also match ErrToken.
var (
	ErrSessionExpired = fmt.Errorf("portal session expired: %w", ErrToken)
	ErrSessionRevoked = fmt.Errorf("portal session revoked: %w", ErrToken)
)

// Portal session limits and token format.
const (
	// PortalTokenPrefix starts every portal token; the rest is the unpadded base64url form of 32 random bytes.
	PortalTokenPrefix = "whp_"

	DefaultPortalTTL = time.Hour
	MaxPortalTTL     = 24 * time.Hour
)

// PortalSession is a console session as stored: its hash, never its token text.
type PortalSession struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Hash      [32]byte  `json:"-"` // SHA-256 of the token text
	ReadOnly  bool      `json:"read_only"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// PortalInput describes a new portal session.
type PortalInput struct {
	TTL      time.Duration // 0 for DefaultPortalTTL; at most MaxPortalTTL
	ReadOnly bool
}

// IsPortalToken reports whether token has the form of a portal token (not whether it is valid).
func IsPortalToken(token string) bool { return strings.HasPrefix(token, PortalTokenPrefix) }

// OpenPortal starts a portal session for a tenant and returns its record and its token text, which is returned only
// here.
func (s *Service) OpenPortal(ctx context.Context, tenantID string, in PortalInput) (*PortalSession, string, error) {
	switch {
	case in.TTL < 0:
		return nil, "", &FieldError{Field: "ttl", Message: "must not be negative"}
	case in.TTL > MaxPortalTTL:
		return nil, "", &FieldError{Field: "ttl", Message: fmt.Sprintf("at most %s", MaxPortalTTL)}
	case in.TTL == 0:
		in.TTL = DefaultPortalTTL
	}
	if err := s.Exists(ctx, tenantID); err != nil {
		return nil, "", err
	}
	raw := make([]byte, tokenBytes)
	rand.Read(raw)
	text := PortalTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := s.now().UTC()
	p := &PortalSession{
		ID:        ids.New("ps"),
		TenantID:  tenantID,
		Hash:      sha256.Sum256([]byte(text)),
		ReadOnly:  in.ReadOnly,
		CreatedAt: now,
		ExpiresAt: now.Add(in.TTL),
	}
	if err := s.store.CreatePortalSession(ctx, p); err != nil {
		return nil, "", fmt.Errorf("create portal session: %w", err)
	}
	return p, text, nil
}

// AuthenticatePortal returns the live portal session whose token is token. A malformed or unknown token matches
// ErrToken; an expired one ErrSessionExpired, a revoked one ErrSessionRevoked (both match ErrToken too), so the
// console can say which.
func (s *Service) AuthenticatePortal(ctx context.Context, token string) (*PortalSession, error) {
	if len(token) != tokenLen || !IsPortalToken(token) {
		return nil, ErrToken
	}
	p, err := s.store.PortalSessionByHash(ctx, sha256.Sum256([]byte(token)))
	if err != nil {
		if errors.Is(err, ErrToken) || errors.Is(err, ErrNotFound) {
			return nil, ErrToken
		}
		return nil, fmt.Errorf("authenticate portal session: %w", err)
	}
	switch {
	case !p.RevokedAt.IsZero():
		return nil, ErrSessionRevoked
	case !s.now().Before(p.ExpiresAt):
		return nil, ErrSessionExpired
	}
	return p, nil
}

// RevokePortal ends one of a tenant's portal sessions at once; a session of another tenant is ErrNotFound.
func (s *Service) RevokePortal(ctx context.Context, tenantID, sessionID string) error {
	if err := s.store.RevokePortalSession(ctx, tenantID, sessionID, s.now().UTC()); err != nil {
		return fmt.Errorf("revoke portal session %s: %w", sessionID, err)
	}
	return nil
}
