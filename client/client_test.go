package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/wire"
)

// newTest starts the API and a receiver (see startServer in example_test.go) and returns an operator client, the
// API's URL and the receiver's.
func newTest(t *testing.T, opts ...client.Option) (c *client.Client, serverURL, receiverURL string) {
	t.Helper()
	srv, rcv, stop := startServer()
	t.Cleanup(stop)
	return client.New(srv, operatorToken, opts...), srv, rcv
}

// result is a call's value and error; must(f()).ok(t) fails the test on the error.
type result[T any] struct {
	v   T
	err error
}

func must[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) ok(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// wantCode checks that err is an *client.Error with this status and code, and returns it.
func wantCode(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	e, ok := errors.AsType[*client.Error](err)
	if !ok {
		t.Fatalf("error %v (%T), want a *client.Error %s", err, err, code)
	}
	if e.Status != status || e.Code != code || !client.IsCode(err, code) || e.Message == "" {
		t.Fatalf("error %+v, want status %d, code %s and a message", e, status, code)
	}
	return e
}

// collect drains an iterator, failing on its error.
func collect[T any](t *testing.T, seq iter.Seq2[T, error]) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// smallPages makes the iterators ask for pages of two, so that they walk several.
func smallPages(t *testing.T) {
	t.Cleanup(client.SetPageSize(2))
}

func TestTenantsAndTokens(t *testing.T) {
	ctx := context.Background()
	c, srv, _ := newTest(t)
	smallPages(t)

	acme := must(c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"})).ok(t)
	if acme.ID != "acme" || acme.Name != "Acme" || acme.CreatedAt.IsZero() {
		t.Fatalf("created %+v", acme)
	}
	gen := must(c.CreateTenant(ctx, wire.CreateTenant{Name: "Generated"})).ok(t)
	if !strings.HasPrefix(gen.ID, "ten_") {
		t.Fatalf("generated id %q", gen.ID)
	}
	for _, id := range []string{"beta", "gamma", "delta"} {
		must(c.CreateTenant(ctx, wire.CreateTenant{ID: id, Name: id})).ok(t)
	}
	_, err := c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "again"})
	wantCode(t, err, 409, wire.CodeConflict)
	if !client.IsConflict(err) || client.IsNotFound(err) {
		t.Fatal("IsConflict or IsNotFound disagrees with the code")
	}
	_, err = c.CreateTenant(ctx, wire.CreateTenant{ID: "bad id!", Name: "x"})
	e := wantCode(t, err, 422, wire.CodeValidation)
	if e.Field != "id" {
		t.Fatalf("validation error names field %q, want id", e.Field)
	}

	if got := must(c.GetTenant(ctx, "acme")).ok(t); *got != *acme {
		t.Fatalf("get %+v, want %+v", got, acme)
	}
	_, err = c.GetTenant(ctx, "nope")
	wantCode(t, err, 404, wire.CodeNotFound)

	// One page at a time, then every page.
	p1 := must(c.ListTenants(ctx, client.Page{Limit: 3})).ok(t)
	if len(p1.Data) != 3 || p1.Next == "" {
		t.Fatalf("first page %+v", p1)
	}
	p2 := must(c.ListTenants(ctx, client.Page{Limit: 3, After: p1.Next})).ok(t)
	if len(p2.Data) != 2 || p2.Next != "" || p2.Data[0].ID == p1.Data[0].ID {
		t.Fatalf("second page %+v", p2)
	}
	all := collect(t, c.Tenants(ctx))
	if len(all) != 5 {
		t.Fatalf("iterated %d tenants, want 5", len(all))
	}
	for i := range all[:3] {
		if all[i].ID != p1.Data[i].ID {
			t.Fatalf("iterator order %v differs from the pages %v", all, p1.Data)
		}
	}
	n := 0
	for range c.Tenants(ctx) {
		if n++; n == 3 {
			break // stopping early must not panic or fetch on
		}
	}
	_, err = c.ListTenants(ctx, client.Page{Limit: 500})
	if e := wantCode(t, err, 400, wire.CodeInvalidParameter); e.Field != "limit" {
		t.Fatalf("field %q, want limit", e.Field)
	}

	// Tokens: the text only once; a tenant token reads its own tenant, nothing more, until revoked.
	tok := must(c.CreateToken(ctx, "acme", wire.CreateToken{Name: "console"})).ok(t)
	if !strings.HasPrefix(tok.Token, "wht_") || tok.TenantID != "acme" || tok.Name != "console" {
		t.Fatalf("token %+v", tok)
	}
	toks := must(c.ListTokens(ctx, "acme")).ok(t)
	if len(toks) != 1 || toks[0].ID != tok.ID || toks[0].Token != "" || !toks[0].RevokedAt.IsZero() {
		t.Fatalf("tokens %+v", toks)
	}
	tc := client.New(srv, tok.Token)
	must(tc.GetTenant(ctx, "acme")).ok(t)
	_, err = tc.GetTenant(ctx, "beta")
	wantCode(t, err, 404, wire.CodeNotFound)
	_, err = tc.CreateTenant(ctx, wire.CreateTenant{Name: "mine"})
	wantCode(t, err, 403, wire.CodeForbidden)
	_, err = tc.ListTokens(ctx, "acme")
	wantCode(t, err, 403, wire.CodeForbidden)

	if err := c.RevokeToken(ctx, "acme", tok.ID); err != nil {
		t.Fatal(err)
	}
	if toks := must(c.ListTokens(ctx, "acme")).ok(t); toks[0].RevokedAt.IsZero() {
		t.Fatalf("revoked token %+v has no revoked_at", toks[0])
	}
	_, err = tc.GetTenant(ctx, "acme")
	wantCode(t, err, 401, wire.CodeUnauthorized)
	wantCode(t, c.RevokeToken(ctx, "acme", "tok_none"), 404, wire.CodeNotFound)
}

func TestEventsAndCatalogue(t *testing.T) {
	ctx := context.Background()
	c, _, rcv := newTest(t)
	smallPages(t)
	must(c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"})).ok(t)
	must(c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: &rcv})).ok(t)

	// The catalogue.
	schema := json.RawMessage(`{"type":"object","required":["device_id"]}`)
	et, created, err := c.PutEventType(ctx, wire.PutEventType{Name: "device.enrolled", Description: "a device joined", Schema: schema})
	if err != nil || !created || et.Name != "device.enrolled" || et.Description != "a device joined" {
		t.Fatalf("put: %+v, created %v, %v", et, created, err)
	}
	if _, created, err = c.PutEventType(ctx, wire.PutEventType{Name: "device.enrolled", Schema: schema}); err != nil || created {
		t.Fatalf("replace: created %v, %v", created, err)
	}
	for _, name := range []string{"device.wiped", "device.locked"} {
		must(nil3(c.PutEventType(ctx, wire.PutEventType{Name: name}))).ok(t)
	}
	if got := must(c.GetEventType(ctx, "device.enrolled")).ok(t); got.Description != "" || len(got.Schema) == 0 {
		t.Fatalf("the replaced type is %+v", got)
	}
	if l := must(c.ListEventTypes(ctx, client.Page{Limit: 2})).ok(t); len(l.Data) != 2 || l.Next == "" {
		t.Fatalf("page %+v", l)
	}
	own := 0 // the catalogue also holds webhookd's operational event types
	for _, et := range collect(t, c.EventTypes(ctx)) {
		if !strings.HasPrefix(et.Name, "webhookd.") {
			own++
		}
	}
	if own != 3 {
		t.Fatalf("iterated %d types of the tenant's, want 3", own)
	}

	// Publish: the fields are checked, the id is the idempotency key, the timestamp is kept.
	_, err = c.Publish(ctx, "acme", wire.Event{Type: "device.enrolled", Timestamp: ptr("yesterday")})
	if e := wantCode(t, err, 422, wire.CodeValidation); e.Field != "timestamp" {
		t.Fatalf("field %q", e.Field)
	}
	at := time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)
	ev := wire.Event{Type: "device.enrolled", ID: "enroll-1", Data: json.RawMessage(`{"device_id":"d1"}`), Timestamp: wire.Time(at)}
	first := must(c.Publish(ctx, "acme", ev)).ok(t)
	if !strings.HasPrefix(first.ID, "msg_") || first.Fanout != 1 || first.Duplicate {
		t.Fatalf("publish %+v", first)
	}
	again := must(c.Publish(ctx, "acme", ev)).ok(t)
	if again.ID != first.ID || !again.Duplicate {
		t.Fatalf("a repeated id answers %+v, want the first message as a duplicate", again)
	}
	m := must(c.GetMessage(ctx, "acme", first.ID)).ok(t)
	if !m.Timestamp.Equal(at) || m.IdempotencyKey != "enroll-1" || string(m.Data) != `{"device_id":"d1"}` || len(m.Deliveries) != 1 {
		t.Fatalf("message %+v", m)
	}
	_, err = c.Publish(ctx, "nope", wire.Event{Type: "x"})
	wantCode(t, err, 404, wire.CodeNotFound)

	// The batch answers in order; an id repeated in it answers its first event's message.
	res := must(c.PublishBatch(ctx, "acme", []wire.Event{
		{Type: "device.wiped", ID: "b-1"},
		{Type: "device.locked"},
		{Type: "device.wiped", ID: "b-1"},
	})).ok(t)
	if len(res) != 3 || res[0].Duplicate || res[1].Duplicate || !res[2].Duplicate || res[2].ID != res[0].ID || res[1].ID == res[0].ID {
		t.Fatalf("batch %+v", res)
	}
	if m := must(c.GetMessage(ctx, "acme", res[1].ID)).ok(t); m.Type != "device.locked" {
		t.Fatalf("batch message 1 is %+v", m)
	}
	_, err = c.PublishBatch(ctx, "acme", []wire.Event{{Type: "ok"}, {Type: "bad type"}})
	if e := wantCode(t, err, 422, wire.CodeValidation); e.Field != "events[1].type" {
		t.Fatalf("field %q", e.Field)
	}

	if err := c.DeleteEventType(ctx, "device.locked"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEventType(ctx, "device.locked")
	wantCode(t, err, 404, wire.CodeNotFound)
	wantCode(t, c.DeleteEventType(ctx, "device.locked"), 404, wire.CodeNotFound)
}

// nil3 keeps the first value and the error of a three-value call.
func nil3[T any](v T, _ bool, err error) (T, error) { return v, err }

func TestEndpoints(t *testing.T) {
	ctx := context.Background()
	c, _, rcv := newTest(t)
	smallPages(t)
	must(c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"})).ok(t)

	ep := must(c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{
		URL: &rcv, Description: ptr("main"), Events: &[]string{"device.*"}, Timeout: wire.Duration(2 * time.Second),
		Headers: &map[string]string{"X-Env": "test"}, Metadata: &map[string]string{"team": "mdm"}, RateLimit: ptr(5.0),
	})).ok(t)
	if !strings.HasPrefix(ep.ID, "ep_") || ep.URL != rcv || ep.Timeout != "2s" || ep.Headers["X-Env"] != "test" ||
		ep.Metadata["team"] != "mdm" || ep.RateLimit != 5 || ep.Profile != "standard" || ep.Signing != "hmac" || len(ep.Keys) != 1 {
		t.Fatalf("created %+v", ep)
	}
	for range 2 {
		must(c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: &rcv})).ok(t)
	}
	if got := must(c.GetEndpoint(ctx, "acme", ep.ID)).ok(t); got.ID != ep.ID || got.Description != "main" {
		t.Fatalf("get %+v", got)
	}
	if l := must(c.ListEndpoints(ctx, "acme", client.Page{Limit: 2})).ok(t); len(l.Data) != 2 || l.Next == "" {
		t.Fatalf("page %+v", l)
	}
	if all := collect(t, c.Endpoints(ctx, "acme")); len(all) != 3 {
		t.Fatalf("iterated %d endpoints, want 3", len(all))
	}

	// Errors the API gives endpoints: the URL policy, the handshake (with its details), validation, not found.
	_, err := c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: ptr("ftp://example.com/hooks")})
	if e := wantCode(t, err, 422, wire.CodeForbiddenURL); e.Field != "url" {
		t.Fatalf("field %q", e.Field)
	}
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer dead.Close()
	_, err = c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: &dead.URL})
	e := wantCode(t, err, 422, wire.CodeHandshakeFailed)
	var hd wire.HandshakeDetails
	if err := json.Unmarshal(e.Details, &hd); err != nil || hd.Status != http.StatusTeapot {
		t.Fatalf("handshake details %s: %+v, %v", e.Details, hd, err)
	}
	_, err = c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: &rcv, Timeout: json.RawMessage(`"soon"`)})
	if e := wantCode(t, err, 422, wire.CodeValidation); e.Field != "timeout" {
		t.Fatalf("field %q", e.Field)
	}
	_, err = c.GetEndpoint(ctx, "acme", "ep_none")
	wantCode(t, err, 404, wire.CodeNotFound)

	// Update changes only what is given.
	up := must(c.UpdateEndpoint(ctx, "acme", ep.ID, wire.EndpointRequest{Description: ptr("renamed"), Timeout: wire.Duration(500 * time.Millisecond)})).ok(t)
	if up.Description != "renamed" || up.Timeout != "500ms" || up.Headers["X-Env"] != "test" || up.Events[0] != "device.*" {
		t.Fatalf("updated %+v", up)
	}

	if d := must(c.DisableEndpoint(ctx, "acme", ep.ID)).ok(t); !d.Disabled || d.DisabledReason != "manual" {
		t.Fatalf("disabled %+v", d)
	}
	if en := must(c.EnableEndpoint(ctx, "acme", ep.ID)).ok(t); en.Disabled {
		t.Fatalf("enabled %+v", en)
	}

	// Rotation keeps the old key beside the new one; the secret shows both, newest first.
	before := must(c.EndpointSecret(ctx, "acme", ep.ID)).ok(t)
	rot := must(c.RotateEndpoint(ctx, "acme", ep.ID, wire.Rotate{Grace: wire.Duration(time.Hour)})).ok(t)
	if len(rot.Keys) != 2 {
		t.Fatalf("after rotation %d keys, want 2", len(rot.Keys))
	}
	sec := must(c.EndpointSecret(ctx, "acme", ep.ID)).ok(t)
	if sec.EndpointID != ep.ID || len(sec.Keys) != 2 || sec.Keys[1].Secret != before.Keys[0].Secret ||
		sec.Keys[0].Secret == "" || sec.Keys[0].Secret == sec.Keys[1].Secret || sec.Keys[1].ExpiresAt.IsZero() {
		t.Fatalf("secret before %+v, after %+v", before, sec)
	}

	sent := must(c.TestEndpoint(ctx, "acme", ep.ID, wire.TestEvent{Data: json.RawMessage(`{"hello":"world"}`)})).ok(t)
	if !strings.HasPrefix(sent.MessageID, "msg_") || !strings.HasPrefix(sent.DeliveryID, "dlv_") {
		t.Fatalf("test %+v", sent)
	}
	if m := must(c.GetMessage(ctx, "acme", sent.MessageID)).ok(t); m.Type != "webhookd.test" || string(m.Data) != `{"hello":"world"}` {
		t.Fatalf("test message %+v", m)
	}

	if err := c.DeleteEndpoint(ctx, "acme", ep.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEndpoint(ctx, "acme", ep.ID)
	wantCode(t, err, 404, wire.CodeNotFound)
	wantCode(t, c.DeleteEndpoint(ctx, "acme", ep.ID), 404, wire.CodeNotFound)
}

func TestDeliveryLog(t *testing.T) {
	ctx := context.Background()
	c, _, rcv := newTest(t)
	smallPages(t)
	must(c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"})).ok(t)
	a := must(c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: &rcv})).ok(t)
	b := must(c.CreateEndpoint(ctx, "acme", wire.EndpointRequest{URL: &rcv})).ok(t)
	var msgs []string
	for range 3 {
		msgs = append(msgs, must(c.Publish(ctx, "acme", wire.Event{Type: "device.enrolled"})).ok(t).ID)
	}

	if all := collect(t, c.Deliveries(ctx, "acme", client.DeliveryFilter{})); len(all) != 6 {
		t.Fatalf("iterated %d deliveries, want 6", len(all))
	}
	l := must(c.ListDeliveries(ctx, "acme", client.DeliveryFilter{Endpoint: a.ID, Page: client.Page{Limit: 2}})).ok(t)
	if len(l.Data) != 2 || l.Next == "" || l.Data[0].EndpointID != a.ID {
		t.Fatalf("page %+v", l)
	}
	if l2 := must(c.ListDeliveries(ctx, "acme", client.DeliveryFilter{Endpoint: a.ID, Page: client.Page{Limit: 2, After: l.Next}})).ok(t); len(l2.Data) != 1 || l2.Next != "" {
		t.Fatalf("second page %+v", l2)
	}
	byMsg := collect(t, c.Deliveries(ctx, "acme", client.DeliveryFilter{Message: msgs[0]}))
	if len(byMsg) != 2 || byMsg[0].MessageID != msgs[0] || byMsg[1].MessageID != msgs[0] {
		t.Fatalf("deliveries of %s: %+v", msgs[0], byMsg)
	}
	if none := collect(t, c.Deliveries(ctx, "acme", client.DeliveryFilter{Until: time.Now().Add(-time.Hour)})); len(none) != 0 {
		t.Fatalf("deliveries an hour old: %+v", none)
	}
	toB := collect(t, c.EndpointDeliveries(ctx, "acme", b.ID, client.DeliveryFilter{Since: time.Now().Add(-time.Hour)}))
	if len(toB) != 3 || toB[0].EndpointID != b.ID {
		t.Fatalf("deliveries to b: %+v", toB)
	}
	if p := must(c.ListEndpointDeliveries(ctx, "acme", b.ID, client.DeliveryFilter{Page: client.Page{Limit: 1}})).ok(t); len(p.Data) != 1 || p.Next == "" {
		t.Fatalf("page of b's deliveries %+v", p)
	}
	_, err := c.ListEndpointDeliveries(ctx, "acme", "ep_none", client.DeliveryFilter{})
	wantCode(t, err, 404, wire.CodeNotFound)
	_, err = c.ListDeliveries(ctx, "acme", client.DeliveryFilter{Status: "lost"})
	if e := wantCode(t, err, 400, wire.CodeInvalidParameter); e.Field != "status" {
		t.Fatalf("field %q", e.Field)
	}
	// An iterator yields the error and stops.
	var errs int
	for _, err := range c.Deliveries(ctx, "acme", client.DeliveryFilter{Status: "lost"}) {
		wantCode(t, err, 400, wire.CodeInvalidParameter)
		errs++
	}
	if errs != 1 {
		t.Fatalf("the iterator yielded %d errors, want 1", errs)
	}

	// The engine delivers to the receiver; the attempt log shows it.
	id := byMsg[0].ID
	var d *wire.DeliveryDetail
	for deadline := time.Now().Add(10 * time.Second); ; {
		d = must(c.GetDelivery(ctx, "acme", id)).ok(t)
		if d.Status == wire.StatusSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s is still %s", id, d.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d.Attempts != 1 || len(d.AttemptLog) != 1 || d.AttemptLog[0].StatusCode != http.StatusNoContent || d.AttemptLog[0].N != 1 {
		t.Fatalf("delivery %+v", d)
	}
	if s := collect(t, c.Deliveries(ctx, "acme", client.DeliveryFilter{Status: wire.StatusSucceeded})); len(s) == 0 {
		t.Fatal("no succeeded delivery in the log")
	}
	_, err = c.GetDelivery(ctx, "acme", "dlv_none")
	wantCode(t, err, 404, wire.CodeNotFound)
	_, err = c.GetMessage(ctx, "acme", "msg_none")
	wantCode(t, err, 404, wire.CodeNotFound)

	re := must(c.ReplayMessage(ctx, "acme", msgs[0], a.ID)).ok(t)
	if re.ID == id || re.MessageID != msgs[0] || re.EndpointID != a.ID {
		t.Fatalf("replay %+v", re)
	}
	_, err = c.ReplayMessage(ctx, "acme", msgs[0], "ep_none")
	wantCode(t, err, 404, wire.CodeNotFound)

	// Nothing failed, so nothing is recovered; an unknown endpoint is not found.
	if r := must(c.RecoverEndpoint(ctx, "acme", a.ID, time.Now().Add(-time.Hour))).ok(t); r.Replayed != 0 {
		t.Fatalf("recovered %d", r.Replayed)
	}
	_, err = c.RecoverEndpoint(ctx, "acme", "ep_none", time.Now())
	wantCode(t, err, 404, wire.CodeNotFound)
}

func TestOptionsAndTransport(t *testing.T) {
	ctx := context.Background()
	var (
		requests atomic.Int32
		raws     []string
	)
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		requests.Add(1)
		if got := r.Header.Get("User-Agent"); got != "console/1.0" {
			t.Errorf("User-Agent %q", got)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, _, _ := newTest(t, client.WithHTTPClient(hc), client.WithUserAgent("console/1.0"),
		client.WithRawAnswers(func(b []byte) { raws = append(raws, string(b)) }))
	must(c.CreateTenant(ctx, wire.CreateTenant{ID: "acme", Name: "Acme"})).ok(t)
	_, err := c.GetTenant(ctx, "nope")
	wantCode(t, err, 404, wire.CodeNotFound)
	if requests.Load() != 2 {
		t.Fatalf("%d requests went through the given http.Client, want 2", requests.Load())
	}
	// Only successful answers, as they came (the API ends its answers with a newline).
	if len(raws) != 1 || !strings.HasPrefix(raws[0], `{"id":"acme","name":"Acme","created_at":"`) || !strings.HasSuffix(raws[0], "}\n") {
		t.Fatalf("raw answers %q", raws)
	}

	// An answer that is not webhookd's error body: the status makes the code.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err = client.New(proxy.URL+"/", "x").GetTenant(ctx, "acme")
	if e := wantCode(t, err, 502, "http_502"); e.Message != "upstream down" || err.Error() != "http_502: upstream down" {
		t.Fatalf("error %q, message %q", err, e.Message)
	}

	// A network failure is no *Error, and says what was called.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = client.New(closed.URL, "x").ListTenants(ctx, client.Page{})
	if _, ok := errors.AsType[*client.Error](err); ok || err == nil || !strings.HasPrefix(err.Error(), "GET "+closed.URL+"/v1/tenants: ") {
		t.Fatalf("network error %v", err)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
