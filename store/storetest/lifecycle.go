package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/tenants"
)

// LifecycleStore is a Store that also removes tenant data on request.
type LifecycleStore interface {
	Store
	tenants.Deleter
	delivery.TenantPruner
	// ExpungeMessage drops the payload of a tenant's message, keeping its id, type and times; delivery.ErrNotFound
	// when absent or another tenant's.
	ExpungeMessage(ctx context.Context, tenantID, id string, at time.Time) (*delivery.Message, error)
}

// LifecycleHooks let the suite look under a store.
type LifecycleHooks struct {
	// Reopen opens s's data again in a new store, as a restart would (closing s first where two cannot share the
	// data; the suite closes s otherwise).
	Reopen func(t *testing.T, s LifecycleStore) LifecycleStore
	// Dump lists, as text, everything the store holds: every key, and the members, fields and values under it that
	// may name a tenant, endpoint, message or delivery.
	Dump func(t *testing.T, s LifecycleStore) []string
}

// RunLifecycle runs the conformance tests of tenant-data removal. open returns a fresh, empty store; RunLifecycle
// closes it.
func RunLifecycle(t *testing.T, open func(t *testing.T) LifecycleStore, h LifecycleHooks) {
	runCases(t, open, []testCase[LifecycleStore]{
		{"ExpungeMessage", testExpungeMessage},
		{"TenantDelete", func(t *testing.T, s LifecycleStore) { testTenantDelete(t, s, h) }},
		{"TenantDeleteResumes", func(t *testing.T, s LifecycleStore) { testTenantDeleteResumes(t, s, h) }},
		{"TenantDeleteRefusals", testTenantDeleteRefusals},
		{"PruneByTenant", testPruneByTenant},
		{"TenantRetention", testTenantRetention},
	})
}

func testExpungeMessage(t *testing.T, s LifecycleStore) {
	ctx := context.Background()
	m, ds := publish(t, s, "t1", at(0), at(0), "ep1", "ep2")
	other, _ := publish(t, s, "t1", at(time.Second), at(time.Second), "ep1")

	if _, err := s.ExpungeMessage(ctx, "t2", m.ID, at(time.Minute)); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("another tenant's expunge: %v, want ErrNotFound", err)
	}
	if _, err := s.ExpungeMessage(ctx, "t1", "msg_nope", at(time.Minute)); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("an unknown message: %v, want ErrNotFound", err)
	}
	if got, err := s.GetMessage(ctx, "t1", m.ID); err != nil || string(got.Data) != string(m.Data) {
		t.Fatalf("before: %v %v", got, err)
	}
	x, err := s.ExpungeMessage(ctx, "t1", m.ID, at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !x.ExpungedAt.Equal(at(time.Minute)) || (len(x.Data) != 0 && string(x.Data) != "null") {
		t.Fatalf("expunge answered %+v", x)
	}
	got, err := s.GetMessage(ctx, "t1", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 0 && string(got.Data) != "null" {
		t.Fatalf("the payload survived: %s", got.Data)
	}
	if got.ID != m.ID || got.Type != m.Type || !got.CreatedAt.Equal(m.CreatedAt) || !got.Timestamp.Equal(m.Timestamp) ||
		!got.ExpungedAt.Equal(at(time.Minute)) {
		t.Fatalf("the record lost its head: %+v, want %+v", got, m)
	}
	// A second expunge keeps the first time.
	if x, err := s.ExpungeMessage(ctx, "t1", m.ID, at(time.Hour)); err != nil || !x.ExpungedAt.Equal(at(time.Minute)) {
		t.Fatalf("again: %+v %v", x, err)
	}
	// The log keeps the deliveries.
	dl, err := s.ListDeliveries(ctx, "t1", delivery.Filter{MessageID: m.ID, Limit: 10})
	if err != nil || len(dl) != len(ds) {
		t.Fatalf("deliveries after expunge: %d, %v; want %d", len(dl), err, len(ds))
	}
	// Another message is untouched.
	if got, err := s.GetMessage(ctx, "t1", other.ID); err != nil || string(got.Data) != string(other.Data) || !got.ExpungedAt.IsZero() {
		t.Fatalf("another message: %+v %v", got, err)
	}
}

// tenantData is what seedTenant stored for one tenant.
type tenantData struct {
	id        string
	eps       []string
	tokens    [][32]byte
	session   [32]byte
	msgs      []*delivery.Message
	dlvs      []*delivery.Delivery
	idemKey   string
	inFlight  delivery.Task
	ownsTasks func(ts []delivery.Task) int
}

// seedTenant stores a tenant with everything a tenant can have: tokens, a portal session, endpoints (one rate
// limited, one held), messages with pending, leased, finished and ordered deliveries, a message without deliveries,
// one with an idempotency key, and call log entries. n scales the number of messages.
func seedTenant(t *testing.T, s LifecycleStore, id string, n int) *tenantData {
	t.Helper()
	ctx := t.Context()
	d := &tenantData{id: id, eps: []string{id + "-ep1", id + "-ep2"}, idemKey: "idem-" + id}
	noErr(t, "CreateTenant", s.CreateTenant(ctx, &tenants.Tenant{ID: id, Name: id, CreatedAt: base}))
	for i := range 2 {
		h := sha256.Sum256([]byte(fmt.Sprintf("token-%s-%d", id, i)))
		noErr(t, "CreateToken", s.CreateToken(ctx, &tenants.Token{ID: fmt.Sprintf("tok_%s_%d", id, i), TenantID: id,
			Hash: h, CreatedAt: base}))
		d.tokens = append(d.tokens, h)
	}
	d.session = sha256.Sum256([]byte("portal-" + id))
	noErr(t, "CreatePortalSession", s.CreatePortalSession(ctx, &tenants.PortalSession{ID: "ps_" + id, TenantID: id,
		Hash: d.session, CreatedAt: base, ExpiresAt: at(time.Hour)}))
	for i, ep := range d.eps {
		e := endpoint(id, ep)
		if i == 0 {
			e.OrderingOnFailure = endpoints.OrderingBlock // its dead ordered head holds its key (below)
		}
		noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, e))
	}
	noErr(t, "HoldSlow", s.HoldSlow(ctx, d.eps[1], at(time.Hour)))
	for i := range n {
		m, ds := publish(t, s, id, at(time.Duration(i)*time.Millisecond), at(0), d.eps...)
		d.msgs, d.dlvs = append(d.msgs, m), append(d.dlvs, ds...)
	}
	// Ordered deliveries: the second waits behind the first.
	for range 2 {
		m := message(id, at(time.Second))
		dl := deliveryOf(m, d.eps[0], at(0))
		dl.OrderingKey = "order-7"
		_, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{dl}, time.Time{})
		noErr(t, "Publish ordered", err)
		d.msgs, d.dlvs = append(d.msgs, m), append(d.dlvs, dl)
	}
	lone := message(id, at(2*time.Second)) // no deliveries
	lone.IdempotencyKey = d.idemKey
	_, _, _, err := s.Publish(ctx, lone, nil, at(-time.Hour))
	noErr(t, "Publish lone", err)
	d.msgs = append(d.msgs, lone)
	mine := map[string]bool{}
	for _, dl := range d.dlvs {
		mine[dl.ID] = true
	}
	d.ownsTasks = func(ts []delivery.Task) int {
		c := 0
		for _, tk := range ts {
			if mine[tk.DeliveryID] {
				c++
			}
		}
		return c
	}
	// One delivery finished, one in flight.
	ts, err := s.Claim(ctx, at(time.Minute), delivery.ClaimOptions{Max: 1000, Lease: lease})
	noErr(t, "Claim", err)
	var own []delivery.Task
	head := d.dlvs[len(d.dlvs)-2].ID // the first ordered delivery: it dies and holds its key
	for _, tk := range ts {
		if tk.DeliveryID == head {
			noErr(t, "Fail dead", s.Fail(ctx, tk, attempt(at(time.Minute), 500), delivery.StatusDead))
			continue
		}
		if mine[tk.DeliveryID] {
			own = append(own, tk)
		} else {
			noErr(t, "Release", s.Release(ctx, tk, at(time.Minute)))
		}
	}
	if len(own) < 2 {
		t.Fatalf("seed %s: claimed %d own tasks", id, len(own))
	}
	noErr(t, "Ack", s.Ack(ctx, own[0], attempt(at(time.Minute), 200)))
	noErr(t, "Nack", s.Nack(ctx, own[1], attempt(at(time.Minute), 500), at(time.Minute)))
	for _, tk := range own[2 : len(own)-1] {
		noErr(t, "Release", s.Release(ctx, tk, at(time.Minute)))
	}
	d.inFlight = own[len(own)-1]
	var cs []*calls.Call
	for i := range 3 {
		c := callOf(id, d.eps[0], i, at(time.Duration(i)*time.Second))
		c.ID = fmt.Sprintf("call_%s_%d", id, i)
		c.WebhookID = d.msgs[0].ID
		cs = append(cs, c)
	}
	noErr(t, "AddCalls", s.AddCalls(ctx, cs))
	return d
}

// assertGone checks through the store's reads that nothing of the tenant is left, and in the dump that no key,
// member or value names it, its endpoints, messages or deliveries.
func assertGone(t *testing.T, s LifecycleStore, h LifecycleHooks, d *tenantData) {
	t.Helper()
	ctx := t.Context()
	_, err := s.GetTenant(ctx, d.id)
	isErr(t, "GetTenant after delete", err, tenants.ErrNotFound)
	for _, h := range d.tokens {
		_, err := s.TokenByHash(ctx, h)
		isErr(t, "TokenByHash after delete", err, tenants.ErrToken)
	}
	_, err = s.PortalSessionByHash(ctx, d.session)
	isErr(t, "PortalSessionByHash after delete", err, tenants.ErrToken)
	toks, err := s.ListTokens(ctx, d.id)
	noErr(t, "ListTokens", err)
	eps, err := s.ListEndpoints(ctx, d.id, "", 0)
	noErr(t, "ListEndpoints", err)
	dls, err := s.ListDeliveries(ctx, d.id, delivery.Filter{})
	noErr(t, "ListDeliveries", err)
	cs, err := s.ListCalls(ctx, d.id, d.eps[0], "", 0)
	noErr(t, "ListCalls", err)
	if len(toks)+len(eps)+len(dls)+len(cs) > 0 {
		t.Errorf("left after delete: %d tokens, %d endpoints, %d deliveries, %d calls", len(toks), len(eps), len(dls), len(cs))
	}
	for _, m := range d.msgs {
		if _, err := s.GetMessage(ctx, d.id, m.ID); !errors.Is(err, delivery.ErrNotFound) {
			t.Errorf("GetMessage %s after delete: %v", m.ID, err)
		}
	}
	ids, err := s.DeletingTenants(ctx)
	noErr(t, "DeletingTenants", err)
	ts, err := s.ListTenants(ctx, "", 0)
	noErr(t, "ListTenants", err)
	for _, tn := range ts {
		ids = append(ids, tn.ID)
	}
	for _, id := range ids {
		if id == d.id {
			t.Errorf("tenant %s still listed", id)
		}
	}
	if h.Dump == nil {
		return
	}
	names := []string{d.id}
	for _, m := range d.msgs {
		names = append(names, m.ID)
	}
	for _, dl := range d.dlvs {
		names = append(names, dl.ID)
	}
	left := 0
	for _, line := range h.Dump(t, s) {
		for _, n := range names {
			if strings.Contains(line, n) {
				if left++; left <= 10 {
					t.Errorf("the store still holds %q (names %s)", line, n)
				}
				break
			}
		}
	}
}

// assertIntact checks that a tenant's data is all there and its deliveries are still served.
func assertIntact(t *testing.T, s LifecycleStore, d *tenantData, reopened bool) {
	t.Helper()
	ctx := t.Context()
	_, err := s.GetTenant(ctx, d.id)
	noErr(t, "GetTenant of the other tenant", err)
	for _, h := range d.tokens {
		_, err := s.TokenByHash(ctx, h)
		noErr(t, "TokenByHash of the other tenant", err)
	}
	_, err = s.PortalSessionByHash(ctx, d.session)
	noErr(t, "PortalSessionByHash of the other tenant", err)
	eps, err := s.ListEndpoints(ctx, d.id, "", 0)
	noErr(t, "ListEndpoints", err)
	dls, err := s.ListDeliveries(ctx, d.id, delivery.Filter{})
	noErr(t, "ListDeliveries", err)
	cs, err := s.ListCalls(ctx, d.id, d.eps[0], "", 0)
	noErr(t, "ListCalls", err)
	if len(eps) != len(d.eps) || len(dls) != len(d.dlvs) || len(cs) != 3 {
		t.Errorf("the other tenant: %d endpoints, %d deliveries, %d calls; want %d, %d, 3", len(eps), len(dls), len(cs),
			len(d.eps), len(d.dlvs))
	}
	for _, m := range d.msgs {
		got, err := s.GetMessage(ctx, d.id, m.ID)
		if err != nil || string(got.Data) != string(m.Data) {
			t.Errorf("the other tenant's message %s: %v", m.ID, err)
		}
	}
	if !reopened { // an embedded store's leases do not outlive it
		noErr(t, "Ack of the other tenant's task in flight", s.Ack(ctx, d.inFlight, attempt(at(time.Minute), 200)))
	}
	ts := claim(t, s, at(time.Hour+time.Minute), 1000, 0)
	if d.ownsTasks(ts) == 0 {
		t.Errorf("the other tenant's deliveries are no longer served")
	}
}

// peekClaim claims what is due at now and gives it all back, due at now again.
func peekClaim(t *testing.T, s LifecycleStore, now time.Time) []delivery.Task {
	t.Helper()
	ts := claim(t, s, now, 1000, 0)
	for _, tk := range ts {
		noErr(t, "Release", s.Release(t.Context(), tk, now))
	}
	return ts
}

// testTenantDelete: a marked tenant is gone for authentication and the queue at once; the purge removes every
// record of it and nothing of another tenant.
func testTenantDelete(t *testing.T, s LifecycleStore, h LifecycleHooks) {
	ctx := t.Context()
	doomed := seedTenant(t, s, "doomed", 3)
	keeper := seedTenant(t, s, "keeper", 3)

	tn, err := s.MarkTenantDeleting(ctx, "doomed", at(time.Hour))
	noErr(t, "MarkTenantDeleting", err)
	if !tn.DeletingAt.Equal(at(time.Hour)) {
		t.Fatalf("marked %+v", tn)
	}
	again, err := s.MarkTenantDeleting(ctx, "doomed", at(2*time.Hour))
	noErr(t, "MarkTenantDeleting again", err)
	same(t, "deleting time kept", again.DeletingAt, at(time.Hour))
	got, err := s.GetTenant(ctx, "doomed")
	noErr(t, "GetTenant while deleting", err)
	if !got.Deleting() {
		t.Fatalf("GetTenant while deleting: %+v", got)
	}
	ids, err := s.DeletingTenants(ctx)
	noErr(t, "DeletingTenants", err)
	same(t, "DeletingTenants", ids, []string{"doomed"})
	for _, hh := range doomed.tokens {
		_, err := s.TokenByHash(ctx, hh)
		isErr(t, "TokenByHash while deleting", err, tenants.ErrToken)
	}
	_, err = s.PortalSessionByHash(ctx, doomed.session)
	isErr(t, "PortalSessionByHash while deleting", err, tenants.ErrToken)
	if n := doomed.ownsTasks(peekClaim(t, s, at(time.Hour+time.Minute))); n > 0 {
		t.Fatalf("claimed %d deliveries of a deleting tenant", n)
	}

	done, err := s.PurgeTenant(ctx, "doomed", 0)
	noErr(t, "PurgeTenant", err)
	if !done {
		t.Fatal("PurgeTenant: not done without a step limit")
	}
	isErr(t, "Ack of the deleted tenant's task in flight", s.Ack(ctx, doomed.inFlight, attempt(at(time.Minute), 200)),
		delivery.ErrLeaseLost)
	assertGone(t, s, h, doomed)
	assertIntact(t, s, keeper, false)
	done, err = s.PurgeTenant(ctx, "doomed", 0)
	if err != nil || !done {
		t.Errorf("PurgeTenant of a tenant gone = %v, %v; want done", done, err)
	}

	// The id can be used again, from scratch: the old idempotency key is gone.
	noErr(t, "CreateTenant again", s.CreateTenant(ctx, &tenants.Tenant{ID: "doomed", CreatedAt: base}))
	m := message("doomed", at(3*time.Hour))
	m.IdempotencyKey = doomed.idemKey
	_, _, existing, err := s.Publish(ctx, m, nil, at(-time.Hour))
	noErr(t, "Publish again", err)
	if existing {
		t.Error("the deleted tenant's idempotency key survived")
	}
}

// testTenantDeleteResumes: a purge stopped after one step, and the store closed, is finished after a reopen; in
// between the tenant stays gone for authentication and the queue.
func testTenantDeleteResumes(t *testing.T, s LifecycleStore, h LifecycleHooks) {
	ctx := t.Context()
	doomed := seedTenant(t, s, "doomed", 40)
	keeper := seedTenant(t, s, "keeper", 3)
	_, err := s.MarkTenantDeleting(ctx, "doomed", at(time.Hour))
	noErr(t, "MarkTenantDeleting", err)
	done, err := s.PurgeTenant(ctx, "doomed", 1)
	noErr(t, "PurgeTenant one step", err)
	if done {
		t.Fatal("PurgeTenant took one step and was done")
	}
	if h.Reopen != nil {
		s = h.Reopen(t, s)
	}
	got, err := s.GetTenant(ctx, "doomed")
	noErr(t, "GetTenant after reopen", err)
	if !got.Deleting() {
		t.Fatalf("after reopen: %+v", got)
	}
	for _, hh := range doomed.tokens {
		_, err := s.TokenByHash(ctx, hh)
		isErr(t, "TokenByHash after reopen", err, tenants.ErrToken)
	}
	if n := doomed.ownsTasks(peekClaim(t, s, at(time.Hour+time.Minute))); n > 0 {
		t.Fatalf("claimed %d deliveries of a deleting tenant after reopen", n)
	}
	ids, err := s.DeletingTenants(ctx)
	noErr(t, "DeletingTenants", err)
	same(t, "DeletingTenants after reopen", ids, []string{"doomed"})
	for _, id := range ids {
		done, err := s.PurgeTenant(ctx, id, 0)
		noErr(t, "PurgeTenant resumed", err)
		if !done {
			t.Fatal("resumed PurgeTenant not done")
		}
	}
	assertGone(t, s, h, doomed)
	assertIntact(t, s, keeper, h.Reopen != nil)
}

// testTenantDeleteRefusals: an unknown tenant cannot be marked; a tenant not marked is not purged.
func testTenantDeleteRefusals(t *testing.T, s LifecycleStore) {
	ctx := t.Context()
	_, err := s.MarkTenantDeleting(ctx, "nobody", base)
	isErr(t, "MarkTenantDeleting unknown", err, tenants.ErrNotFound)
	noErr(t, "CreateTenant", s.CreateTenant(ctx, &tenants.Tenant{ID: "alive", CreatedAt: base}))
	_, err = s.PurgeTenant(ctx, "alive", 0)
	isErr(t, "PurgeTenant of a tenant not deleting", err, tenants.ErrNotDeleting)
	_, err = s.GetTenant(ctx, "alive")
	noErr(t, "GetTenant after a refused purge", err)
	ids, err := s.DeletingTenants(ctx)
	noErr(t, "DeletingTenants", err)
	if len(ids) != 0 {
		t.Errorf("DeletingTenants = %v", ids)
	}
}

// testPruneByTenant: each tenant's finished deliveries and messages go at its own cutoff; a tenant kept longer keeps
// them, and a pending delivery is never pruned.
func testPruneByTenant(t *testing.T, s LifecycleStore) {
	ctx := t.Context()
	type seeded struct {
		m   *delivery.Message
		ds  []*delivery.Delivery
		own bool // pending, never pruned
	}
	all := map[string][]seeded{}
	for _, tenant := range []string{"short", "long", "default"} {
		for i := range 3 {
			m, ds := publish(t, s, tenant, at(time.Duration(i)*time.Second), at(0), tenant+"-ep")
			all[tenant] = append(all[tenant], seeded{m: m, ds: ds})
		}
		lone := message(tenant, at(time.Second)) // no deliveries at all
		_, _, _, err := s.Publish(ctx, lone, nil, time.Time{})
		noErr(t, "Publish", err)
		all[tenant] = append(all[tenant], seeded{m: lone})
	}
	// Finish every delivery but the last of each tenant.
	for _, tk := range claim(t, s, at(time.Minute), 100, 0) {
		last := false
		for _, sd := range all {
			if sd[2].ds[0].ID == tk.DeliveryID {
				last = true
			}
		}
		if last {
			noErr(t, "Release", s.Release(ctx, tk, at(time.Minute)))
			continue
		}
		noErr(t, "Ack", s.Ack(ctx, tk, attempt(at(time.Minute), 200)))
	}
	for tenant, sd := range all {
		sd[2].own = true
		all[tenant] = sd
	}
	cut := map[string]time.Time{"short": at(time.Hour), "long": at(-time.Hour)}
	n, err := s.PruneBy(ctx, at(time.Hour), func(tenant string) time.Time {
		if c, ok := cut[tenant]; ok {
			return c
		}
		return at(time.Hour)
	})
	noErr(t, "PruneBy", err)
	if n != 4 {
		t.Errorf("PruneBy deleted %d deliveries, want 4 (two of short's, two of default's)", n)
	}
	for tenant, sd := range all {
		for i, x := range sd {
			kept := tenant == "long" || x.own
			_, err := s.GetMessage(ctx, tenant, x.m.ID)
			if kept && err != nil || !kept && !errors.Is(err, delivery.ErrNotFound) {
				t.Errorf("%s's message %d: %v, kept %v", tenant, i, err, kept)
			}
			for _, d := range x.ds {
				_, err := s.GetDelivery(ctx, tenant, d.ID)
				if kept && err != nil || !kept && !errors.Is(err, delivery.ErrNotFound) {
					t.Errorf("%s's delivery %d: %v, kept %v", tenant, i, err, kept)
				}
			}
		}
	}
	// Later, with the long tenant's cutoff past too, its finished deliveries go.
	n, err = s.PruneBy(ctx, at(time.Hour), func(string) time.Time { return at(time.Hour) })
	noErr(t, "PruneBy", err)
	if n != 2 {
		t.Errorf("the second PruneBy deleted %d deliveries, want the long tenant's 2", n)
	}
}

// testTenantRetention: a tenant's own retention is stored and read back, reset with 0, and refused for a tenant
// unknown or being deleted.
func testTenantRetention(t *testing.T, s LifecycleStore) {
	ctx := t.Context()
	noErr(t, "CreateTenant", s.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme", CreatedAt: base}))
	got, err := s.SetTenantRetention(ctx, "acme", 30*24*time.Hour)
	noErr(t, "SetTenantRetention", err)
	same(t, "SetTenantRetention answer", got, &tenants.Tenant{ID: "acme", Name: "Acme", CreatedAt: base, Retention: 30 * 24 * time.Hour})
	read, err := s.GetTenant(ctx, "acme")
	noErr(t, "GetTenant", err)
	same(t, "GetTenant after SetTenantRetention", read, got)
	_, err = s.SetTenantRetention(ctx, "acme", 0)
	noErr(t, "SetTenantRetention 0", err)
	read, err = s.GetTenant(ctx, "acme")
	noErr(t, "GetTenant", err)
	same(t, "retention after a reset", read.Retention, time.Duration(0))
	_, err = s.SetTenantRetention(ctx, "nobody", time.Hour)
	isErr(t, "SetTenantRetention unknown", err, tenants.ErrNotFound)
	_, err = s.MarkTenantDeleting(ctx, "acme", at(time.Hour))
	noErr(t, "MarkTenantDeleting", err)
	_, err = s.SetTenantRetention(ctx, "acme", time.Hour)
	isErr(t, "SetTenantRetention while deleting", err, tenants.ErrNotFound)
}
