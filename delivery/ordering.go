package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/webhookd/webhookd/endpoints"
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

// LineReader is a Queue that can tell which delivery heads an ordering key's line.
type LineReader interface {
	// LineHead returns the id of the delivery at the head of the line of key okey at tenant's endpoint: the one that
	// goes next (or is going, or blocks the key); "" when the line is empty.
	LineHead(ctx context.Context, tenantID, endpointID, okey string) (string, error)
}

// logKeyMovesOn logs, after t ended failed or dead on an endpoint that lets its ordering key go on (skip), which
// delivery of the key goes next: the log then says that an event went after one that never arrived. The key is
// logged as a hash (it may name a device or a person). Nothing is read for a delivery without a key but the message,
// which the attempt has just read through the message cache.
func (e *Engine) logKeyMovesOn(ctx context.Context, t Task, ep *endpoints.Endpoint, status Status) {
	lr, ok := e.q.(LineReader)
	if !ok || ep == nil || ep.BlocksOnFailure() {
		return
	}
	m, err := e.msgs.GetMessage(ctx, t.TenantID, t.MessageID)
	if err != nil || m.OrderingKey == "" {
		return
	}
	next, err := lr.LineHead(ctx, t.TenantID, t.EndpointID, m.OrderingKey)
	if err != nil || next == "" {
		return
	}
	sum := sha256.Sum256([]byte(m.OrderingKey))
	e.log.LogAttrs(ctx, slog.LevelWarn, "delivery: ordering key goes on after a "+string(status)+" delivery",
		slog.String("tenant", t.TenantID), slog.String("endpoint_id", t.EndpointID),
		slog.String("ordering_key_sha256", hex.EncodeToString(sum[:8])), slog.String("ended_delivery_id", t.DeliveryID),
		slog.String("next_delivery_id", next))
}
