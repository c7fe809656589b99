package api

import (
	"net/http"

	"github.com/gorilla/mux"
)

// access is who may call a route.
type access uint8

const (
	// accessOperator: the operator only; the route is global (not under a tenant), so a tenant token gets 403.
	accessOperator access = iota
	// accessAny: any authenticated caller; global, read-only data (the event catalogue).
	accessAny
	// accessTenant: the operator, or a token of the tenant named by {tenant}; any other token gets 404.
	accessTenant
	// accessTenantOperator: under {tenant}, the operator only: another tenant's token gets 404, the tenant's own 403.
	accessTenantOperator
)

// handler is a route's work once access is settled; a returned error is answered by writeError.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// route is one row of the route table.
type route struct {
	method string
	path   string
	access access
	h      handler
}

// routes is the API. Every request and response body is JSON; errors are {"code", "message", "field"?, "details"?}
// (see errors.go). Lists take ?limit= (1–200, default 50) and ?after=<cursor> and answer {"data": [...], "next":
// "<cursor>"}, next absent on the last page. Durations in bodies are Go duration strings ("1s", "250ms") or numbers
// of milliseconds; times are RFC 3339. Secrets are returned only by GET .../endpoints/{id}/secret, and a tenant token
// only once, by POST .../tokens.
func (s *server) routes() []route {
	const (
		tenant   = "/v1/tenants/{tenant}"
		endpoint = tenant + "/endpoints/{id}"
	)
	return []route{
		// Events (operator). First: the router tries the routes in this order, and publishing is the hot path.
		// POST {"type": "device.enrolled", "data"?: {...}, "id"?: "<idempotency key>", "timestamp"?: RFC 3339} →
		// 202 {"id": "msg_…", "fanout": N, "duplicate": bool}. Body at most Config.MaxEventBytes (413 beyond). A
		// repeated id within the idempotency window answers the first message with duplicate true.
		{http.MethodPost, tenant + "/events", accessTenantOperator, s.publish},
		// POST {"events": [event as above, ...]} (1 to events.MaxBatchEvents) → 202 {"data": [{"id": "msg_…", "fanout":
		// N, "duplicate": bool}, ...]} in request order. Body at most Config.MaxBatchBytes (413 beyond). Every event
		// is checked before any is stored (422 with field "events[i].type" and so on); an id repeated in the batch
		// answers its first event's message with duplicate true. Not atomic: after a 5xx some events may be stored,
		// and a retry of the whole batch repeats those without an id.
		{http.MethodPost, tenant + "/events/batch", accessTenantOperator, s.publishBatch},

		// Tenants (operator).
		// POST {"id"?: "acme", "name": "Acme"} → 201 tenant. id defaults to a generated ten_…; a taken id is 409.
		{http.MethodPost, "/v1/tenants", accessOperator, s.createTenant},
		// GET → 200 {"data": [tenant], "next"}.
		{http.MethodGet, "/v1/tenants", accessOperator, s.listTenants},
		// GET → 200 tenant. A tenant token may read its own tenant.
		{http.MethodGet, tenant, accessTenant, s.getTenant},
		// PATCH {"retention": "720h"} → 200 tenant: its own retention period, within the operator's limits (422
		// outside); "0s" returns it to the default (operator).
		{http.MethodPatch, tenant, accessTenantOperator, s.updateTenant},
		// DELETE → 202 tenant with state "deleting": the tenant is gone for every call from now on and its data is
		// removed in the background. 403 tenant_deletion_disabled without --allow-tenant-deletion.
		{http.MethodDelete, tenant, accessTenantOperator, s.deleteTenant},

		// Tenant tokens (operator).
		// POST {"name"?} → 201 {"id", "tenant_id", "name", "created_at", "token": "wht_…"}; the token text is shown
		// only here.
		{http.MethodPost, tenant + "/tokens", accessTenantOperator, s.createToken},
		// GET → 200 {"data": [token]} (no token text), revoked tokens included with revoked_at.
		{http.MethodGet, tenant + "/tokens", accessTenantOperator, s.listTokens},
		// DELETE → 204; the token stops authenticating at once.
		{http.MethodDelete, tenant + "/tokens/{token}", accessTenantOperator, s.revokeToken},

		// Console sessions (portal.go): the operator or a tenant token, never a console session itself.
		// POST {"ttl"?: "1h" (at most 24h), "read_only"?: bool} (body optional) → 201 {"id", "tenant_id", "read_only",
		// "created_at", "expires_at", "token": "whp_…", "url": "<console>#tenant=…&token=whp_…"}; the token only here.
		{http.MethodPost, tenant + "/portal-sessions", accessTenant, s.createPortalSession},
		// DELETE → 204; the session stops working at once.
		{http.MethodDelete, tenant + "/portal-sessions/{session}", accessTenant, s.revokePortalSession},

		// Event-type catalogue: the operator writes, everyone authenticated reads.
		// POST {"name", "description"?, "schema"?: {JSON Schema object}} → 201 (new) or 200 (replaced) event type.
		{http.MethodPost, "/v1/event-types", accessOperator, s.putEventType},
		// GET → 200 {"data": [event type], "next"}.
		{http.MethodGet, "/v1/event-types", accessAny, s.listEventTypes},
		// GET → 200 event type.
		{http.MethodGet, "/v1/event-types/{name}", accessAny, s.getEventType},
		// DELETE → 204.
		{http.MethodDelete, "/v1/event-types/{name}", accessOperator, s.deleteEventType},

		// Endpoints (the tenant or the operator).
		// POST {"url", "description"?, "events"?: ["*"], "profile"?: "standard"|"openmdm"|"mender",
		// "signing"?: "hmac"|"ed25519", "secret"?, "headers"?: {}, "rate_limit"?: 0, "timeout"?: "1s",
		// "metadata"?: {}} → 201 endpoint (no secret: read it with GET .../secret). The URL must pass the URL
		// policy (422 forbidden_url) and the OPTIONS handshake (422 handshake_failed) before anything is stored.
		{http.MethodPost, tenant + "/endpoints", accessTenant, s.createEndpoint},
		// GET → 200 {"data": [endpoint], "next"}.
		{http.MethodGet, tenant + "/endpoints", accessTenant, s.listEndpoints},
		// GET → 200 endpoint.
		{http.MethodGet, endpoint, accessTenant, s.getEndpoint},
		// PATCH with any fields of POST (absent or null: unchanged) → 200 endpoint. A new url is checked like on
		// create and the old one kept on failure; "secret" only with a change of profile or signing.
		{http.MethodPatch, endpoint, accessTenant, s.updateEndpoint},
		// DELETE → 204.
		{http.MethodDelete, endpoint, accessTenant, s.deleteEndpoint},
		// POST → 200 endpoint, enabled, health reset; the URL is checked again (policy and handshake).
		{http.MethodPost, endpoint + "/enable", accessTenant, s.enableEndpoint},
		// POST → 200 endpoint, disabled with reason "manual".
		{http.MethodPost, endpoint + "/disable", accessTenant, s.disableEndpoint},
		// POST {"secret"?, "grace"?: "24h"} (body optional) → 200 endpoint. The new key signs first; the old one
		// keeps signing until now+grace (default endpoints.Config.RotationGrace; 0 drops it at once).
		{http.MethodPost, endpoint + "/rotate", accessTenant, s.rotateEndpoint},
		// POST {"data"?: {...}} (body optional) → 202 {"message_id", "delivery_id"}: a webhookd.test event to this
		// endpoint alone, whatever its filters.
		{http.MethodPost, endpoint + "/test", accessTenant, s.testEndpoint},
		// GET → 200 {"endpoint_id", "profile", "signing", "keys": [{"secret"?, "public_key"?, "created_at",
		// "expires_at"?}]}: the keys signing now, newest first. ed25519 keys show only their public key.
		{http.MethodGet, endpoint + "/secret", accessTenant, s.revealSecret},
		// GET ?status=&message=&since=&until=&after=&limit= → 200 {"data": [delivery], "next"} of this endpoint.
		{http.MethodGet, endpoint + "/deliveries", accessTenant, s.listEndpointDeliveries},
		// POST {"since": RFC 3339} → 202 {"replayed": N}: every message whose delivery here failed or died since then
		// is delivered again (once each), with its original webhook-id; one that since succeeded is skipped, and while
		// a redelivery of the window is pending the call is refused (409 recover_pending).
		{http.MethodPost, endpoint + "/recover", accessTenant, s.recoverEndpoint},

		// Messages and the delivery log (the tenant or the operator).
		// GET → 200 message with "deliveries": the status of each delivery of it (at most 1000).
		{http.MethodGet, tenant + "/messages/{msg}", accessTenant, s.getMessage},
		// POST {"endpoint_id"} → 202 delivery: the message again to that endpoint, same webhook-id.
		{http.MethodPost, tenant + "/messages/{msg}/replay", accessTenant, s.replayMessage},
		// DELETE → 200 message: its payload is expunged for good (data null, expunged_at set); the log keeps ids,
		// times and statuses, replays answer 409 message_expunged, pending deliveries of it end failed unsent.
		{http.MethodDelete, tenant + "/messages/{msg}/payload", accessTenant, s.expungeMessage},
		// GET ?endpoint=&message=&status=&since=&until=&after=&limit= → 200 {"data": [delivery], "next"}.
		{http.MethodGet, tenant + "/deliveries", accessTenant, s.listDeliveries},
		// GET → 200 delivery with "attempt_log": every HTTP attempt, oldest first ("attempts" is their count).
		{http.MethodGet, tenant + "/deliveries/{id}", accessTenant, s.getDelivery},
		// POST {"action": "retry"|"skip"} → 200 delivery: ends the hold of a blocked delivery (failed or dead with an
		// ordering key, on an endpoint whose ordering_on_failure is block). retry sends it again, first of its key,
		// with a fresh retry schedule; skip lets the next delivery of its key go. 409 not_blocked otherwise.
		{http.MethodPost, tenant + "/deliveries/{id}/unblock", accessTenant, s.unblockDelivery},

		// Management calls (the tenant or the operator; see handlers_calls.go and docs/management-calls.md).
		// POST {"endpoint_id", "path": "/webhook/apple/checkin", "body": <JSON>, "timeout"?: "1s", "idempotent"?:
		// false} → 200 {"id": "call_…", "outcome", "status", "body"?, "tag"?, "error"?, "latency_ms", "webhook_id",
		// "attempts"} whatever the outcome (ok, typed_error, timeout, unreachable, bad_response, circuit_open). Body at
		// most Config.MaxEventBytes (413). An events endpoint is 422 wrong_endpoint_kind; nothing is logged then.
		{http.MethodPost, tenant + "/calls", accessTenant, s.makeCall},
		// GET ?after=&limit= → 200 {"data": [call], "next"}: the call log of a calls endpoint, oldest first.
		{http.MethodGet, endpoint + "/calls", accessTenant, s.listCalls},
	}
}

// newRouter builds the router from the route table. Unknown paths answer 404 and known paths with another method 405,
// both as JSON errors.
func (s *server) newRouter() *mux.Router {
	r := mux.NewRouter()
	for _, rt := range s.routes() {
		r.Handle(rt.path, withRoute(rt.path, s.guard(rt.access, rt.h))).Methods(rt.method)
	}
	// Probes and metrics: no token (see ops.go).
	r.Handle(HealthPath, withRoute(HealthPath, http.HandlerFunc(s.healthz))).Methods(http.MethodGet)
	r.Handle(ReadyPath, withRoute(ReadyPath, http.HandlerFunc(s.readyz))).Methods(http.MethodGet)
	if s.cfg.Metrics != nil {
		r.Handle(MetricsPath, withRoute(MetricsPath, s.cfg.Metrics)).Methods(http.MethodGet)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { s.writeError(w, req, errNoRoute) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { s.writeError(w, req, errNoMethod) })
	return r
}
