package delivery

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

var t0 = time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)

func TestBackoffTable(t *testing.T) {
	def := Retry{} // 1s, cap 1h, 5 retries, ±20%
	noJitter := Retry{Jitter: -1}
	fast := Retry{Initial: 10 * time.Millisecond, Cap: 50 * time.Millisecond, Jitter: -1}
	tests := []struct {
		name string
		r    Retry
		n    int
		u    float64
		want time.Duration
	}{
		{"first, no jitter", noJitter, 1, 0.5, time.Second},
		{"second doubles", noJitter, 2, 0.5, 2 * time.Second},
		{"fifth", noJitter, 5, 0.5, 16 * time.Second},
		{"capped", noJitter, 13, 0.5, time.Hour}, // 2^12 s > 1h
		{"huge n capped, no overflow", noJitter, 1000, 0.5, time.Hour},
		{"fast schedule caps at 50ms", fast, 4, 0.9, 50 * time.Millisecond},
		{"jitter midpoint is exact", def, 1, 0.5, time.Second},
		{"jitter low end -20%", def, 1, 0, 800 * time.Millisecond},
		{"jitter near high end +20%", def, 2, 1, 2400 * time.Millisecond},
		{"jitter applies after the cap", def, 40, 0, 48 * time.Minute},
		{"u out of range is clamped", def, 1, 7, 1200 * time.Millisecond},
		{"cap below one doubling", Retry{Initial: 3 * time.Second, Cap: 5 * time.Second, Jitter: -1}, 2, 0, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Jitter is float arithmetic: allow a microsecond of rounding.
			if got := tt.r.Backoff(tt.n, tt.u); (got - tt.want).Abs() > time.Microsecond {
				t.Fatalf("Backoff(%d, %v) = %v, want %v", tt.n, tt.u, got, tt.want)
			}
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	r := Retry{Jitter: 0.2}
	for n := 1; n <= 6; n++ {
		base := Retry{Jitter: -1}.Backoff(n, 0)
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		for i := range 1000 {
			u := float64(i) / 1000
			got := r.Backoff(n, u)
			if got < lo || got > hi {
				t.Fatalf("attempt %d, u=%v: %v outside [%v, %v]", n, u, got, lo, hi)
			}
		}
	}
}

func TestNext(t *testing.T) {
	r := Retry{Initial: time.Second, Cap: time.Minute, Count: 5, Jitter: -1}
	if r.MaxAttempts() != 6 {
		t.Fatalf("MaxAttempts = %d, want 6", r.MaxAttempts())
	}
	tests := []struct {
		name   string
		n      int
		wait   time.Duration
		want   time.Duration
		wantOK bool
	}{
		{"after first", 1, 0, time.Second, true},
		{"after fifth", 5, 0, 16 * time.Second, true},
		{"after sixth: dead", 6, 0, 0, false},
		{"past the end: dead", 9, 0, 0, false},
		{"Retry-After longer than backoff wins", 1, 30 * time.Second, 30 * time.Second, true},
		{"backoff longer than Retry-After wins", 5, 3 * time.Second, 16 * time.Second, true},
		{"Retry-After on the last attempt is moot", 6, time.Hour, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, ok := r.Next(t0, tt.n, tt.wait, 0.5)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && at.Sub(t0) != tt.want {
				t.Fatalf("due in %v, want %v", at.Sub(t0), tt.want)
			}
		})
	}
	if _, ok := (Retry{Count: -1}).Next(t0, 1, 0, 0); ok {
		t.Fatal("Count -1 still retries")
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"Wed, 15 Apr 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Wednesday, 15-Apr-26 12:01:00 GMT", time.Minute, true}, // RFC 850
		{"Wed Apr 15 12:00:05 2026", 5 * time.Second, true},      // asctime
		{"Wed, 15 Apr 2026 11:00:00 GMT", 0, true},               // in the past
		{"99999999999999999999999", maxWait, true},               // overflows uint64
		{"9999999999999", maxWait, true},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"12abc", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, t0)
		if ok != tt.wantOK || got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestPolicies(t *testing.T) {
	netErr := errors.New("dial tcp: connection refused")
	const (
		S = OutcomeSuccess
		R = OutcomeRetry
		F = OutcomeFailed
		G = OutcomeGone
	)
	tests := []struct {
		name                    string
		code                    int
		err                     error
		standard, openmdm, mndr Outcome
	}{
		{"200", 200, nil, S, S, S},
		{"201", 201, nil, S, S, S},
		{"204", 204, nil, S, S, S},
		{"299", 299, nil, S, S, S},
		{"101 switching", 101, nil, R, R, R},
		{"301 not followed", 301, nil, R, R, R},
		{"302 not followed", 302, nil, R, R, R},
		{"304", 304, nil, R, R, R},
		{"307 not followed", 307, nil, R, R, R},
		{"400", 400, nil, R, F, R},
		{"401", 401, nil, R, F, R},
		{"403", 403, nil, R, F, R},
		{"404", 404, nil, R, F, R},
		{"408", 408, nil, R, F, R},
		{"410 gone", 410, nil, G, G, G},
		{"413", 413, nil, R, F, R},
		{"422", 422, nil, R, F, R},
		{"429", 429, nil, R, R, R},
		{"499", 499, nil, R, F, R},
		{"500", 500, nil, R, R, R},
		{"502", 502, nil, R, R, R},
		{"503", 503, nil, R, R, R},
		{"504", 504, nil, R, R, R},
		{"599", 599, nil, R, R, R},
		{"network error", 0, netErr, R, R, R},
		{"timeout", 0, &timeoutError{time.Second}, R, R, R},
		{"no response, no error", 0, nil, R, R, R},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				profile string
				want    Outcome
			}{{"standard", tt.standard}, {"", tt.standard}, {"openmdm", tt.openmdm}, {"mender", tt.mndr}, {"bogus", tt.standard}} {
				if got := classify(c.profile, tt.code, tt.err); got != c.want {
					t.Errorf("%q: Classify(%d, %v) = %v, want %v", c.profile, tt.code, tt.err, got, c.want)
				}
			}
		})
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{
		OutcomeSuccess: "success", OutcomeRetry: "retry", OutcomeFailed: "failed", OutcomeGone: "gone",
		OutcomeDead: "dead", 0: "unknown",
	} {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", o, o.String(), want)
		}
	}
}

func TestHealthAfter(t *testing.T) {
	const span = 24 * time.Hour
	healthy := &endpoints.Endpoint{}
	failing := &endpoints.Endpoint{FailingSince: t0.Add(-time.Hour)}
	longFailing := &endpoints.Endpoint{FailingSince: t0.Add(-span)}
	tests := []struct {
		name   string
		ep     *endpoints.Endpoint
		o      Outcome
		want   healthChange
		wantOK bool
	}{
		{"healthy success: no write", healthy, OutcomeSuccess, healthChange{}, false},
		{"failing success: clear", failing, OutcomeSuccess, healthChange{}, true},
		{"healthy failure: starts failing", healthy, OutcomeRetry, healthChange{FailingSince: t0}, true},
		{"healthy final failure: starts failing", healthy, OutcomeFailed, healthChange{FailingSince: t0}, true},
		{"healthy dead: starts failing", healthy, OutcomeDead, healthChange{FailingSince: t0}, true},
		{"failing within span: no write", failing, OutcomeRetry, healthChange{}, false},
		{"failing for span: disable", longFailing, OutcomeRetry,
			healthChange{FailingSince: longFailing.FailingSince, Disable: true, Reason: ReasonFailing}, true},
		{"gone while healthy", healthy, OutcomeGone, healthChange{FailingSince: t0, Disable: true, Reason: ReasonGone}, true},
		{"gone while failing keeps the start", failing, OutcomeGone,
			healthChange{FailingSince: failing.FailingSince, Disable: true, Reason: ReasonGone}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := healthAfter(tt.ep.FailingSince, tt.o, t0, span)
			if ok != tt.wantOK || got != tt.want {
				t.Fatalf("healthAfter = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestAdmitRateLimit(t *testing.T) {
	st := &epState{}
	ep := &endpoints.Endpoint{RateLimit: 5} // burst 5, then one every 200ms
	for i := range 5 {
		if d := st.admit(ep, "d"+string(rune('a'+i)), t0); d != 0 {
			t.Fatalf("burst task %d told to wait %v", i, d)
		}
	}
	// The next three each reserve a later slot, so they come back spread out rather than all at once.
	for i, want := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond} {
		if d := st.admit(ep, "w"+string(rune('a'+i)), t0); d != want {
			t.Fatalf("waiting task %d: wait %v, want %v", i, d, want)
		}
	}
	// Back early: wait again for the same slot, taking no new token.
	if d := st.admit(ep, "wb", t0.Add(100*time.Millisecond)); d != 300*time.Millisecond {
		t.Fatalf("early return: wait %v, want 300ms", d)
	}
	// Back on time (a millisecond early is within slack): goes ahead on its reservation.
	if d := st.admit(ep, "wa", t0.Add(199*time.Millisecond)); d != 0 {
		t.Fatalf("return at the slot: wait %v", d)
	}
	if _, ok := st.reserved["wa"]; ok {
		t.Fatal("reservation not consumed")
	}
	// A new task queues behind the reservations.
	if d := st.admit(ep, "new", t0.Add(200*time.Millisecond)); d != 600*time.Millisecond {
		t.Fatalf("new task: wait %v, want 600ms", d)
	}
	// Pruning drops reservations whose tasks never came back.
	var s epStates
	s.m = map[epKey]*epState{{"t", "e"}: st}
	if len(st.reserved) == 0 {
		t.Fatal("no reservation to prune")
	}
	s.prune(t0.Add(time.Hour), time.Minute, func(string) {})
	if len(st.reserved) != 0 {
		t.Fatalf("%d stale reservations kept", len(st.reserved))
	}
	// Unlimited: always admitted.
	if d := st.admit(&endpoints.Endpoint{}, "x", t0); d != 0 {
		t.Fatalf("unlimited endpoint told to wait %v", d)
	}
	s.prune(t0.Add(3*time.Hour), time.Minute, func(string) {})
	if len(s.m) != 0 {
		t.Fatal("idle endpoint state kept")
	}
}

func TestAdmitFractionalRate(t *testing.T) {
	st := &epState{}
	ep := &endpoints.Endpoint{RateLimit: 0.5} // burst 1, one every 2s
	if d := st.admit(ep, "a", t0); d != 0 {
		t.Fatalf("first: wait %v", d)
	}
	if d := st.admit(ep, "b", t0); d != 2*time.Second {
		t.Fatalf("second: wait %v, want 2s", d)
	}
	// At t0+3s the reservation has been repaid and half a token accrued; a raised limit (2/s) applies from then
	// on, so the missing half token takes 250ms.
	ep.RateLimit = 2
	if d := st.admit(ep, "c", t0.Add(3*time.Second)); d != 250*time.Millisecond {
		t.Fatalf("after raise: wait %v, want 250ms", d)
	}
}

// TestAdmitRateChangeVoidsReservations: slots reserved under an old rate are void once the rate changes or is
// removed (the store re-timed their tasks): a task coming back is judged at the new rate.
func TestAdmitRateChangeVoidsReservations(t *testing.T) {
	st := &epState{}
	ep := &endpoints.Endpoint{RateLimit: 0.01} // one per 100 s
	st.admit(ep, "a", t0)
	if d := st.admit(ep, "b", t0); d != 100*time.Second {
		t.Fatalf("second at 0.01/s: wait %v", d)
	}
	if d := st.admit(&endpoints.Endpoint{}, "b", t0.Add(time.Second)); d != 0 {
		t.Fatalf("after the limit was removed: wait %v, want none", d)
	}
	st.admit(ep, "c", t0.Add(2*time.Second))
	if d := st.admit(ep, "d", t0.Add(2*time.Second)); d <= 0 {
		t.Fatal("limit back: no wait")
	}
	// Raised: the old slot (98 s away) is void; the tokens the old rate lent are repaid at the new one.
	if d := st.admit(&endpoints.Endpoint{RateLimit: 1000}, "d", t0.Add(3*time.Second)); d > 10*time.Millisecond {
		t.Fatalf("after the limit was raised to 1000/s: wait %v, want at most a few ms", d)
	}
}

// TestAdmitLegacyTinyRate: an endpoint stored with a rate below one per hour (accepted before the API bounded it)
// is limited to one per hour, not scheduled centuries ahead.
func TestAdmitLegacyTinyRate(t *testing.T) {
	st := &epState{}
	ep := &endpoints.Endpoint{RateLimit: 1e-300}
	st.admit(ep, "a", t0)
	if d := st.admit(ep, "b", t0); d > time.Hour+time.Second {
		t.Fatalf("second at 1e-300/s: wait %v, want at most an hour", d)
	}
}

func TestSigningKeysCache(t *testing.T) {
	s1, _ := signing.GenerateSecret(0)
	s2, _ := signing.GenerateSecret(0)
	ep := &endpoints.Endpoint{Keys: []endpoints.Key{{Secret: s2}, {Secret: s1, ExpiresAt: t0.Add(time.Hour)}}}
	st := &epState{}
	keys, err := st.signingKeys(nil, ep, profiles.Standard, t0)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %d, %v; want 2 keys", len(keys), err)
	}
	cached := st.keys
	// Same secrets: no re-parse.
	if keys, _ = st.signingKeys(keys[:0], ep, profiles.Standard, t0.Add(2*time.Hour)); len(keys) != 1 {
		t.Fatalf("after expiry: %d keys, want 1", len(keys))
	}
	if &st.keys[0] != &cached[0] {
		t.Fatal("keys re-parsed although unchanged")
	}
	want, _ := signing.ParseKey(s2)
	if !keys[0].Equal(want) {
		t.Fatal("wrong key kept after expiry")
	}
	// Rotated secret: re-parsed.
	s3, _ := signing.GenerateSecret(0)
	ep.Keys = []endpoints.Key{{Secret: s3}}
	keys, _ = st.signingKeys(keys[:0], ep, profiles.Standard, t0)
	want, _ = signing.ParseKey(s3)
	if len(keys) != 1 || !keys[0].Equal(want) {
		t.Fatal("rotated key not picked up")
	}
	// Bad key: error, nothing cached that would hide it next time.
	ep.Keys = []endpoints.Key{{Secret: "whsec_short"}}
	if _, err := st.signingKeys(nil, ep, profiles.Standard, t0); err == nil {
		t.Fatal("bad key accepted")
	}
	// A different profile parses the same secret differently.
	ep.Keys = []endpoints.Key{{Secret: "deadbeef"}}
	if _, err := st.signingKeys(nil, ep, profiles.Mender, t0); err != nil {
		t.Fatalf("mender key: %v", err)
	}
	if _, err := st.signingKeys(nil, ep, profiles.Standard, t0); err == nil {
		t.Fatal("mender secret accepted under standard")
	}
}

func TestClaimDisableOnce(t *testing.T) {
	st := &epState{}
	ep := &endpoints.Endpoint{UpdatedAt: t0}
	if !st.claimDisable(ep, t0.Add(time.Second)) {
		t.Fatal("first disable refused")
	}
	if st.claimDisable(ep, t0.Add(2*time.Second)) {
		t.Fatal("second disable from the same version allowed")
	}
	reenabled := &endpoints.Endpoint{UpdatedAt: t0.Add(time.Minute)}
	if !st.claimDisable(reenabled, t0.Add(2*time.Minute)) {
		t.Fatal("disable after a re-enable refused")
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	c := Config{}.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Workers != 256 || c.ClaimBatch != 16 || c.Lease != time.Minute || c.MaxInFlightPerEndpoint != 64 ||
		c.Retry != (Retry{Initial: time.Second, Cap: time.Hour, Count: 5, Jitter: 0.2}) || c.RetryAfterCap != time.Hour ||
		c.HealthSpan != 24*time.Hour || c.IdleMax != time.Second || c.ReclaimEvery != 5*time.Second ||
		c.ShutdownTimeout != 10*time.Second || c.ResponseLimit != 64<<10 || c.ResponseKeep != 1<<10 ||
		c.Now == nil || c.Logger == nil {
		t.Fatalf("defaults: %+v", c)
	}
	if c.maxInFlight() != 64 || (Config{MaxInFlightPerEndpoint: -1}).maxInFlight() != 0 {
		t.Fatal("maxInFlight")
	}
	if c.limitCap() != 64 || (Config{Workers: 10, MaxInFlightPerEndpoint: -1}).limitCap() != 10 ||
		(Config{Workers: 10, MaxInFlightPerEndpoint: 20}).limitCap() != 10 {
		t.Fatal("limitCap")
	}
	if got := c.attemptTimeout(0); got != time.Second {
		t.Fatalf("default attempt timeout %v", got)
	}
	if got := c.attemptTimeout(time.Hour); got != 30*time.Second {
		t.Fatalf("attempt timeout not capped: %v", got)
	}
	if got := (Config{Lease: 10 * time.Second}).attemptTimeout(20 * time.Second); got != 5*time.Second {
		t.Fatalf("attempt timeout not cut to half the lease: %v", got)
	}
	for name, bad := range map[string]Config{
		"negative workers": {Workers: -1},
		"negative lease":   {Lease: -time.Second},
		"keep > limit":     {ResponseKeep: 10, ResponseLimit: 5},
		"jitter 1":         {Retry: Retry{Jitter: 1}},
		"cap < initial":    {Retry: Retry{Initial: time.Minute, Cap: time.Second}},
		"negative idle":    {IdleMax: -1},
	} {
		if err := bad.withDefaults().validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: validate = %v, want ErrConfig", name, err)
		}
	}
	q := Deps{}
	if _, err := NewEngine(Config{}, q); !errors.Is(err, ErrConfig) {
		t.Fatalf("NewEngine without deps: %v", err)
	}
}

func TestReadResponseKeepsPrefix(t *testing.T) {
	e := &Engine{cfg: Config{Logger: slog.New(slog.DiscardHandler)}.withDefaults()}
	sc := new(scratch)
	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = 'a'
	}
	body := &countingBody{data: big}
	got := e.readResponse(sc, body)
	if len(got) != 1024 {
		t.Fatalf("kept %d bytes, want 1024", len(got))
	}
	if body.read != 64<<10 || !body.closed {
		t.Fatalf("read %d bytes (closed %v), want %d and closed", body.read, body.closed, 64<<10)
	}
	// Invalid UTF-8 (a rune cut at the limit) is repaired.
	cut := append(make([]byte, 0, 1025), make([]byte, 1023)...)
	for i := range cut {
		cut[i] = 'x'
	}
	cut = append(cut, "é"...)
	if got := e.readResponse(sc, &countingBody{data: cut}); got[len(got)-3:] != "\uFFFD" {
		t.Fatalf("cut rune kept: %q", got[len(got)-4:])
	}
}

type countingBody struct {
	data   []byte
	read   int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.read == len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.read:])
	b.read += n
	return n, nil
}

func (b *countingBody) Close() error { b.closed = true; return nil }

// TestWithinShare: with every worker busy, an endpoint may keep chaining while it holds at most workers divided by
// the endpoints with attempts in flight (rounded up); the count of such endpoints follows enter and leave.
func TestWithinShare(t *testing.T) {
	s := epStates{m: make(map[epKey]*epState)}
	now := time.Unix(0, 0)
	a, b := s.get("t", "a"), s.get("t", "b")
	for range 5 {
		if ok, _, _ := a.enter(now, 64, time.Second); !ok {
			t.Fatal("a: enter refused")
		}
	}
	if got := s.active.Load(); got != 1 {
		t.Fatalf("active = %d, want 1", got)
	}
	if !a.withinShare(8) {
		t.Fatal("a alone with 5 of 8 workers: not within its share")
	}
	if ok, _, _ := b.enter(now, 64, time.Second); !ok {
		t.Fatal("b: enter refused")
	}
	if got := s.active.Load(); got != 2 {
		t.Fatalf("active = %d, want 2", got)
	}
	if a.withinShare(8) {
		t.Fatal("a with 5 of 8 workers beside b: within its share of 4")
	}
	if !b.withinShare(7) {
		t.Fatal("b with 1 of 7 workers: not within its share of 4 (rounded up)")
	}
	if !b.withinShare(8) {
		t.Fatal("b with 1 of 8 workers: not within its share")
	}
	a.leave(now)
	if !a.withinShare(8) {
		t.Fatal("a with 4 of 8 workers beside b: not within its share of 4")
	}
	b.leave(now)
	if got := s.active.Load(); got != 1 {
		t.Fatalf("active after b left = %d, want 1", got)
	}
}

// TestMayChain: a worker keeps its slot for its endpoint's chained tasks while any worker is free; with every worker
// busy, only within the endpoint's share and for at most maxSaturatedChain tasks in a row, so that the dispatcher
// gets slots back to serve endpoints that have none.
func TestMayChain(t *testing.T) {
	e := &Engine{cfg: Config{Workers: 4}, states: epStates{m: make(map[epKey]*epState)}}
	tk := Task{TenantID: "t", EndpointID: "a"}
	st := e.states.get("t", "a")
	st.enter(time.Unix(0, 0), 64, time.Second)
	e.busy.Store(3)
	if !e.mayChain(tk, 1000) {
		t.Fatal("a worker is free, yet no chaining")
	}
	e.busy.Store(4)
	if !e.mayChain(tk, 0) || !e.mayChain(tk, maxSaturatedChain-1) {
		t.Fatal("saturated, within share and streak: no chaining")
	}
	if e.mayChain(tk, maxSaturatedChain) {
		t.Fatal("saturated: chained past maxSaturatedChain in a row")
	}
	for range 4 {
		st.enter(time.Unix(0, 0), 64, time.Second)
	}
	if e.mayChain(tk, 0) {
		t.Fatal("saturated: chained for an endpoint holding 5 of 4 workers")
	}
}
