package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/tenants"
)

// The call log (calls.Log) and calls endpoints.

// callOf returns a call log entry of tenant's endpoint made at created; n tells entries apart.
func callOf(tenant, endpoint string, n int, created time.Time) *calls.Call {
	return &calls.Call{
		ID: fmt.Sprintf("call_%03d", n), TenantID: tenant, EndpointID: endpoint, WebhookID: fmt.Sprintf("msg_%03d", n),
		Path: "/webhook/apple/checkin", Request: `{"udid":"d-1"}`, Response: `{"_tag":"Idle"}`, Status: 200,
		Outcome: calls.OK, Latency: 1500 * time.Microsecond, Attempts: 1, CreatedAt: created,
	}
}

// testCallsEndpointRoundTrip: a calls endpoint keeps its kind and its call settings.
func testCallsEndpointRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	want := endpoint("ten_a", "ep_1")
	want.Kind, want.Events = endpoints.KindCalls, []string{}
	want.Calls = &endpoints.CallSettings{
		ErrorTags: []string{"UnknownDevice", "Gone"},
		Schemas:   map[string]json.RawMessage{"/webhook/apple/checkin": json.RawMessage(`{"type":"object","required":["_tag"]}`)},
	}
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, want))
	got, err := s.GetEndpoint(ctx, "ten_a", "ep_1")
	noErr(t, "GetEndpoint", err)
	same(t, "calls endpoint", got, want)
	if got.Accepts("device.enrolled") {
		t.Fatal("a calls endpoint read back accepts events")
	}
}

// testCallLog: entries come back per endpoint, in id order, paged, scoped by tenant.
func testCallLog(t *testing.T, s Store) {
	ctx := t.Context()
	var want []*calls.Call
	var batch []*calls.Call
	for i := range 7 {
		c := callOf("ten_a", "ep_1", i, at(time.Duration(i)*time.Second))
		want = append(want, c)
		batch = append(batch, c)
	}
	other := []*calls.Call{callOf("ten_a", "ep_2", 50, base), callOf("ten_b", "ep_1", 51, base)}
	noErr(t, "AddCalls", s.AddCalls(ctx, batch[:3]))
	noErr(t, "AddCalls", s.AddCalls(ctx, append(batch[3:], other...)))

	got, err := s.ListCalls(ctx, "ten_a", "ep_1", "", 0)
	noErr(t, "ListCalls", err)
	same(t, "ListCalls", got, want)

	page, err := s.ListCalls(ctx, "ten_a", "ep_1", want[2].ID, 3)
	noErr(t, "ListCalls page", err)
	same(t, "ListCalls after the third, 3", page, want[3:6])

	for _, c := range []struct{ tenant, ep string }{{"ten_b", "ep_2"}, {"ten_c", "ep_1"}} {
		got, err := s.ListCalls(ctx, c.tenant, c.ep, "", 0)
		noErr(t, "ListCalls of another tenant", err)
		if len(got) != 0 {
			t.Fatalf("ListCalls(%s, %s): %d calls of another tenant or endpoint", c.tenant, c.ep, len(got))
		}
	}
	got, err = s.ListCalls(ctx, "ten_b", "ep_1", "", 0)
	noErr(t, "ListCalls ten_b", err)
	same(t, "ten_b's own call", got, other[1:])
}

// testCallLogPrune: PruneCalls deletes exactly the calls made before the cutoff, of every tenant.
func testCallLogPrune(t *testing.T, s Store) {
	ctx := t.Context()
	for _, id := range []string{"ten_a", "ten_b"} {
		noErr(t, "CreateTenant", s.CreateTenant(ctx, &tenants.Tenant{ID: id, Name: id, CreatedAt: base}))
	}
	var cs []*calls.Call
	for i := range 6 {
		cs = append(cs, callOf("ten_a", "ep_1", i, at(time.Duration(i)*time.Minute)))
	}
	cs = append(cs, callOf("ten_b", "ep_9", 10, at(time.Minute)), callOf("ten_b", "ep_9", 11, at(time.Hour)))
	noErr(t, "AddCalls", s.AddCalls(ctx, cs))

	n, err := s.PruneCalls(ctx, at(3*time.Minute))
	noErr(t, "PruneCalls", err)
	if n != 4 {
		t.Fatalf("PruneCalls pruned %d, want 4 (three of ten_a, one of ten_b)", n)
	}
	got, err := s.ListCalls(ctx, "ten_a", "ep_1", "", 0)
	noErr(t, "ListCalls", err)
	same(t, "ten_a's calls after the prune", got, cs[3:6])
	got, err = s.ListCalls(ctx, "ten_b", "ep_9", "", 0)
	noErr(t, "ListCalls", err)
	same(t, "ten_b's calls after the prune", got, cs[7:])
	n, err = s.PruneCalls(ctx, at(3*time.Minute))
	noErr(t, "PruneCalls again", err)
	if n != 0 {
		t.Fatalf("a second prune pruned %d", n)
	}
}
