package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// The cases of ordering_on_failure: block, run by RunOrdering on stores that implement delivery.Unblocker.
var blockCases = []testCase[Store]{
	{"BlockHoldsKey", testBlockHoldsKey},
	{"BlockOnLeaseExpiry", testBlockOnLeaseExpiry},
	{"SkipReleasesKey", testSkipReleasesKey},
	{"UnblockRetry", testUnblockRetry},
	{"UnblockSkip", testUnblockSkip},
	{"UnblockScope", testUnblockScope},
	{"SwitchToSkipReleases", testSwitchToSkipReleases},
	{"ReplayBehindBlocked", testReplayBehindBlocked},
	{"LineHead", testLineHead},
	{"PruneKeepsBlocked", testPruneKeepsBlocked},
	{"DeleteEndpointReleases", testDeleteEndpointReleases},
	{"HoldSeenWithItsEnd", testHoldSeenWithItsEnd},
	{"UnblockOnceSeen", testUnblockOnceSeen},
	{"SwitchOnceSeen", testSwitchOnceSeen},
}

// orderedEndpoint stores endpoint ep of ten_a with no rate limit and ordering_on_failure mode ("" or "block").
func orderedEndpoint(t testing.TB, s Store, ep, mode string) *endpoints.Endpoint {
	t.Helper()
	e := endpoint("ten_a", ep)
	e.RateLimit, e.OrderingOnFailure = 0, mode
	noErr(t, "CreateEndpoint", s.CreateEndpoint(context.Background(), e))
	return e
}

func unblocker(t testing.TB, s Store) delivery.Unblocker {
	t.Helper()
	u, ok := s.(delivery.Unblocker)
	if !ok {
		t.Fatal("the store is not a delivery.Unblocker")
	}
	return u
}

// wantBlocked checks that d is dead or failed and holds its key, and that each of behind waits on it.
func wantBlocked(t testing.TB, s Store, d *delivery.Delivery, behind ...*delivery.Delivery) {
	t.Helper()
	got := getDelivery(t, s, "ten_a", d.ID)
	if !got.Status.Terminal() || got.Status == delivery.StatusSucceeded || !got.Blocked {
		t.Fatalf("%s: status %s, blocked %v; want dead or failed, blocked", d.ID, got.Status, got.Blocked)
	}
	for _, b := range behind {
		same(t, "waiting_on of "+b.ID, getDelivery(t, s, "ten_a", b.ID).WaitingOn, d.ID)
	}
}

// On a block endpoint a head that ends dead or failed holds its key (nothing behind it goes, at any time later), and
// the delivery log says so; a head that succeeds lets the next go as under skip.
func testBlockHoldsKey(t *testing.T, s Store) {
	ctx := t.Context()
	orderedEndpoint(t, s, "ep_1", endpoints.OrderingBlock)
	k := line(t, s, "device-1", "ep_1", 3)
	f := line(t, s, "device-2", "ep_1", 2)
	ok := line(t, s, "device-3", "ep_1", 2)
	ts := claim(t, s, base, 10, 0)
	wantTasks(t, "heads", ts, k[0], f[0], ok[0])
	noErr(t, "Fail dead", s.Fail(ctx, taskOf(t, ts, k[0]), attempt(base, 500), delivery.StatusDead))
	noErr(t, "Fail failed", s.Fail(ctx, taskOf(t, ts, f[0]), attempt(base, 400), delivery.StatusFailed))
	noErr(t, "Ack", s.Ack(ctx, taskOf(t, ts, ok[0]), attempt(base, 200)))
	wantTasks(t, "claim after the heads ended", claim(t, s, at(time.Hour), 10, 0), ok[1])
	wantTasks(t, "claim a day later", claim(t, s, at(24*time.Hour), 10, 0))
	wantBlocked(t, s, k[0], k[1], k[2])
	wantBlocked(t, s, f[0], f[1])
	if getDelivery(t, s, "ten_a", ok[0].ID).Blocked {
		t.Fatal("a succeeded delivery shows blocked")
	}
	if hk, ok := s.(delivery.HeldKeysReporter); ok {
		held, err := hk.HeldKeys(ctx)
		noErr(t, "HeldKeys", err)
		same(t, "held keys", held, map[string]int{"ep_1": 2})
	}
	later := line(t, s, "device-1", "ep_1", 1)
	wantTasks(t, "claim after a publish behind the block", claim(t, s, at(25*time.Hour), 10, 0))
	same(t, "new delivery waits on", getDelivery(t, s, "ten_a", later[0].ID).WaitingOn, k[0].ID)
}

// A reclaim that spends the head's last attempt (a crash or a stalled worker) holds the key on a block endpoint.
func testBlockOnLeaseExpiry(t *testing.T, s Store) {
	ctx := t.Context()
	orderedEndpoint(t, s, "ep_1", endpoints.OrderingBlock)
	k := line(t, s, "device-1", "ep_1", 2)
	claimOne(t, s, base)
	n, _, err := s.Reclaim(ctx, at(lease+time.Second), 1, 100)
	noErr(t, "Reclaim", err)
	same(t, "reclaimed", n, 1)
	same(t, "head status", getDelivery(t, s, "ten_a", k[0].ID).Status, delivery.StatusDead)
	wantTasks(t, "claim after the head died", claim(t, s, at(time.Hour), 10, 0))
	wantBlocked(t, s, k[0], k[1])
}

// On a skip endpoint (the default) a dead head lets the next go, shows no block, and cannot be unblocked.
func testSkipReleasesKey(t *testing.T, s Store) {
	ctx := t.Context()
	orderedEndpoint(t, s, "ep_1", "")
	k := line(t, s, "device-1", "ep_1", 2)
	noErr(t, "Fail", s.Fail(ctx, claimOne(t, s, base), attempt(base, 500), delivery.StatusDead))
	wantTasks(t, "claim after the dead head", claim(t, s, base, 10, 0), k[1])
	if getDelivery(t, s, "ten_a", k[0].ID).Blocked {
		t.Fatal("dead head on a skip endpoint shows blocked")
	}
	if _, err := unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, true, base); !errors.Is(err, delivery.ErrNotBlocked) {
		t.Fatalf("Unblock of a delivery that holds nothing: %v, want ErrNotBlocked", err)
	}
}

// blockedLine makes a block endpoint with a line of n deliveries of one key whose head died.
func blockedLine(t *testing.T, s Store, n int) []*delivery.Delivery {
	t.Helper()
	orderedEndpoint(t, s, "ep_1", endpoints.OrderingBlock)
	k := line(t, s, "device-1", "ep_1", n)
	noErr(t, "Fail", s.Fail(t.Context(), claimOne(t, s, base), attempt(base, 500), delivery.StatusDead))
	wantTasks(t, "claim behind the block", claim(t, s, base, 10, 0))
	return k
}

// A retry of the blocked head makes it pending at the head of its line with a fresh schedule; the deliveries behind
// it go, in order, once it has ended; should it die again it blocks again.
func testUnblockRetry(t *testing.T, s Store) {
	ctx := t.Context()
	k := blockedLine(t, s, 3)
	d, err := unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, true, at(time.Minute))
	noErr(t, "Unblock retry", err)
	if d.Status != delivery.StatusPending || d.Attempts != 0 || d.Blocked {
		t.Fatalf("retried: status %s, attempts %d, blocked %v", d.Status, d.Attempts, d.Blocked)
	}
	same(t, "still waiting on the head", getDelivery(t, s, "ten_a", k[1].ID).WaitingOn, k[0].ID)
	ts := claim(t, s, at(time.Minute), 10, 0)
	wantTasks(t, "claim after the retry", ts, k[0])
	same(t, "attempt of the retry", ts[0].Attempt, 1)
	noErr(t, "Fail again", s.Fail(ctx, ts[0], attempt(at(time.Minute), 500), delivery.StatusDead))
	wantTasks(t, "claim after it died again", claim(t, s, at(time.Hour), 10, 0))
	wantBlocked(t, s, k[0], k[1], k[2])
	_, err = unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, true, at(time.Hour))
	noErr(t, "Unblock retry again", err)
	noErr(t, "Ack", s.Ack(ctx, claimOne(t, s, at(time.Hour)), attempt(at(time.Hour), 200)))
	same(t, "retried head", getDelivery(t, s, "ten_a", k[0].ID).Status, delivery.StatusSucceeded)
	for _, want := range k[1:] {
		ts := claim(t, s, at(time.Hour), 10, 0)
		wantTasks(t, "claim after the line moved on", ts, want)
		noErr(t, "Ack", s.Ack(ctx, ts[0], attempt(at(time.Hour), 200)))
	}
	if _, err := unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, false, at(time.Hour)); !errors.Is(err, delivery.ErrNotBlocked) {
		t.Fatalf("Unblock of a succeeded delivery: %v, want ErrNotBlocked", err)
	}
}

// A skip of the blocked head leaves it dead in the log and lets the next go.
func testUnblockSkip(t *testing.T, s Store) {
	ctx := t.Context()
	k := blockedLine(t, s, 3)
	d, err := unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, false, at(time.Minute))
	noErr(t, "Unblock skip", err)
	if d.Status != delivery.StatusDead || d.Blocked {
		t.Fatalf("skipped: status %s, blocked %v", d.Status, d.Blocked)
	}
	same(t, "waiting on the new head", getDelivery(t, s, "ten_a", k[2].ID).WaitingOn, k[1].ID)
	wantTasks(t, "claim after the skip", claim(t, s, at(time.Minute), 10, 0), k[1])
	if _, err := unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, false, at(time.Minute)); !errors.Is(err, delivery.ErrNotBlocked) {
		t.Fatalf("second skip: %v, want ErrNotBlocked", err)
	}
}

// Another tenant cannot see or unblock a blocked delivery; an unknown id is not found.
func testUnblockScope(t *testing.T, s Store) {
	ctx := t.Context()
	k := blockedLine(t, s, 2)
	for _, c := range []struct{ tenant, id string }{{"ten_b", k[0].ID}, {"ten_a", "dlv_nope"}} {
		if _, err := unblocker(t, s).Unblock(ctx, c.tenant, c.id, true, base); !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("Unblock(%s, %s): %v, want ErrNotFound", c.tenant, c.id, err)
		}
	}
	wantBlocked(t, s, k[0], k[1])
}

// A switch of the endpoint from block to skip releases every key it holds: the next of each goes.
func testSwitchToSkipReleases(t *testing.T, s Store) {
	ctx := t.Context()
	k := blockedLine(t, s, 2)
	o := line(t, s, "device-2", "ep_1", 2)
	ts := claim(t, s, base, 10, 0)
	wantTasks(t, "other key's head", ts, o[0])
	noErr(t, "Fail", s.Fail(ctx, ts[0], attempt(base, 500), delivery.StatusDead))
	e, err := s.GetEndpoint(ctx, "ten_a", "ep_1")
	noErr(t, "GetEndpoint", err)
	e.OrderingOnFailure = ""
	noErr(t, "UpdateEndpoint", s.UpdateEndpoint(ctx, e))
	wantTasks(t, "claim after the switch", claim(t, s, at(time.Minute), 10, 0), k[1], o[1])
	if getDelivery(t, s, "ten_a", k[0].ID).Blocked {
		t.Fatal("released head still shows blocked")
	}
}

// A replay of the blocked delivery's message joins the back of its line, behind the block.
func testReplayBehindBlocked(t *testing.T, s Store) {
	ctx := t.Context()
	k := blockedLine(t, s, 2)
	m, err := s.GetMessage(ctx, "ten_a", k[0].MessageID)
	noErr(t, "GetMessage", err)
	replay := deliveryOf(m, "ep_1", base)
	replay.OrderingKey = m.OrderingKey
	noErr(t, "Enqueue", s.Enqueue(ctx, []*delivery.Delivery{replay}))
	wantTasks(t, "claim with the replay queued", claim(t, s, base, 10, 0))
	same(t, "replay waits on", getDelivery(t, s, "ten_a", replay.ID).WaitingOn, k[0].ID)
	_, err = unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, false, base)
	noErr(t, "Unblock skip", err)
	ts := claim(t, s, base, 10, 0)
	wantTasks(t, "after the skip", ts, k[1])
	noErr(t, "Ack", s.Ack(ctx, ts[0], attempt(base, 200)))
	wantTasks(t, "then the replay", claim(t, s, base, 10, 0), replay)
}

// RunOrderingRestart checks that a blocked key survives a restart. open returns a fresh, empty store and a function
// that opens the same data again as a new store, dropping the one before as a crash would (an embedded store, whose
// file is locked, closes it first: its in-memory lines are lost all the same).
func RunOrderingRestart(t *testing.T, open func(t *testing.T) (Store, func() Store)) {
	ctx := t.Context()
	s, reopen := open(t)
	k := blockedLine(t, s, 3)
	s = reopen()
	wantTasks(t, "claim after the restart", claim(t, s, at(time.Hour), 10, 0))
	wantBlocked(t, s, k[0], k[1], k[2])
	_, err := unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, true, at(time.Hour))
	noErr(t, "Unblock retry", err)
	ts := claim(t, s, at(time.Hour), 10, 0)
	wantTasks(t, "claim after the retry", ts, k[0])
	same(t, "message of the retried task", ts[0].MessageID, k[0].MessageID)
	noErr(t, "Release", s.Release(ctx, ts[0], at(time.Hour)))
	s = reopen() // the retried head is pending, still first
	for _, want := range k {
		ts := claim(t, s, at(2*time.Hour), 10, 0)
		wantTasks(t, "claim in order after the second restart", ts, want)
		noErr(t, "Ack", s.Ack(ctx, ts[0], attempt(at(2*time.Hour), 200)))
	}
}

// LineHead names the delivery that goes next of a key (or holds it), and nothing for a key without a line.
func testLineHead(t *testing.T, s Store) {
	ctx := t.Context()
	lr, ok := s.(delivery.LineReader)
	if !ok {
		t.Fatal("the store is not a delivery.LineReader")
	}
	head := func() string {
		t.Helper()
		id, err := lr.LineHead(ctx, "ten_a", "ep_1", "device-1")
		noErr(t, "LineHead", err)
		return id
	}
	same(t, "head of no line", head(), "")
	k := blockedLine(t, s, 3)
	same(t, "head behind a block", head(), k[0].ID)
	_, err := unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, false, base)
	noErr(t, "Unblock skip", err)
	same(t, "head after the skip", head(), k[1].ID)
	noErr(t, "Ack", s.Ack(ctx, claimOne(t, s, base), attempt(base, 200)))
	same(t, "head after an ack", head(), k[2].ID)
	noErr(t, "Ack", s.Ack(ctx, claimOne(t, s, base), attempt(base, 200)))
	same(t, "head of an ended line", head(), "")
}

// Retention keeps a delivery that holds its key (and its message), however old, so that it can still be retried or
// skipped; once skipped it is pruned like any other.
func testPruneKeepsBlocked(t *testing.T, s Store) {
	ctx := t.Context()
	k := blockedLine(t, s, 2)
	_, err := s.Prune(ctx, at(1000*time.Hour))
	noErr(t, "Prune", err)
	wantBlocked(t, s, k[0], k[1])
	_, err = s.GetMessage(ctx, "ten_a", k[0].MessageID)
	noErr(t, "GetMessage of the blocked delivery", err)
	_, err = unblocker(t, s).Unblock(ctx, "ten_a", k[0].ID, false, base)
	noErr(t, "Unblock skip", err)
	noErr(t, "Ack", s.Ack(ctx, claimOne(t, s, base), attempt(base, 200)))
	n, err := s.Prune(ctx, at(1000*time.Hour))
	noErr(t, "Prune", err)
	same(t, "pruned after the skip", n, 2)
	if _, err := s.GetDelivery(ctx, "ten_a", k[0].ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("skipped delivery after Prune: %v", err)
	}
}

// Deleting a block endpoint releases the keys it holds: the deliveries behind them go (the engine then ends them,
// the endpoint being gone), rather than wait for an unblock no one can ask for.
func testDeleteEndpointReleases(t *testing.T, s Store) {
	k := blockedLine(t, s, 2)
	noErr(t, "DeleteEndpoint", s.DeleteEndpoint(t.Context(), "ten_a", "ep_1"))
	wantTasks(t, "claim after the delete", claim(t, s, at(time.Minute), 10, 0), k[1])
}

// whileEnding runs end, which ends a delivery, while another goroutine reads it with read, again and again, until
// check says it has seen what it waited for (check may then act on it, as a client would). It fails t with the first
// error of either side.
func whileEnding(t *testing.T, what string, end func() error, read func(n int) (*delivery.Delivery, error),
	check func(n int, d *delivery.Delivery) (bool, error)) {
	t.Helper()
	seen := make(chan error, 1)
	go func() {
		for n := 0; ; n++ {
			d, err := read(n)
			if err == nil {
				var done bool
				if done, err = check(n, d); !done && err == nil {
					continue
				}
			}
			seen <- err
			return
		}
	}()
	noErr(t, what+": ending the delivery", end())
	noErr(t, what, <-seen)
}

// getter reads one delivery of ten_a, for whileEnding.
func getter(s Store, id string) func(int) (*delivery.Delivery, error) {
	return func(int) (*delivery.Delivery, error) { return s.GetDelivery(context.Background(), "ten_a", id) }
}

// A reader that sees a delivery of a block endpoint ended sees its hold too, in GetDelivery and in ListDeliveries,
// even while the delivery is being ended: the end and the hold are one write.
func testHoldSeenWithItsEnd(t *testing.T, s Store) {
	ctx := t.Context()
	orderedEndpoint(t, s, "ep_1", endpoints.OrderingBlock)
	for i := range 30 {
		d := line(t, s, fmt.Sprintf("device-%d", i), "ep_1", 1)[0]
		ts := claim(t, s, base, 10, 0)
		wantTasks(t, "head", ts, d)
		get, f := getter(s, d.ID), delivery.Filter{EndpointID: "ep_1", After: d.ID[:len(d.ID)-1]}
		read := func(n int) (*delivery.Delivery, error) {
			if n%2 == 0 {
				return get(n)
			}
			ds, err := s.ListDeliveries(ctx, "ten_a", f)
			for _, x := range ds {
				if x.ID == d.ID {
					return x, err
				}
			}
			return nil, fmt.Errorf("ListDeliveries after %s: %d deliveries, without %s (%v)", f.After, len(ds), d.ID, err)
		}
		whileEnding(t, fmt.Sprintf("round %d", i), func() error {
			return s.Fail(ctx, ts[0], attempt(base, 500), delivery.StatusDead)
		}, read, func(n int, got *delivery.Delivery) (bool, error) {
			if got.Status != delivery.StatusDead {
				return false, nil
			}
			if !got.Blocked {
				return true, fmt.Errorf("read %d: %s is dead and does not show its hold", n, d.ID)
			}
			return true, nil
		})
	}
}

// A delivery that a reader sees holding its key can be unblocked at once, even while the delivery is being ended: a
// client that acts on what it just read never gets ErrNotBlocked.
func testUnblockOnceSeen(t *testing.T, s Store) {
	ctx := t.Context()
	u := unblocker(t, s)
	orderedEndpoint(t, s, "ep_1", endpoints.OrderingBlock)
	for i := range 30 {
		d := line(t, s, fmt.Sprintf("device-%d", i), "ep_1", 1)[0]
		ts := claim(t, s, base, 10, 0)
		wantTasks(t, "head", ts, d)
		whileEnding(t, fmt.Sprintf("round %d: unblock of a delivery just seen blocked", i), func() error {
			return s.Fail(ctx, ts[0], attempt(base, 500), delivery.StatusDead)
		}, getter(s, d.ID), func(_ int, got *delivery.Delivery) (bool, error) {
			if !got.Blocked {
				return false, nil
			}
			_, err := u.Unblock(ctx, "ten_a", d.ID, false, at(time.Minute))
			return true, err
		})
	}
}

// Switching an endpoint to skip as soon as a reader sees one of its deliveries hold a key, even while that delivery
// is being ended, releases the key: the next delivery of it goes.
func testSwitchOnceSeen(t *testing.T, s Store) {
	ctx := t.Context()
	for i := range 20 {
		ep := fmt.Sprintf("ep_%02d", i)
		orderedEndpoint(t, s, ep, endpoints.OrderingBlock)
		k := line(t, s, "device-1", ep, 2)
		ts := claim(t, s, base, 10, 0)
		wantTasks(t, "head", ts, k[0])
		whileEnding(t, fmt.Sprintf("round %d: switch to skip", i), func() error {
			return s.Fail(ctx, ts[0], attempt(base, 500), delivery.StatusDead)
		}, getter(s, k[0].ID), func(_ int, got *delivery.Delivery) (bool, error) {
			if !got.Blocked {
				return false, nil
			}
			e, err := s.GetEndpoint(ctx, "ten_a", ep)
			if err == nil {
				e.OrderingOnFailure = ""
				err = s.UpdateEndpoint(ctx, e)
			}
			return true, err
		})
		got := claim(t, s, at(time.Minute), 10, 0)
		wantTasks(t, fmt.Sprintf("round %d: claim after the switch", i), got, k[1])
		noErr(t, "Ack", s.Ack(ctx, got[0], attempt(at(time.Minute), 200)))
	}
}
