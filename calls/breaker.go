package calls

import (
	"sync"
	"time"
)

// breakers holds one circuit breaker per calls endpoint, in this process: after `after` consecutive failures the
// endpoint's calls fail fast for `cool`, then one call (the probe) goes through while the others still fail fast;
// the probe's success closes the circuit, its failure opens it for another cool-down. Several replicas each keep
// their own breakers.
type breakers struct {
	after int
	cool  time.Duration
	mu    sync.Mutex
	m     map[string]*breaker // endpoint id → state; closed breakers with no failure are not kept
}

type breaker struct {
	failures  int
	openUntil time.Time
	probing   bool
}

func newBreakers(after int, cool time.Duration) *breakers {
	return &breakers{after: after, cool: cool, m: make(map[string]*breaker)}
}

// allow reports whether a call to ep may go out at now, and whether it is the probe of an open circuit.
func (b *breakers) allow(ep string, now time.Time) (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.m[ep]
	switch {
	case st == nil || st.failures < b.after:
		return true, false
	case now.Before(st.openUntil) || st.probing:
		return false, false
	}
	st.probing = true
	return true, true
}

// done records the result of a call allowed by allow.
func (b *breakers) done(ep string, probe, failed bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.m[ep]
	if !failed {
		delete(b.m, ep)
		return
	}
	if st == nil {
		st = &breaker{}
		b.m[ep] = st
	}
	if probe {
		st.probing = false
		st.openUntil = now.Add(b.cool)
		return
	}
	st.failures++
	if st.failures == b.after {
		st.openUntil = now.Add(b.cool)
	}
}

// abandon ends a probe that produced no verdict (the console went away): the next call may probe.
func (b *breakers) abandon(ep string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st := b.m[ep]; st != nil {
		st.probing = false
	}
}
