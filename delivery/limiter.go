package delivery

import (
	"math"
	"time"
)

// Tuning of concLimit.
const (
	// initialLimit is where an endpoint's limit starts (the old fixed default), below the cap if the cap is lower.
	initialLimit = 8
	// latencyTolerance and latencySlack set when an attempt counts as slow for its endpoint: latency above
	// max(latencyTolerance × the recent minimum, the recent minimum + latencySlack). The slack keeps a loopback or
	// LAN receiver (minimum well under a millisecond) from reading scheduling noise as congestion.
	latencyTolerance = 4
	latencySlack     = 25 * time.Millisecond
	// minWindow is how long a minimum latency is remembered: the minimum is the lower of this window's and the last
	// one's, so that a receiver that became slower for good is measured anew within two windows.
	minWindow = 30 * time.Second
	// dropFactor cuts the limit on a timeout, 429 or 503; slowFactor on a success that took too long.
	dropFactor = 0.5
	slowFactor = 0.9
	// ewmaWeight is the weight of a new latency in the smoothed latency.
	ewmaWeight = 0.125
	// maxSpread bounds how far ahead admitAt puts a task turned away at the limit.
	maxSpread = 10 * time.Second
)

// concLimit is one endpoint's adaptive limit of attempts in flight in this process: additive increase,
// multiplicative decrease, with latency against the endpoint's recent minimum as a congestion signal beside
// timeouts, 429 and 503 (as adaptive concurrency limiters of service proxies do). While attempts succeed fast and
// the limit is in use it grows, by one per success until the first cut (slow start: it doubles per round trip),
// then by one per round trip; a timeout, 429 or 503 halves it and a slow success takes a tenth off, at most once per
// round trip, so that the failures of one round of concurrent attempts count once. It never leaves [1, cap].
//
// The zero value is not usable: see newConcLimit. Not safe for concurrent use (epState's mutex guards it).
type concLimit struct {
	limit     float64
	cap       int
	slowStart bool

	minLat, prevMin time.Duration // the lowest latency of this window and of the last (0: none yet)
	window          time.Time     // when this window started
	ewma            time.Duration // smoothed latency (0: none yet)
	cutAt           time.Time     // the last decrease

	// nextFree is when the last task turned away at the limit was told to come back (admitAt).
	nextFree time.Time
}

// newConcLimit returns a limit that starts at min(initialLimit, limCap) and never exceeds limCap (at least 1).
func newConcLimit(limCap int) concLimit {
	limCap = max(limCap, 1)
	return concLimit{limit: float64(min(initialLimit, limCap)), cap: limCap, slowStart: true}
}

// Limit is the number of attempts that may be in flight now.
func (c *concLimit) Limit() int { return max(1, min(c.cap, int(c.limit))) }

// base is the recent minimum latency (0 when none is known).
func (c *concLimit) base() time.Duration {
	if c.prevMin > 0 && (c.minLat == 0 || c.prevMin < c.minLat) {
		return c.prevMin
	}
	return c.minLat
}

// sample records a latency into the minimum's window and the smoothed latency.
func (c *concLimit) sample(now time.Time, lat time.Duration) {
	if lat <= 0 {
		lat = 1 // a coarse clock: keep "none yet" apart
	}
	if c.window.IsZero() || now.Sub(c.window) >= minWindow {
		c.prevMin, c.minLat, c.window = c.minLat, 0, now
	}
	if c.minLat == 0 || lat < c.minLat {
		c.minLat = lat
	}
	if c.ewma == 0 {
		c.ewma = lat
	} else {
		c.ewma += time.Duration(ewmaWeight * float64(lat-c.ewma))
	}
}

// tooSlow reports whether lat is congested for the endpoint, judged against its recent minimum.
func (c *concLimit) tooSlow(lat time.Duration) bool {
	b := c.base()
	return b > 0 && lat > max(latencyTolerance*b, b+latencySlack)
}

// Succeeded records a successful attempt that took lat and ended at now, with inFlight attempts in flight (this
// one included).
func (c *concLimit) Succeeded(now time.Time, lat time.Duration, inFlight int) {
	slow := c.tooSlow(lat) // judged before lat joins the minimum
	c.sample(now, lat)
	switch {
	case slow:
		c.cut(now, lat, slowFactor)
	case 2*inFlight >= c.Limit(): // grow only a limit in use: an idle endpoint's says nothing
		if c.slowStart {
			c.limit++
		} else {
			c.limit += 1 / c.limit
		}
		c.limit = min(c.limit, float64(c.cap))
	}
}

// Dropped records an attempt that timed out or was answered 429 or 503, after lat, at now.
func (c *concLimit) Dropped(now time.Time, lat time.Duration) {
	c.slowStart = false
	c.cut(now, lat, dropFactor)
}

// cut multiplies the limit by f, unless it was cut less than a round trip (lat, or the smoothed latency if longer)
// ago: attempts that were in flight together fail together, and count as one signal.
func (c *concLimit) cut(now time.Time, lat time.Duration, f float64) {
	if !c.cutAt.IsZero() && now.Sub(c.cutAt) < max(lat, c.ewma) {
		return
	}
	c.slowStart = false
	c.cutAt = now
	c.limit = math.Max(1, math.Floor(c.limit*f))
}

// admitAt says when a task turned away at the limit at now should come back: tasks turned away queue up behind one
// another, one per slot's share of a round trip (the smoothed latency, or the age of the oldest attempt in flight,
// started at oldest, when that is longer; unknown while no attempt has ended), so that they come back about as fast
// as slots free up instead of being claimed and turned away again and again. At most maxSpread ahead.
func (c *concLimit) admitAt(now, oldest time.Time, unknown time.Duration) time.Time {
	rtt := c.ewma
	if rtt == 0 {
		rtt = unknown // a new endpoint, perhaps hanging: do not hand its first backlog back at once
	}
	if !oldest.IsZero() {
		rtt = max(rtt, now.Sub(oldest))
	}
	rtt = max(rtt, time.Millisecond)
	at := now
	if c.nextFree.After(at) {
		at = c.nextFree
	}
	at = at.Add(rtt / time.Duration(c.Limit()))
	if limit := now.Add(maxSpread); at.After(limit) {
		at = limit
	}
	c.nextFree = at
	return at
}
