package delivery

import (
	"context"
	"errors"
	"time"
)

// Ordering keys: a message may carry an ordering key. Per endpoint and key a queue hands out one delivery at a time,
// in publish order: a delivery waits (Delivery.WaitingOn) while an earlier one of its key is pending or being retried,
// and goes when that one ends (succeeded, failed or dead). A replay joins the back of its key's line. Deliveries
// without a key are not affected.
//
// On an endpoint whose ordering_on_failure is block (endpoints.Endpoint.BlocksOnFailure), a delivery with a key that
// ends failed or dead stays at the head of its key's line (Delivery.Blocked): the deliveries behind it wait on it
// until the tenant unblocks it (Unblocker), by retrying it or by skipping it. The queue reads the endpoint's setting
// when the delivery ends; a switch of the endpoint back to skip releases every key it holds.

// MaxOrderingKey is the longest ordering key, in bytes.
const MaxOrderingKey = 128

// ErrNotBlocked is returned by Unblocker.Unblock for a delivery that does not hold its ordering key.
var ErrNotBlocked = errors.New("delivery does not block its ordering key")

// HeldKeysReporter is a Queue that can count, per endpoint id, the ordering keys that hold a delivery waiting behind
// an earlier one.
type HeldKeysReporter interface {
	HeldKeys(ctx context.Context) (map[string]int, error)
}

// Unblocker is a Queue that can end the hold of a blocked delivery (Delivery.Blocked) on its ordering key.
type Unblocker interface {
	// Unblock ends the hold of tenant's blocked delivery id. With retry, the delivery itself is pending again, due
	// at now, with a fresh retry schedule (its attempts count from 0 again; the earlier ones stay in the log), and
	// stays at the head of its line: the deliveries behind it wait until it ends. Without, it stays as it ended and
	// the next delivery of its key goes. It returns the delivery as it is now; ErrNotFound when there is no such
	// delivery of tenant, ErrNotBlocked when it does not hold its key.
	Unblock(ctx context.Context, tenantID, id string, retry bool, now time.Time) (*Delivery, error)
}
