// Package storetest is the conformance suite every webhookd store passes: Run checks the behaviour that tenants.Store,
// endpoints.Store, events.Store, delivery.Queue and delivery.Log promise, and Bench measures the hot paths, so every
// backend reports comparable figures.
//
// Each subtest opens a fresh store, seeds state through the interfaces, runs one operation and compares the state
// it reads back. Time is an input: the suite passes now explicitly and expires leases by passing a later now, never
// by sleeping. Every time it uses lies decades after the wall clock (base), so a backend that floors scheduling at
// its own clock still sees each due time as given; times are whole milliseconds.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/tenants"
)

// Store is everything a webhookd storage backend implements.
type Store interface {
	tenants.Store
	endpoints.Store
	events.Store
	delivery.Queue
	delivery.SlowHolder
	delivery.Log
	calls.Log
	Close() error
}

// base is the suite's "now": far enough ahead of the wall clock that no backend's own clock is later.
var base = time.Date(2090, 1, 2, 3, 4, 5, 0, time.UTC)

const lease = 30 * time.Second

// testCase is one named conformance case of a store of type S.
type testCase[S any] struct {
	name string
	fn   func(*testing.T, S)
}

// runCases runs each case as a subtest on a fresh store from open, closed when the case ends.
func runCases[S interface{ Close() error }](t *testing.T, open func(t *testing.T) S, cases []testCase[S]) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// Run runs the conformance suite. open returns a fresh, empty store; Run closes it.
func Run(t *testing.T, open func(t *testing.T) Store) {
	runCases(t, open, []testCase[Store]{
		{"TenantCreateGet", testTenantCreateGet},
		{"TenantListPaging", testTenantListPaging},
		{"Tokens", testTokens},
		{"PortalSessions", testPortalSessions},
		{"EndpointCRUD", testEndpointCRUD},
		{"EndpointTenantScope", testEndpointTenantScope},
		{"EndpointListPaging", testEndpointListPaging},
		{"EndpointHealth", testEndpointHealth},
		{"EndpointConditionalWrite", testEndpointConditionalWrite},
		{"EndpointWriteRace", testEndpointWriteRace},
		{"RetimeOnRateChange", testRetimeOnRateChange},
		{"RetimeKeepsBackoff", testRetimeKeepsBackoff},
		{"RetimeSeesReleaseInFlight", testRetimeSeesReleaseInFlight},
		{"RateWaitShown", testRateWaitShown},
		{"EventTypes", testEventTypes},
		{"PublishStoresAndQueues", testPublishStoresAndQueues},
		{"PublishNoDeliveries", testPublishNoDeliveries},
		{"PublishKeepsDataBytes", testPublishKeepsDataBytes},
		{"PublishIdempotent", testPublishIdempotent},
		{"PublishIdempotencyPerTenant", testPublishIdempotencyPerTenant},
		{"PublishIdempotencyExpired", testPublishIdempotencyExpired},
		{"PublishInvalidWritesNothing", testPublishInvalidWritesNothing},
		{"PublishCanceledWritesNothing", testPublishCanceledWritesNothing},
		{"EnqueueReplay", testEnqueueReplay},
		{"ClaimHonoursDue", testClaimHonoursDue},
		{"ClaimLaneOrder", testClaimLaneOrder},
		{"Ack", testAck},
		{"Nack", testNack},
		{"Fail", testFail},
		{"Release", testRelease},
		{"Extend", testExtend},
		{"Reclaim", testReclaim},
		{"ReclaimLastAttemptDead", testReclaimLastAttemptDead},
		{"ReclaimBounded", testReclaimBounded},
		{"StaleFence", testStaleFence},
		{"MaxInFlight", testMaxInFlight},
		{"HoldSlow", testHoldSlow},
		{"ClaimLimits", testClaimLimits},
		{"Fairness", testFairness},
		{"NextDue", testNextDue},
		{"ListDeliveriesFilters", testListDeliveriesFilters},
		{"LogTenantScope", testLogTenantScope},
		{"ListAttempts", testListAttempts},
		{"AttemptRequest", testAttemptRequest},
		{"Prune", testPrune},
		{"CallsEndpointRoundTrip", testCallsEndpointRoundTrip},
		{"CallLog", testCallLog},
		{"CallLogPrune", testCallLogPrune},
	})
}

// ---- helpers ----

func at(d time.Duration) time.Time { return base.Add(d) }

// message returns a new message of tenant created at created.
func message(tenant string, created time.Time) *delivery.Message {
	return &delivery.Message{
		ID: ids.New("msg"), TenantID: tenant, Type: "device.enrolled", Timestamp: created,
		Data: json.RawMessage(`{"device":"d1","n":1}`), CreatedAt: created,
	}
}

// deliveryOf returns a new pending delivery of m to endpoint, due at due.
func deliveryOf(m *delivery.Message, endpoint string, due time.Time) *delivery.Delivery {
	return &delivery.Delivery{
		ID: ids.New("dlv"), TenantID: m.TenantID, MessageID: m.ID, EndpointID: endpoint, EventType: m.Type,
		Status: delivery.StatusPending, NextAttemptAt: due, CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt,
	}
}

// publish stores a new message of tenant created at created, with one delivery per endpoint due at due.
func publish(t testing.TB, s Store, tenant string, created, due time.Time, eps ...string) (*delivery.Message, []*delivery.Delivery) {
	t.Helper()
	m := message(tenant, created)
	ds := make([]*delivery.Delivery, len(eps))
	for i, ep := range eps {
		ds[i] = deliveryOf(m, ep, due)
	}
	if _, _, _, err := s.Publish(context.Background(), m, ds, time.Time{}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return m, ds
}

func claim(t testing.TB, s Store, now time.Time, max, maxInFlight int) []delivery.Task {
	t.Helper()
	ts, err := s.Claim(context.Background(), now, delivery.ClaimOptions{Max: max, Lease: lease, MaxInFlight: maxInFlight})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return ts
}

func claimOne(t testing.TB, s Store, now time.Time) delivery.Task {
	t.Helper()
	ts := claim(t, s, now, 1, 0)
	if len(ts) != 1 {
		t.Fatalf("Claim at %v: %d tasks, want 1", now, len(ts))
	}
	return ts[0]
}

func getDelivery(t testing.TB, s Store, tenant, id string) *delivery.Delivery {
	t.Helper()
	d, err := s.GetDelivery(context.Background(), tenant, id)
	if err != nil {
		t.Fatalf("GetDelivery %s: %v", id, err)
	}
	return d
}

func attempt(now time.Time, code int) delivery.Attempt {
	return delivery.Attempt{At: now, StatusCode: code, Latency: 20 * time.Millisecond}
}

func isErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func noErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// same fails unless got and want are deeply equal, showing both as JSON.
func same(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// deliveryIDs returns the ids of ds.
func deliveryIDs(ds []*delivery.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func sorted(ss []string) []string {
	c := slices.Clone(ss)
	slices.Sort(c)
	return c
}

func taskIDs(ts []delivery.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.DeliveryID
	}
	return out
}
