package delivery

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// epKey names an endpoint's in-memory state. A struct key, unlike a joined string, costs no allocation per lookup.
type epKey struct{ tenant, id string }

// epStates is the engine's per-endpoint memory: attempts in flight and slowness, rate limiters, parsed keys, disable
// notices.
type epStates struct {
	mu sync.Mutex
	m  map[epKey]*epState
	// active counts the endpoints with an attempt in flight in this process (kept by enter and leave): the engine's
	// fair share of its workers per endpoint is Workers / active (see Engine.record).
	active atomic.Int64
}

// epState is what the engine remembers about one endpoint between attempts. Everything is guarded by mu.
type epState struct {
	mu       sync.Mutex
	lastUsed time.Time
	active   *atomic.Int64 // epStates.active

	// inFlight counts this process's attempts to the endpoint. slow is set when an attempt timed out and cleared by a
	// success: while it is set the endpoint gets at most one attempt in flight here (see enter).
	inFlight int
	slow     bool
	// turnedAway counts the tasks enter refused since the endpoint last became slow: it spreads their release over
	// the next seconds (see Engine.slowWait), so that a growing backlog is not claimed and released again in full
	// every timeout.
	turnedAway int
	// conc is the endpoint's adaptive limit of attempts in flight here (limiter.go), made at the first enter;
	// progress is when an attempt last ended, or when one started with none in flight.
	conc     concLimit
	progress time.Time
	reported bool // observe has reported the limit once (a LimitObserver hears it from the first attempt on)

	// Rate limiting. reserved maps a delivery id to the time its rate-limit token was reserved for: a task released
	// because the limiter said wait comes back holding that slot and must not take another.
	limiter  *rate.Limiter
	rate     float64 // the limit limiter and reserved were made under; 0 for none
	reserved map[string]time.Time

	// Parsed signing keys, valid while profile and every secret are unchanged.
	profile string
	keys    []cachedKey

	// health is this process's view of the endpoint's FailingSince and its pace of writing it (health.go).
	health healthView

	// disabledAt is when this process disabled the endpoint (zero if it has not): concurrent attempts that saw the
	// endpoint enabled must not disable and notify again.
	disabledAt time.Time

	// failingNoticed and recoveredNoticed are the FailingSince of the failing spell whose failing and recovered
	// notices this process gave (notify.go): each is given once per spell.
	failingNoticed, recoveredNoticed time.Time
}

type cachedKey struct {
	secret  string
	expires time.Time
	key     signing.Key
}

// get returns the state of an endpoint, creating it.
func (s *epStates) get(tenant, id string) *epState {
	k := epKey{tenant, id}
	s.mu.Lock()
	st := s.m[k]
	if st == nil {
		st = &epState{active: &s.active}
		s.m[k] = st
	}
	s.mu.Unlock()
	return st
}

// prune forgets reservations older than stale (their tasks went elsewhere) and endpoints unused for an hour, calling
// forgot with the id of each endpoint it forgets.
func (s *epStates) prune(now time.Time, stale time.Duration, forgot func(endpointID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.m {
		st.mu.Lock()
		for id, at := range st.reserved {
			if now.Sub(at) > stale {
				delete(st.reserved, id)
			}
		}
		forget := len(st.reserved) == 0 && st.inFlight == 0 && now.Sub(st.lastUsed) > time.Hour
		st.mu.Unlock()
		if forget {
			delete(s.m, k)
			forgot(k.id)
		}
	}
}

// reservationSlack lets a task that comes back a little before its reserved time (stores keep due times in
// milliseconds) use its reservation.
const reservationSlack = 5 * time.Millisecond

// admit applies the endpoint's rate limit to a task at now: it returns zero when the attempt may go ahead, else how
// long to wait. A task told to wait holds a reserved token until it comes back.
func (st *epState) admit(ep *endpoints.Endpoint, deliveryID string, now time.Time) time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastUsed = now
	r := endpoints.EnforcedRate(ep.RateLimit)
	if r != st.rate {
		// The limit changed (or was removed): the slots reserved under the old one are void, and the store has
		// re-timed the tasks that held them (the stores re-time an endpoint's held-back deliveries when its rate
		// changes). The limiter carries on at the new rate from now, with what it has accrued.
		st.reserved, st.rate = nil, r
		if r == 0 {
			st.limiter = nil
		} else if st.limiter != nil {
			st.limiter.SetLimitAt(now, rate.Limit(r))
			st.limiter.SetBurstAt(now, max(1, int(math.Min(math.Ceil(r), math.MaxInt32))))
		}
	}
	if at, ok := st.reserved[deliveryID]; ok {
		if d := at.Sub(now); d > reservationSlack {
			return d
		}
		delete(st.reserved, deliveryID)
		return 0
	}
	if r == 0 {
		return 0
	}
	if st.limiter == nil {
		st.limiter = rate.NewLimiter(rate.Limit(r), max(1, int(math.Min(math.Ceil(r), math.MaxInt32))))
	}
	d := st.limiter.ReserveN(now, 1).DelayFrom(now)
	if d <= 0 {
		return 0
	}
	if st.reserved == nil {
		st.reserved = make(map[string]time.Time)
	}
	st.reserved[deliveryID] = now.Add(d)
	return d
}

// signingKeys appends to dst the parsed keys of ep that sign at now, newest first, parsing only when the endpoint's
// profile or secrets changed since the last call. Each key is parsed by its own form (under standard the whsec_ or
// whsk_ prefix tells), so after a rotation across schemes HMAC and ed25519 keys sign side by side.
func (st *epState) signingKeys(dst []signing.Key, ep *endpoints.Endpoint, p profiles.Profile, now time.Time) ([]signing.Key, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.keysMatch(ep, p.Name()) {
		keys := make([]cachedKey, 0, len(ep.Keys))
		for i, k := range ep.Keys {
			parsed, err := p.ParseKey(k.Secret)
			if err != nil {
				return dst, fmt.Errorf("endpoint key %d: %w", i, err)
			}
			keys = append(keys, cachedKey{secret: k.Secret, expires: k.ExpiresAt, key: parsed})
		}
		st.profile, st.keys = p.Name(), keys
	}
	for _, k := range st.keys {
		if k.expires.IsZero() || now.Before(k.expires) {
			dst = append(dst, k.key)
		}
	}
	return dst, nil
}

func (st *epState) keysMatch(ep *endpoints.Endpoint, profile string) bool {
	if st.keys == nil || st.profile != profile || len(st.keys) != len(ep.Keys) {
		return false
	}
	for i, k := range ep.Keys {
		if st.keys[i].secret != k.Secret || !st.keys[i].expires.Equal(k.ExpiresAt) {
			return false
		}
	}
	return true
}

// claimDisable reports whether this attempt should disable the endpoint (loaded at its UpdatedAt): false when this
// process already disabled it after that version was written.
func (st *epState) claimDisable(ep *endpoints.Endpoint, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.disabledAt.IsZero() && !ep.UpdatedAt.After(st.disabledAt) {
		return false
	}
	st.disabledAt = now
	return true
}

// undoDisable forgets a disable whose write failed, so that a later attempt tries again.
func (st *epState) undoDisable() {
	st.mu.Lock()
	st.disabledAt = time.Time{}
	st.mu.Unlock()
}

// enter counts an attempt starting at now, unless the endpoint is slow and already has one in flight here, or is at
// its adaptive limit (conc, capped by limCap). A slow endpoint gets one attempt at a time until it succeeds again,
// so that a few hanging endpoints cannot hold every worker (the per-endpoint cap alone lets each of them hold
// MaxInFlightPerEndpoint).
// When it refuses a slow endpoint's task, it returns how many tasks it refused before this one since the endpoint
// became slow; when it refuses at the limit, when the task should come back (limitAt, else zero).
// unknown is the round trip admitAt assumes of an endpoint none of whose attempts has ended yet.
func (st *epState) enter(now time.Time, limCap int, unknown time.Duration) (ok bool, slowN int, limitAt time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastUsed = now
	if st.conc.cap == 0 {
		st.conc = newConcLimit(limCap)
	}
	if st.slow && st.inFlight > 0 {
		st.turnedAway++
		return false, st.turnedAway - 1, time.Time{}
	}
	if st.inFlight >= st.conc.Limit() {
		return false, 0, st.conc.admitAt(now, st.progress, unknown)
	}
	if st.inFlight == 0 {
		st.progress = now
		st.countActive(1)
	}
	st.inFlight++
	return true, 0, time.Time{}
}

// withinShare reports whether the endpoint has at most its fair share of workers attempts in flight here: workers
// divided by the endpoints with attempts in flight, rounded up.
func (st *epState) withinShare(workers int) bool {
	st.mu.Lock()
	n := st.inFlight
	st.mu.Unlock()
	if st.active == nil {
		return true
	}
	a := st.active.Load()
	return int64(n)*a <= int64(workers)+a-1
}

// countActive adds d to the count of endpoints with attempts in flight, when the state is counted (epStates.get).
func (st *epState) countActive(d int64) {
	if st.active != nil {
		st.active.Add(d)
	}
}

// begin makes the endpoint's adaptive limit if it has none yet (capped by limCap), and reports it and whether it was
// made now.
func (st *epState) begin(limCap int) (int, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.conc.cap != 0 {
		return st.conc.Limit(), false
	}
	st.conc = newConcLimit(limCap)
	return st.conc.Limit(), true
}

// leave ends an attempt counted by enter, at now.
func (st *epState) leave(now time.Time) {
	st.mu.Lock()
	if st.inFlight--; st.inFlight == 0 {
		st.countActive(-1)
	}
	st.progress = now
	st.mu.Unlock()
}

// observe feeds the adaptive limit an attempt's result, ended at now after lat (the attempt is still counted in
// flight), and returns the limit after it and whether it changed (or is reported for the first time): dropped is a timeout, 429 or 503, ok a success.
func (st *epState) observe(now time.Time, lat time.Duration, ok, dropped bool) (int, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	was := st.conc.Limit()
	switch {
	case dropped:
		st.conc.Dropped(now, lat)
	case ok:
		st.conc.Succeeded(now, lat, st.inFlight)
	}
	n := st.conc.Limit()
	changed := n != was || !st.reported
	st.reported = true
	return n, changed
}

// limit returns the endpoint's adaptive limit, and false if no attempt to it has started here yet.
func (st *epState) limit() (int, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.conc.cap == 0 {
		return 0, false
	}
	return st.conc.Limit(), true
}

// setSlow records whether the endpoint is slow: an attempt timed out (true) or succeeded (false). It returns whether
// the endpoint was slow before.
func (st *epState) setSlow(slow bool) bool {
	st.mu.Lock()
	was := st.slow
	if !slow || !st.slow {
		st.turnedAway = 0
	}
	st.slow = slow
	st.mu.Unlock()
	return was
}
