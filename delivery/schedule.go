package delivery

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff returns the wait after attempt n (1-based) failed: Initial × 2^(n−1), capped at Cap, then scaled by
// 1 + Jitter × (2u − 1) for u drawn uniformly from [0, 1), so the result lies in [w(1−Jitter), w(1+Jitter)).
// It is pure: the caller supplies the randomness.
func (r Retry) Backoff(n int, u float64) time.Duration {
	r = r.withDefaults()
	w := r.Initial
	for i := 1; i < n && w < r.Cap; i++ {
		if w > r.Cap/2 {
			w = r.Cap
			break
		}
		w *= 2
	}
	w = min(w, r.Cap)
	if r.Jitter > 0 {
		u = min(max(u, 0), 1)
		w = time.Duration(float64(w) * (1 + r.Jitter*(2*u-1)))
	}
	return w
}

// Next returns when attempt n+1 is due after attempt n (1-based) failed at now: the later of the backoff (with u as
// in Backoff) and wait, the receiver's Retry-After (already capped; zero for none). ok is false when n was the last
// attempt the schedule allows: the delivery is dead.
func (r Retry) Next(now time.Time, n int, wait time.Duration, u float64) (at time.Time, ok bool) {
	if n >= r.MaxAttempts() {
		return time.Time{}, false
	}
	return now.Add(max(r.Backoff(n, u), wait)), true
}

// ParseRetryAfter parses a Retry-After header value, delay-seconds or an HTTP date (RFC 9110, section 10.2.3),
// into a wait from now. A date in the past gives 0. ok is false for an empty or malformed value.
func ParseRetryAfter(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if c := v[0]; c >= '0' && c <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
				return maxWait, true
			}
			return 0, false
		}
		if secs >= uint64(maxWait/time.Second) {
			return maxWait, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// maxWait is what an absurd Retry-After parses to; callers cap it far lower.
const maxWait = 100 * 365 * 24 * time.Hour

// honoursRetryAfter reports whether a response with this status code may carry a Retry-After the engine obeys.
func honoursRetryAfter(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// RetryAfterError is the error of an attempt whose receiver asked, with Retry-After, to wait before the next one.
// Delay is already capped by Config.RetryAfterCap.
type RetryAfterError struct {
	Code  int           // the HTTP status, 429 or 503
	Delay time.Duration // how long the receiver asked to wait
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("HTTP %d, Retry-After %v", e.Code, e.Delay)
}
