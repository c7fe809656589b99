package delivery

import (
	"testing"
	"time"
)

func TestConcLimit(t *testing.T) {
	t0 := time.Now()
	ms := time.Millisecond
	type step struct {
		at       time.Duration // after t0
		lat      time.Duration
		dropped  bool
		inFlight int // 0: the limit (fully in use)
		want     int // the limit after the step
	}
	cases := []struct {
		name  string
		cap   int
		steps []step
	}{
		{"starts at 8, grows by one per fast success in slow start", 64, []step{
			{at: 0, lat: ms, want: 9}, {at: ms, lat: ms, want: 10}, {at: 2 * ms, lat: ms, want: 11},
		}},
		{"starts at the cap when the cap is lower, never exceeds it", 4, []step{
			{at: 0, lat: ms, want: 4}, {at: ms, lat: ms, want: 4},
		}},
		{"stays put while not in use", 64, []step{
			{at: 0, lat: ms, inFlight: 1, want: 8}, {at: ms, lat: ms, inFlight: 3, want: 8},
			{at: 2 * ms, lat: ms, inFlight: 4, want: 9},
		}},
		{"a 429, 503 or timeout halves it, once per round trip, not below 1", 64, []step{
			{at: 0, lat: ms, dropped: true, want: 4},
			{at: 0, lat: ms, dropped: true, want: 4}, // same round: one signal
			{at: 2 * ms, lat: ms, dropped: true, want: 2},
			{at: 4 * ms, lat: ms, dropped: true, want: 1},
			{at: 6 * ms, lat: ms, dropped: true, want: 1},
		}},
		{"after a cut it grows by one per round trip", 64, []step{
			{at: 0, lat: ms, dropped: true, want: 4},
			{at: 2 * ms, lat: ms, want: 4}, {at: 3 * ms, lat: ms, want: 4}, {at: 4 * ms, lat: ms, want: 4},
			{at: 5 * ms, lat: ms, want: 4},
			{at: 6 * ms, lat: ms, want: 5}, // 4 + 1/4 + 1/4.25 + ...: one more per round of about limit successes
		}},
		{"latency far above the recent minimum takes a tenth off", 64, []step{
			{at: 0, lat: ms, want: 9}, {at: ms, lat: ms, want: 10},
			{at: 2 * ms, lat: 100 * ms, want: 9},
			{at: 3 * ms, lat: 100 * ms, want: 9},  // within the slow attempt's round trip
			{at: 200 * ms, lat: 26 * ms, want: 9}, // within max(4 × 1ms, 1ms + 25ms): fast enough, not cut
			{at: 300 * ms, lat: 27 * ms, want: 8}, // beyond it: cut
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newConcLimit(c.cap)
			for i, s := range c.steps {
				now := t0.Add(s.at)
				inFlight := s.inFlight
				if inFlight == 0 {
					inFlight = l.Limit()
				}
				if s.dropped {
					l.Dropped(now, s.lat)
				} else {
					l.Succeeded(now, s.lat, inFlight)
				}
				if got := l.Limit(); got != s.want {
					t.Fatalf("step %d (%+v): limit %d, want %d", i, s, got, s.want)
				}
			}
		})
	}
}

func TestConcLimitBounds(t *testing.T) {
	l := newConcLimit(64)
	now := time.Now()
	for range 1000 {
		now = now.Add(time.Millisecond)
		l.Succeeded(now, time.Millisecond, l.Limit())
	}
	if got := l.Limit(); got != 64 {
		t.Fatalf("after 1000 fast successes: %d, want the cap 64", got)
	}
	for range 100 {
		now = now.Add(time.Second)
		l.Dropped(now, time.Millisecond)
	}
	if got := l.Limit(); got != 1 {
		t.Fatalf("after 100 drops: %d, want 1", got)
	}
	if l := newConcLimit(0); l.Limit() != 1 {
		t.Fatalf("cap 0: limit %d, want 1", l.Limit())
	}
}

// TestConcLimitAdmitAt: tasks turned away at the limit queue up one slot's share of a round trip apart, measured by
// the smoothed latency or the age of the oldest attempt in flight, at most maxSpread ahead.
func TestConcLimitAdmitAt(t *testing.T) {
	now := time.Now()
	l := newConcLimit(8) // limit 8
	l.sample(now, 80*time.Millisecond)
	for i := 1; i <= 3; i++ {
		if got, want := l.admitAt(now, time.Time{}, time.Second).Sub(now), time.Duration(i)*10*time.Millisecond; got != want {
			t.Fatalf("task %d comes back after %v, want %v", i, got, want)
		}
	}
	// A new endpoint, none of whose attempts has ended: the round trip is taken to be unknown (here 400 ms)...
	l = newConcLimit(8)
	if got, want := l.admitAt(now, now.Add(-time.Millisecond), 400*time.Millisecond).Sub(now), 50*time.Millisecond; got != want {
		t.Fatalf("new endpoint: %v, want %v", got, want)
	}
	// ...or the age of its oldest attempt in flight when longer, as for one that hangs (8 s: 1 s per slot).
	l = newConcLimit(8)
	if got, want := l.admitAt(now, now.Add(-8*time.Second), 400*time.Millisecond).Sub(now), time.Second; got != want {
		t.Fatalf("behind an 8 s old attempt: %v, want %v", got, want)
	}
	for range 100 {
		l.admitAt(now, now.Add(-8*time.Second), 400*time.Millisecond)
	}
	if got := l.admitAt(now, now.Add(-8*time.Second), 400*time.Millisecond).Sub(now); got != maxSpread {
		t.Fatalf("deep queue: %v, want maxSpread %v", got, maxSpread)
	}
}
