// Package redisdedup is a verifier.DedupStore in Redis, for receivers that run more than one replica: every replica
// sees the ids the others recorded.
//
// Each id is one key, Prefix + id, set with SET key 1 NX PX ttl: the first replica to record an id wins, atomically,
// and Redis expires the key after the TTL. The store needs no Lua and touches one key per call, so it works with Redis
// Cluster unchanged.
package redisdedup

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/verifier"
)

// DefaultPrefix is Config.Prefix's default.
const DefaultPrefix = "webhookd:dedup:"

// Config configures a Store.
type Config struct {
	// Prefix starts every key the store writes, so that it shares a database safely. Defaults to "webhookd:dedup:".
	Prefix string
}

// Store is a verifier.DedupStore and verifier.Forgetter over a Redis client. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var (
	_ verifier.DedupStore = (*Store)(nil)
	_ verifier.Forgetter  = (*Store)(nil)
)

// New returns a Store that uses client (a *redis.Client, *redis.ClusterClient or *redis.Ring). The caller keeps
// ownership of client.
func New(client redis.UniversalClient, cfg Config) *Store {
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{client: client, prefix: prefix}
}

// Key returns the Redis key that records id.
func (s *Store) Key(id string) string { return s.prefix + id }

// Seen implements verifier.DedupStore: it records id for ttl (rounded up to whole milliseconds) unless it is already
// recorded, and reports whether it was. A ttl of zero or less records nothing.
func (s *Store) Seen(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, nil
	}
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	set, err := s.client.SetNX(ctx, s.Key(id), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redisdedup: SET NX: %w", err)
	}
	return !set, nil
}

// Forget implements verifier.Forgetter: it deletes id's record.
func (s *Store) Forget(ctx context.Context, id string) error {
	if err := s.client.Del(ctx, s.Key(id)).Err(); err != nil {
		return fmt.Errorf("redisdedup: DEL: %w", err)
	}
	return nil
}
