package api

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/delivery"
)

// TestTenantIsolation walks every route of the router (so a new route cannot escape) with tenant B's token against
// tenant A's paths, and against B's own paths with A's object ids, and checks that B learns nothing (404), that
// operator-only global routes refuse (403), and that A's data is unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	tokA := e.tenant("ten_a")
	tokB := e.tenant("ten_b")
	rc := okReceiver(t)
	epA := e.endpoint("ten_a", tokA, map[string]any{"url": rc.URL, "metadata": map[string]string{"owner": "a"}})
	msgA := e.must(202, "POST", "/v1/tenants/ten_a/events", opToken, map[string]any{"type": "device.enrolled", "id": "evt-a"})["id"].(string)
	dlvA := e.must(200, "GET", "/v1/tenants/ten_a/deliveries", tokA, nil)["data"].([]any)[0].(map[string]any)["id"].(string)
	tokIDA := e.must(200, "GET", "/v1/tenants/ten_a/tokens", opToken, nil)["data"].([]any)[0].(map[string]any)["id"].(string)
	e.must(201, "POST", "/v1/event-types", opToken, map[string]any{"name": "device.enrolled"})
	callsA := e.endpoint("ten_a", tokA, map[string]any{"url": rc.URL, "kind": "calls"})
	psA := e.must(201, "POST", "/v1/tenants/ten_a/portal-sessions", opToken, nil)["id"].(string)
	secretA := e.must(200, "GET", "/v1/tenants/ten_a/endpoints/"+epA+"/secret", tokA, nil)["keys"].([]any)[0].(map[string]any)["secret"].(string)

	// Make one of A's deliveries dead, so that recover would have work if it reached A.
	ctx := context.Background()
	tasks, err := e.store.Claim(ctx, time.Now().Add(time.Minute), delivery.ClaimOptions{Max: 10, Lease: time.Minute})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("claim: %v, %d tasks", err, len(tasks))
	}
	if err := e.store.Fail(ctx, tasks[0], delivery.Attempt{DeliveryID: tasks[0].DeliveryID, N: 1, At: time.Now(), Outcome: "dead"}, delivery.StatusDead); err != nil {
		t.Fatal(err)
	}

	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{
			"/v1/tenants/ten_a",
			"/v1/tenants/ten_a/tokens",
			"/v1/tenants/ten_a/endpoints",
			"/v1/tenants/ten_a/endpoints/" + epA,
			"/v1/tenants/ten_a/endpoints/" + epA + "/secret",
			"/v1/tenants/ten_a/messages/" + msgA,
			"/v1/tenants/ten_a/deliveries",
			"/v1/tenants/ten_a/deliveries/" + dlvA,
		} {
			_, body := e.do("GET", p, opToken, nil)
			b.Write(body)
		}
		return b.String()
	}
	before := snapshot()

	// Bodies that would succeed if the route reached its object, so a 404 cannot come from validation.
	bodies := map[string]any{
		"POST /v1/tenants":                                   map[string]any{"name": "x"},
		"POST /v1/tenants/{tenant}/tokens":                   map[string]any{"name": "x"},
		"POST /v1/tenants/{tenant}/events":                   map[string]any{"type": "device.enrolled", "id": "evt-a"},
		"POST /v1/tenants/{tenant}/events/batch":             map[string]any{"events": []any{map[string]any{"type": "device.enrolled", "id": "evt-a"}}},
		"POST /v1/event-types":                               map[string]any{"name": "device.enrolled", "description": "changed"},
		"POST /v1/tenants/{tenant}/endpoints":                map[string]any{"url": rc.URL},
		"PATCH /v1/tenants/{tenant}/endpoints/{id}":          map[string]any{"url": rc.URL + "/b", "metadata": map[string]string{"owner": "b"}},
		"POST /v1/tenants/{tenant}/endpoints/{id}/rotate":    map[string]any{"grace": "0s"},
		"POST /v1/tenants/{tenant}/endpoints/{id}/recover":   map[string]any{"since": "2000-01-01T00:00:00Z"},
		"POST /v1/tenants/{tenant}/messages/{msg}/replay":    map[string]any{"endpoint_id": epA},
		"POST /v1/tenants/{tenant}/endpoints/{id}/test":      map[string]any{},
		"POST /v1/tenants/{tenant}/endpoints/{id}/enable":    nil,
		"POST /v1/tenants/{tenant}/endpoints/{id}/disable":   nil,
		"DELETE /v1/tenants/{tenant}/endpoints/{id}":         nil,
		"DELETE /v1/tenants/{tenant}/tokens/{token}":         nil,
		"DELETE /v1/event-types/{name}":                      nil,
		"GET /v1/tenants/{tenant}/endpoints/{id}/deliveries": nil,
		"GET /v1/tenants/{tenant}/endpoints/{id}/secret":     nil,
		"GET /v1/tenants/{tenant}/endpoints/{id}":            nil,
		"GET /v1/tenants/{tenant}/messages/{msg}":            nil,
		"GET /v1/tenants/{tenant}/deliveries/{id}":           nil,
		"GET /v1/tenants/{tenant}/deliveries":                nil,
		"GET /v1/tenants/{tenant}/endpoints":                 nil,
		"GET /v1/tenants/{tenant}/tokens":                    nil,
		"GET /v1/tenants/{tenant}":                           nil,
		"DELETE /v1/tenants/{tenant}":                        nil,
		"PATCH /v1/tenants/{tenant}":                         map[string]any{"retention": "720h"},
		"GET /v1/tenants":                                    nil,
		"GET /v1/event-types":                                nil,
		"GET /v1/event-types/{name}":                         nil,
		"GET /healthz":                                       nil,
		"GET /readyz":                                        nil,
		"POST /v1/tenants/{tenant}/calls":                    map[string]any{"endpoint_id": callsA, "path": "/checkin", "body": map[string]any{}},
		"GET /v1/tenants/{tenant}/endpoints/{id}/calls":      nil,
		"DELETE /v1/tenants/{tenant}/messages/{msg}/payload": nil,
		"POST /v1/tenants/{tenant}/deliveries/{id}/unblock":  map[string]any{"action": "skip"},

		// Console sessions.
		"POST /v1/tenants/{tenant}/portal-sessions":             map[string]any{},
		"DELETE /v1/tenants/{tenant}/portal-sessions/{session}": nil,
	}
	// Expected status of B's token on a global route (no {tenant}).
	global := map[string]int{
		"POST /v1/tenants":              403,
		"GET /v1/tenants":               403,
		"POST /v1/event-types":          403,
		"DELETE /v1/event-types/{name}": 403,
		"GET /v1/event-types":           200, // the shared catalogue
		"GET /v1/event-types/{name}":    200,
		"GET /healthz":                  200, // probes: no token needed, no tenant data
		"GET /readyz":                   200,
	}
	// Expected status of B's token on its own {tenant} with A's object ids: 404 when the route names an object;
	// routes without one act on B's own data (or refuse, for operator-only ones) and must not show A's.
	own := map[string]int{
		"GET /v1/tenants/{tenant}":                   200,
		"DELETE /v1/tenants/{tenant}":                403,
		"PATCH /v1/tenants/{tenant}":                 403,
		"POST /v1/tenants/{tenant}/tokens":           403,
		"GET /v1/tenants/{tenant}/tokens":            403,
		"DELETE /v1/tenants/{tenant}/tokens/{token}": 403,
		"POST /v1/tenants/{tenant}/events":           403,
		"POST /v1/tenants/{tenant}/events/batch":     403,
		"POST /v1/tenants/{tenant}/endpoints":        201,
		"GET /v1/tenants/{tenant}/endpoints":         200,
		"GET /v1/tenants/{tenant}/deliveries":        200,

		"POST /v1/tenants/{tenant}/portal-sessions": 201, // B's own session
	}
	aIDs := []string{epA, callsA, msgA, dlvA, tokIDA, secretA, "evt-a", "owner\":\"a", psA}

	walked := 0
	err = e.s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return err
		}
		for _, m := range methods {
			key := m + " " + tpl
			walked++
			body, ok := bodies[key]
			if !ok {
				t.Errorf("route %s has no isolation case: add it to this test", key)
				continue
			}
			fill := func(tenant string) string {
				id := epA
				if strings.Contains(tpl, "/deliveries/{id}") {
					id = dlvA
				}
				return strings.NewReplacer("{tenant}", tenant, "{id}", id, "{msg}", msgA, "{token}", tokIDA,
					"{name}", "device.enrolled", "{session}", psA).Replace(tpl)
			}
			if !strings.Contains(tpl, "{tenant}") {
				want, ok := global[key]
				if !ok {
					t.Errorf("global route %s has no expected status", key)
					continue
				}
				if status, out := e.do(m, fill(""), tokB, body); status != want {
					t.Errorf("B: %s: status %d, want %d: %s", key, status, want, out)
				}
				continue
			}
			// A's path: always 404, whatever the route.
			if status, out := e.do(m, fill("ten_a"), tokB, body); status != 404 {
				t.Errorf("B on A's path: %s: status %d, want 404: %s", key, status, out)
			} else if code, _, _ := errorOf(t, out); code != "not_found" {
				t.Errorf("B on A's path: %s: code %s", key, code)
			}
			// B's path with A's objects.
			want, ok := own[key]
			if !ok {
				want = 404
			}
			status, out := e.do(m, fill("ten_b"), tokB, body)
			if status != want {
				t.Errorf("B on own path with A's ids: %s: status %d, want %d: %s", key, status, want, out)
			}
			for _, id := range aIDs {
				if bytes.Contains(out, []byte(id)) {
					t.Errorf("B on own path: %s: answer shows A's %q: %s", key, id, out)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if walked != len(bodies) {
		t.Errorf("walked %d routes, the test knows %d", walked, len(bodies))
	}

	// Filters naming A's objects under B's scope find nothing.
	for _, q := range []string{"?endpoint=" + epA, "?message=" + msgA} {
		if got := e.must(200, "GET", "/v1/tenants/ten_b/deliveries"+q, tokB, nil)["data"].([]any); len(got) != 0 {
			t.Errorf("B's deliveries%s shows %d of A's", q, len(got))
		}
	}
	// B's publish to its own tenant with A's idempotency key is a new message, not A's.
	if m := e.must(202, "POST", "/v1/tenants/ten_b/events", opToken, map[string]any{"type": "device.enrolled", "id": "evt-a"}); m["id"] == msgA || m["duplicate"] == true {
		t.Errorf("idempotency keys leak across tenants: %v", m)
	}

	if after := snapshot(); after != before {
		t.Errorf("A's data changed:\nbefore %s\nafter  %s", before, after)
	}
}
