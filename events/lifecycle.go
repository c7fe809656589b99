package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// ErrExpunged is returned for a redelivery (replay) of a message whose payload was expunged.
var ErrExpunged = errors.New("the message's payload was expunged")

// Expunger is a Store that drops one message's payload (both stores are).
type Expunger interface {
	ExpungeMessage(ctx context.Context, tenantID, id string, at time.Time) (*delivery.Message, error)
}

// ExpungeMessage drops the payload of a tenant's message, for good: the log keeps the message's id, type and times
// and its deliveries and attempts, the data reads as null, replays are refused with ErrExpunged and recovers skip it,
// and a pending delivery of it ends failed at its next attempt instead of sending. Expunging again is harmless.
// delivery.ErrNotFound when the message is absent or another tenant's.
func (s *Service) ExpungeMessage(ctx context.Context, tenantID, id string) (*delivery.Message, error) {
	x, ok := s.store.(Expunger)
	if !ok {
		return nil, errors.New("expunge: the store cannot expunge messages")
	}
	m, err := x.ExpungeMessage(ctx, tenantID, id, s.cfg.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("expunge %s: %w", id, err)
	}
	return m, nil
}
