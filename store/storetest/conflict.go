package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// testEndpointConditionalWrite: UpdateEndpoint writes only over the version the caller read. A health write (the
// engine's) between the read and the write makes it fail with ErrConflict and leaves the health write in place.
func testEndpointConditionalWrite(t *testing.T, s Store) {
	ctx := t.Context()
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, endpoint("ten_a", "ep_1")))
	read, err := s.GetEndpoint(ctx, "ten_a", "ep_1")
	noErr(t, "GetEndpoint", err)

	noErr(t, "SetEndpointHealth", s.SetEndpointHealth(ctx, "ten_a", "ep_1", at(time.Minute), true, "failing"))
	stale := *read
	stale.Description = "stale"
	isErr(t, "UpdateEndpoint over an older version", s.UpdateEndpoint(ctx, &stale), endpoints.ErrConflict)
	got, _ := s.GetEndpoint(ctx, "ten_a", "ep_1")
	if got.Description != read.Description || !got.Disabled || !got.FailingSince.Equal(at(time.Minute)) {
		t.Fatalf("after a refused update: %+v, want the health write kept and the description unchanged", got)
	}

	fresh := *got
	fresh.Description = "fresh"
	noErr(t, "UpdateEndpoint over the version read", s.UpdateEndpoint(ctx, &fresh))
	if fresh.Version != got.Version+1 {
		t.Fatalf("version after update: %d, want %d", fresh.Version, got.Version+1)
	}
	again, _ := s.GetEndpoint(ctx, "ten_a", "ep_1")
	same(t, "after update", again, &fresh)
	isErr(t, "UpdateEndpoint of the old version again", s.UpdateEndpoint(ctx, got), endpoints.ErrConflict)
}

// testEndpointWriteRace races the service's read-modify-writes (PATCH, disable, enable-like resets are covered by
// the same path; rotate) against the engine's health writes on one endpoint: every write must survive. The health
// writer's last failing_since must be what is stored at the end, and so must the last description PATCHed.
func testEndpointWriteRace(t *testing.T, s Store) {
	ctx := t.Context()
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, endpoint("ten_a", "ep_1")))
	svc := endpoints.NewService(s, endpoints.Config{})
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	wg.Go(func() {
		for i := range n {
			if err := s.SetEndpointHealth(ctx, "ten_a", "ep_1", at(time.Duration(i+1)*time.Second), false, ""); err != nil {
				errs <- fmt.Errorf("health %d: %w", i, err)
			}
		}
	})
	wg.Go(func() {
		for i := range n {
			d := fmt.Sprintf("patch %d", i)
			if _, err := svc.Update(ctx, "ten_a", "ep_1", endpoints.UpdateInput{Description: &d}); err != nil {
				errs <- fmt.Errorf("update %d: %w", i, err)
			}
		}
	})
	wg.Go(func() {
		for i := range n {
			var err error
			if i%2 == 0 {
				_, err = svc.Rotate(ctx, "ten_a", "ep_1", endpoints.RotateInput{})
			} else {
				_, err = svc.Disable(ctx, "ten_a", "ep_1")
			}
			if err != nil {
				errs <- fmt.Errorf("rotate/disable %d: %w", i, err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.GetEndpoint(ctx, "ten_a", "ep_1")
	noErr(t, "GetEndpoint", err)
	if want := at(n * time.Second); !got.FailingSince.Equal(want) {
		t.Errorf("failing_since %v, want the last health write's %v: a PATCH, rotate or disable wrote over it", got.FailingSince, want)
	}
	if want := fmt.Sprintf("patch %d", n-1); got.Description != want {
		t.Errorf("description %q, want %q: a health write or rotate wrote over a PATCH", got.Description, want)
	}
	if !got.Disabled {
		t.Errorf("not disabled after the last disable")
	}
	if got.Version < 3*n {
		t.Errorf("version %d after %d writes", got.Version, 3*n)
	}
}
