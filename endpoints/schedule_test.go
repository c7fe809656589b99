package endpoints

import (
	"errors"
	"testing"
	"time"
)

func TestRetryLimits(t *testing.T) {
	n := func(v int) *int { return &v }
	ms := time.Millisecond
	for _, c := range []struct {
		e     Endpoint
		limit RetryLimits
		field string // "" when valid
	}{
		{Endpoint{}, RetryLimits{}, ""},
		{Endpoint{Retries: n(0)}, RetryLimits{}, ""},
		{Endpoint{Retries: n(10), RetryInitial: 100 * ms, RetryCap: 24 * time.Hour}, RetryLimits{}, ""},
		{Endpoint{Retries: n(11)}, RetryLimits{}, "retries"},
		{Endpoint{Retries: n(-1)}, RetryLimits{}, "retries"},
		{Endpoint{Retries: n(4)}, RetryLimits{MaxRetries: 3}, "retries"},
		{Endpoint{Retries: n(10)}, RetryLimits{MaxRetries: 50}, ""}, // the operator's limit is itself capped at 10
		{Endpoint{Retries: n(11)}, RetryLimits{MaxRetries: 50}, "retries"},
		{Endpoint{RetryInitial: 99 * ms}, RetryLimits{}, "retry_initial"},
		{Endpoint{RetryCap: 25 * time.Hour}, RetryLimits{}, "retry_cap"},
		{Endpoint{RetryCap: 2 * time.Minute}, RetryLimits{MaxCap: time.Minute}, "retry_cap"},
		{Endpoint{RetryInitial: 2 * time.Second, RetryCap: time.Second}, RetryLimits{}, "retry_cap"},
	} {
		err := c.limit.Validate(&c.e)
		var fe *FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%+v under %+v: %v", c.e, c.limit, err)
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalid)):
			t.Errorf("%+v under %+v: %v, want a FieldError for %s", c.e, c.limit, err, c.field)
		}
	}
}

func TestApplySchedule(t *testing.T) {
	three, reset := 3, -1
	d := 5 * time.Second
	e := &Endpoint{}
	applySchedule(e, UpdateInput{Retries: &three, RetryInitial: &d})
	if e.Retries == nil || *e.Retries != 3 || e.RetryInitial != d || e.RetryCap != 0 {
		t.Fatalf("after set: %+v", e)
	}
	three = 7 // the endpoint keeps its own copy
	applySchedule(e, UpdateInput{})
	if *e.Retries != 3 {
		t.Fatalf("unchanged update changed retries to %d", *e.Retries)
	}
	zero := time.Duration(0)
	applySchedule(e, UpdateInput{Retries: &reset, RetryInitial: &zero})
	if e.Retries != nil || e.RetryInitial != 0 {
		t.Fatalf("after reset: %+v", e)
	}
}
