package delivery

import "context"

// Ordering keys: a message may carry an ordering key. Per endpoint and key a queue hands out one delivery at a time,
// in publish order: a delivery waits (Delivery.WaitingOn) while an earlier one of its key is pending or being retried,
// and goes when that one ends (succeeded, failed or dead). A replay joins the back of its key's line. Deliveries
// without a key are not affected.

// MaxOrderingKey is the longest ordering key, in bytes.
const MaxOrderingKey = 128

// HeldKeysReporter is a Queue that can count, per endpoint id, the ordering keys that hold a delivery waiting behind
// an earlier one.
type HeldKeysReporter interface {
	HeldKeys(ctx context.Context) (map[string]int, error)
}
