// Package api is webhookd's HTTP management API, under /v1: tenants and their tokens, the event-type catalogue,
// event ingest (one event or a batch), endpoints (with key rotation, secret reveal, test events and recovery), and
// the delivery log.
//
// # Tour
//
// [New] takes a [Config] (the operator token, body limits, a logger, probes and metrics) and [Deps] (the domain
// services — tenants.Service, endpoints.Service, events.Service — and the delivery log, built by the caller: the
// gateway package builds each once per process) and returns an http.Handler. The rules and their settings (URL
// policy, handshake timeout, rotation grace, idempotency window) live in the services; this package only speaks HTTP.
//
// The route table is in routes.go, one documented row per route; every request goes through the same chain: request
// id (X-Request-Id, taken when sane, generated otherwise, echoed), access log (one slog line: method, path, status,
// bytes, latency; never tokens, bodies or query strings), panic recovery (a 500 "internal" JSON error; the stack
// goes to the log), then the route's guard (authentication and tenant scope) and handler.
//
// # Probes and metrics
//
// GET /healthz answers 200 {"status":"ok"} while the process serves HTTP (liveness). GET /readyz runs
// Config.ReadyChecks (the server checks that the store answers a ping and that the delivery engine runs) and answers
// 200 {"status":"ready","checks":{...}} or 503 {"status":"unavailable","checks":{...},"failed":[...]}; the error
// itself goes to the log, once when a check starts failing and once when it recovers. GET /metrics serves
// Config.Metrics. None of the three needs a token, and their access-log lines are at debug level. Config.Observer
// hears every request (by route template), ingested event, handshake failure and internal error, for metrics.
//
// # Authentication and tenant isolation
//
// Every route needs "Authorization: Bearer <token>". The operator token (compared in constant time) may do
// everything; a tenant token (wht_…) acts on its own tenant's endpoints, messages and deliveries, and reads the
// catalogue. A tenant token naming another tenant in the path, or another tenant's object id under its own, gets
// 404 not_found — the same answer as for something that does not exist — so a tenant cannot detect others. 403
// forbidden is only for an operator-only action (managing tenants, tokens or the catalogue, publishing events) asked
// with a tenant token of the tenant concerned, or on a global route.
//
// # Errors
//
// Every error is JSON {"code", "message", "field"?, "details"?} with a stable code (see the Code constants in
// errors.go): invalid_json and invalid_parameter 400, unauthorized 401, forbidden 403, not_found 404,
// method_not_allowed 405, conflict 409, body_too_large 413, validation_failed, forbidden_url and handshake_failed 422
// (details {status, allow, error}: what the receiver answered), internal 500. One function, toAPIError, maps errors
// to codes. Internal errors are logged with the request id and never shown.
//
// # Bodies
//
// Bodies are one JSON object; unknown fields, wrong types (the field is named) and trailing data are 400. Event
// bodies are limited to Config.MaxEventBytes (256 KiB), batches of events (POST .../events/batch, up to 500 events)
// to Config.MaxBatchBytes (8 MiB), others to Config.MaxBodyBytes (64 KiB); more is 413. Event data is kept byte for
// byte as sent. Durations are Go duration strings ("1s", "250ms") or numbers of milliseconds, e.g. "timeout": "1s"
// or "timeout": 1500; responses always use the string form. Times are RFC 3339.
//
// Secrets appear in exactly two answers: a tenant token in the answer to its creation, and endpoint keys in GET
// .../endpoints/{id}/secret (ed25519 private keys never: only their public key). Responses are built from explicit
// view structs and carry Cache-Control: no-store.
//
// # Caveats
//
//   - Endpoint updates read, change and write the whole record; an engine health change (a disable) landing between
//     the read and the write of a PATCH, enable or rotate can be overwritten. The store has no compare-and-swap yet.
//   - The handshake runs inside the create or update request, so those requests take up to the endpoints
//     service's HandshakeTimeout longer.
//   - Content-Type is not checked: any body that parses as JSON is accepted.
//   - GET .../messages/{msg} lists at most 1000 deliveries; use GET .../deliveries?message= to page through more.
package api
