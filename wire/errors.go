package wire

import "encoding/json"

// Error codes: the stable "code" member of every error answer. Branch on these, never on messages.
const (
	CodeInvalidJSON      = "invalid_json"        // 400: malformed JSON, a wrong type, an unknown field, trailing data
	CodeInvalidParameter = "invalid_parameter"   // 400: a bad query parameter (field names it)
	CodeUnauthorized     = "unauthorized"        // 401: no, malformed, unknown or revoked bearer token
	CodeForbidden        = "forbidden"           // 403: an operator-only action with a tenant token
	CodeNotFound         = "not_found"           // 404: no such route or object, or another tenant's
	CodeMethodNotAllowed = "method_not_allowed"  // 405
	CodeConflict         = "conflict"            // 409: the id is taken
	CodeBodyTooLarge     = "body_too_large"      // 413
	CodeValidation       = "validation_failed"   // 422: a field breaks a rule (field names it)
	CodeForbiddenURL     = "forbidden_url"       // 422: the URL policy refuses the endpoint URL (scheme or address)
	CodeHandshakeFailed  = "handshake_failed"    // 422: the URL did not pass the OPTIONS handshake (see details)
	CodeInternal         = "internal"            // 500: anything else; details are logged, not returned
	CodeRateLimited      = "rate_limited"        // 429: a rate limit; wait Retry-After seconds (docs/security.md)
	CodeEndpointLimit    = "endpoint_limit"      // 409: the tenant has the most endpoints it may have
	CodeRecoverPending   = "recover_pending"     // 409: an earlier recover or replay of the window is still pending
	CodeRequestTimeout   = "request_timeout"     // 408: the request body was not sent in time
	CodeEndpointKind     = "wrong_endpoint_kind" // 422: an events endpoint named in a call, or a calls endpoint sent an event
	CodeSchemaViolation  = "schema_violation"    // 422: event data breaks its type's schema (details: SchemaDetails)
	CodeMessageExpunged  = "message_expunged"    // 409: a replay of a message whose payload was expunged
	CodeNotBlocked       = "not_blocked"         // 409: an unblock of a delivery that does not hold its ordering key
	// 403: DELETE /v1/tenants/{tenant} while the operator has not allowed it (--allow-tenant-deletion)
	CodeTenantDeletionDisabled = "tenant_deletion_disabled"
)

// Error is the body of every error answer.
type Error struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Field   string          `json:"field,omitempty"`   // the request field or query parameter at fault
	Details json.RawMessage `json:"details,omitempty"` // more about the error; for handshake_failed a HandshakeDetails
}

// HandshakeDetails is the details member of a handshake_failed error: what the receiver answered to OPTIONS, or the
// network error when it did not answer.
type HandshakeDetails struct {
	Status int    `json:"status,omitempty"`
	Allow  string `json:"allow,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Error codes of the console's portal sessions: a 401 that says why the session no longer works.
const (
	CodeSessionExpired = "session_expired" // 401: the portal session has expired
	CodeSessionRevoked = "session_revoked" // 401: the portal session was revoked
)
