// Package tenants owns tenants and their API tokens. Tokens are shown once at creation and stored only as SHA-256
// hashes; a token authenticates exactly one tenant.
package tenants

import (
	"context"
	"errors"
	"time"
)

// Errors for callers to test with errors.Is.
var (
	ErrNotFound = errors.New("tenant not found")
	ErrExists   = errors.New("tenant already exists")
	ErrToken    = errors.New("invalid or revoked token")
)

// Tenant is one customer of the gateway; every endpoint, message and delivery belongs to one.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Token is a tenant API token as stored: its hash, never its text.
type Token struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	Hash      [32]byte  `json:"-"` // SHA-256 of the token text
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Store persists tenants and tokens. Lists are in ascending id order, starting after the cursor "after" ("" for the
// first page), at most limit items.
type Store interface {
	CreateTenant(ctx context.Context, t *Tenant) error // ErrExists when the id is taken
	GetTenant(ctx context.Context, id string) (*Tenant, error)
	ListTenants(ctx context.Context, after string, limit int) ([]*Tenant, error)

	CreateToken(ctx context.Context, t *Token) error
	TokenByHash(ctx context.Context, hash [32]byte) (*Token, error) // ErrToken when unknown or revoked
	ListTokens(ctx context.Context, tenantID string) ([]*Token, error)
	RevokeToken(ctx context.Context, tenantID, tokenID string, at time.Time) error // ErrNotFound when not the tenant's

	// Portal sessions (portal.go). A store may forget a session once it has expired; PortalSessionByHash returns
	// revoked and expired sessions it still holds (the service tells them apart), ErrToken when it holds none.
	CreatePortalSession(ctx context.Context, p *PortalSession) error // ErrExists when the hash or id is taken
	PortalSessionByHash(ctx context.Context, hash [32]byte) (*PortalSession, error)
	RevokePortalSession(ctx context.Context, tenantID, id string, at time.Time) error // ErrNotFound when not the tenant's
}
