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

	// ErrDeletionDisabled is Delete's answer while the operator has not allowed tenant deletion.
	ErrDeletionDisabled = errors.New("tenant deletion is disabled")
	// ErrNotDeleting is a store's answer to PurgeTenant for a tenant not marked deleting.
	ErrNotDeleting = errors.New("tenant is not being deleted")
)

// Tenant is one customer of the gateway; every endpoint, message and delivery belongs to one.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// DeletingAt is set when the tenant's deletion began: from then on it is gone for every tenant-scoped call and
	// its data is being removed (Deleter).
	DeletingAt time.Time `json:"deleting_at,omitzero"`
	// Retention is how long the tenant's finished deliveries and messages are kept; 0 for the operator's default.
	Retention time.Duration `json:"retention,omitzero"`
}

// Deleting reports whether the tenant's deletion has begun.
func (t *Tenant) Deleting() bool { return !t.DeletingAt.IsZero() }

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

	// SetTenantRetention sets a tenant's own retention period (0: the default) and returns the tenant; ErrNotFound
	// when absent or being deleted.
	SetTenantRetention(ctx context.Context, id string, keep time.Duration) (*Tenant, error)

	// Portal sessions (portal.go). A store may forget a session once it has expired; PortalSessionByHash returns
	// revoked and expired sessions it still holds (the service tells them apart), ErrToken when it holds none.
	CreatePortalSession(ctx context.Context, p *PortalSession) error // ErrExists when the hash or id is taken
	PortalSessionByHash(ctx context.Context, hash [32]byte) (*PortalSession, error)
	RevokePortalSession(ctx context.Context, tenantID, id string, at time.Time) error // ErrNotFound when not the tenant's
}

// Deleter is the optional store capability behind tenant deletion. Deletion is two-phase and crash-safe: one durable
// write marks the tenant deleting and makes its credentials unusable at once; then PurgeTenant removes its data in
// bounded steps, the tenant record last, and can be resumed after any interruption.
type Deleter interface {
	// MarkTenantDeleting marks a tenant deleting at at (an already deleting tenant keeps its first time) and makes
	// its API tokens and portal sessions fail authentication. ErrNotFound when there is no such tenant.
	MarkTenantDeleting(ctx context.Context, id string, at time.Time) (*Tenant, error)
	// PurgeTenant removes the data of a tenant marked deleting: tokens, portal sessions, endpoints, queued and
	// logged deliveries with their attempts and ordering state, messages, idempotency keys and the call log, then
	// the tenant record once a pass finds nothing else. Its queued deliveries are cancelled and results of attempts
	// in flight are refused. It takes at most steps bounded steps (transactions or batches; all it needs when steps
	// ≤ 0) and reports whether the tenant is gone. ErrNotDeleting for a tenant not marked; a tenant already gone is
	// done.
	PurgeTenant(ctx context.Context, id string, steps int) (done bool, err error)
	// DeletingTenants lists the ids of the tenants marked deleting.
	DeletingTenants(ctx context.Context) ([]string, error)
}
