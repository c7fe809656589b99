package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
)

// expungeScript swaps a message's head for the expunged one and drops its data, if the head is still the one read
// (KEYS[1] the message HASH; ARGV[1] the head read, ARGV[2] the new head). It returns 1, or 0 when the head changed.
var expungeScript = newScript(`
if redis.call('HGET', KEYS[1], 'm') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'm', ARGV[2])
redis.call('HDEL', KEYS[1], 'data')
return 1
`)

// ExpungeMessage drops the payload of a tenant's message: the record keeps its id, type and times, its data reads
// as null and ExpungedAt is set (to at, or kept from an earlier expunge). delivery.ErrNotFound when absent or
// another tenant's. This process's message caches forget it.
func (s *Store) ExpungeMessage(ctx context.Context, tenantID, id string, at time.Time) (*delivery.Message, error) {
	if !validID(id) {
		return nil, delivery.ErrNotFound
	}
	if s.onePublish {
		m, found, err := s.expungeInline(ctx, tenantID, id, at)
		if found || err != nil {
			if err == nil {
				s.recent.Forget(id)
				s.claimed.Forget(id)
				m.Data = json.RawMessage("null")
			}
			return m, err
		}
	}
	k := s.k.msgShardOf(id).message(id)
	for range 10 {
		head, err := s.rdb.HGet(ctx, k, "m").Result()
		if errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("redisstore: expunge message %s: %w", id, delivery.ErrNotFound)
		} else if err != nil {
			return nil, fmt.Errorf("redisstore: expunge message %s: %w", id, err)
		}
		m, nh, err := expunged(id, head, at)
		if err != nil {
			return nil, err
		}
		if m.TenantID != tenantID {
			return nil, fmt.Errorf("redisstore: expunge message %s: %w", id, delivery.ErrNotFound)
		}
		n, err := expungeScript.Run(ctx, s.rdb, []string{k}, head, nh).Int()
		if err != nil {
			return nil, fmt.Errorf("redisstore: expunge message %s: %w", id, err)
		}
		if n == 1 {
			s.recent.Forget(id)
			s.claimed.Forget(id)
			m.Data = json.RawMessage("null")
			return m, nil
		}
	}
	return nil, fmt.Errorf("redisstore: expunge message %s: the message kept changing", id)
}

// expunged decodes a message's JSON (without data) and returns it expunged at at (or when it was before), with its new
// JSON.
func expunged(id, head string, at time.Time) (*delivery.Message, []byte, error) {
	m, err := decodeMessage(id, head, nil)
	if err != nil {
		return nil, nil, err
	}
	if m.ExpungedAt.IsZero() {
		m.ExpungedAt = at.UTC()
	}
	m.Data = nil
	nh, err := json.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("redisstore: encode message %s: %w", id, err)
	}
	return m, nh, nil
}
