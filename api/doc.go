// Package api is webhookd's HTTP management API, under /v1: tenants and their tokens, the event-type catalogue,
// event ingest (one event or a batch), endpoints (with key rotation, secret reveal, test events and recovery), the
// delivery log, management calls and console sessions. It only speaks HTTP: the rules live in the services it is
// handed.
//
// # Tour
//
// [New] takes a [Config] (the operator token, body limits, quotas, a logger, probes and metrics) and [Deps] (the
// domain services, built by the caller: package gateway builds each once per process) and returns an http.Handler.
// routes.go is the route table, one documented row per route; middleware.go the chain every request passes
// (request id, access log, panic recovery, then the route's guard: authentication, tenant scope, rate limits);
// errors.go maps errors to the stable JSON error codes (wire.Code*); json.go and strict.go read bodies strictly;
// limits.go holds the quotas and portal.go the console sessions. The JSON shapes are package wire's, shared with
// package client. docs/openapi.yaml is the reference (api/openapi_test.go keeps it true), and
// docs/architecture.md ("Inside the API") says how authentication, errors and bodies work.
package api
