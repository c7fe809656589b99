package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/tenants"
)

// pageCount turns a list limit into a ZRANGE count (0: no limit).
func pageCount(limit int) int64 {
	if limit <= 0 {
		return 0
	}
	return int64(limit)
}

// lexPage lists up to limit members of a lexicographic ZSET after the cursor.
func (s *Store) lexPage(ctx context.Context, key, after string, limit int) ([]string, error) {
	args := redis.ZRangeArgs{Key: key, ByLex: true, Start: afterID(after), Stop: "+", Count: pageCount(limit)}
	if args.Count == 0 {
		args.Count = -1
	}
	return s.rdb.ZRangeArgs(ctx, args).Result()
}

// ---- tenants

// CreateTenant stores a new tenant; tenants.ErrExists when the id is taken.
func (s *Store) CreateTenant(ctx context.Context, t *tenants.Tenant) error {
	if !validID(t.ID) {
		return fmt.Errorf("redisstore: tenant id %q: want 1 to 64 of [A-Za-z0-9_-]", t.ID)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("redisstore: encode tenant: %w", err)
	}
	// The list entry first: a crash between the two leaves an entry without a record, which lists skip.
	if err := s.rdb.ZAdd(ctx, s.k.tenantList(), redis.Z{Member: t.ID}).Err(); err != nil {
		return fmt.Errorf("redisstore: create tenant %s: %w", t.ID, err)
	}
	ok, err := s.rdb.SetNX(ctx, s.k.tenant(t.ID), b, 0).Result()
	if err != nil {
		return fmt.Errorf("redisstore: create tenant %s: %w", t.ID, err)
	}
	if !ok {
		return fmt.Errorf("redisstore: tenant %s: %w", t.ID, tenants.ErrExists)
	}
	return nil
}

// GetTenant returns a tenant.
func (s *Store) GetTenant(ctx context.Context, id string) (*tenants.Tenant, error) {
	if !validID(id) {
		return nil, tenants.ErrNotFound
	}
	b, err := s.rdb.Get(ctx, s.k.tenant(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, tenants.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get tenant %s: %w", id, err)
	}
	var t tenants.Tenant
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("redisstore: decode tenant %s: %w", id, err)
	}
	return &t, nil
}

// ListTenants lists tenants in id order after the cursor.
func (s *Store) ListTenants(ctx context.Context, after string, limit int) ([]*tenants.Tenant, error) {
	var out []*tenants.Tenant
	for {
		ids, err := s.lexPage(ctx, s.k.tenantList(), after, limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("redisstore: list tenants: %w", err)
		}
		if len(ids) == 0 {
			return out, nil
		}
		pipe := s.rdb.Pipeline() // tenants live in different slots: one GET each, one round trip
		cmds := make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.Get(ctx, s.k.tenant(id))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("redisstore: list tenants: %w", err)
		}
		missing := false
		for _, c := range cmds {
			b, err := c.Bytes()
			if err != nil {
				missing = true
				continue
			}
			var t tenants.Tenant
			if err := json.Unmarshal(b, &t); err != nil {
				return nil, fmt.Errorf("redisstore: decode tenant: %w", err)
			}
			out = append(out, &t)
		}
		after = ids[len(ids)-1]
		if !missing || limit <= 0 || len(ids) < limit {
			return out, nil
		}
	}
}

// ---- tokens

// CreateToken stores a token (its hash, never its text).
func (s *Store) CreateToken(ctx context.Context, t *tenants.Token) error {
	if !validID(t.ID) || !validID(t.TenantID) {
		return fmt.Errorf("redisstore: token %q of tenant %q: ids must be 1 to 64 of [A-Za-z0-9_-]", t.ID, t.TenantID)
	}
	v, err := encodeToken(t)
	if err != nil {
		return fmt.Errorf("redisstore: encode token: %w", err)
	}
	// The record first, so that the lookup never names a missing token.
	if err := s.rdb.HSet(ctx, s.k.tokens(t.TenantID), t.ID, v).Err(); err != nil {
		return fmt.Errorf("redisstore: create token %s: %w", t.ID, err)
	}
	if err := s.rdb.Set(ctx, s.k.tokenByHash(t.Hash), t.TenantID+" "+t.ID, 0).Err(); err != nil {
		return fmt.Errorf("redisstore: create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the live token with that hash; tenants.ErrToken when it is unknown or revoked.
func (s *Store) TokenByHash(ctx context.Context, hash [32]byte) (*tenants.Token, error) {
	ref, err := s.rdb.Get(ctx, s.k.tokenByHash(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, tenants.ErrToken
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: token by hash: %w", err)
	}
	tenantID, tokenID, _ := strings.Cut(ref, " ")
	v, err := s.rdb.HGet(ctx, s.k.tokens(tenantID), tokenID).Result()
	if errors.Is(err, redis.Nil) {
		return nil, tenants.ErrToken
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: token by hash: %w", err)
	}
	t, err := decodeToken(v)
	if err != nil {
		return nil, err
	}
	if !t.RevokedAt.IsZero() || t.Hash != hash {
		return nil, tenants.ErrToken
	}
	return t, nil
}

// ListTokens lists a tenant's tokens (revoked ones too) in id order.
func (s *Store) ListTokens(ctx context.Context, tenantID string) ([]*tenants.Token, error) {
	if !validID(tenantID) {
		return nil, nil
	}
	all, err := s.rdb.HGetAll(ctx, s.k.tokens(tenantID)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list tokens: %w", err)
	}
	out := make([]*tenants.Token, 0, len(all))
	for _, v := range all {
		t, err := decodeToken(v)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *tenants.Token) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// RevokeToken marks a tenant's token revoked at at; tenants.ErrNotFound when it is not the tenant's.
func (s *Store) RevokeToken(ctx context.Context, tenantID, tokenID string, at time.Time) error {
	if !validID(tenantID) || !validID(tokenID) {
		return tenants.ErrNotFound
	}
	key := s.k.tokens(tenantID)
	return s.update(ctx, key, func(tx *redis.Tx) (func(redis.Pipeliner), error) {
		v, err := tx.HGet(ctx, key, tokenID).Result()
		if errors.Is(err, redis.Nil) {
			return nil, tenants.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		t, err := decodeToken(v)
		if err != nil {
			return nil, err
		}
		t.RevokedAt = at
		nv, err := encodeToken(t)
		if err != nil {
			return nil, err
		}
		return func(p redis.Pipeliner) { p.HSet(ctx, key, tokenID, nv) }, nil
	})
}

// update runs an optimistic read-modify-write on one key: read under WATCH, then the returned writes in MULTI,
// retried when another client changed the key in between.
func (s *Store) update(ctx context.Context, key string, fn func(*redis.Tx) (func(redis.Pipeliner), error)) error {
	for range 16 {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			write, err := fn(tx)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { write(p); return nil })
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("redisstore: update %s: too much contention", key)
}

// ---- endpoints

// CreateEndpoint stores a new endpoint and publishes its rate limit to its queue shard.
func (s *Store) CreateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	if !validID(e.ID) || !validID(e.TenantID) {
		return fmt.Errorf("%w: endpoint %q of tenant %q: ids must be 1 to 64 of [A-Za-z0-9_-]", endpoints.ErrInvalid, e.ID, e.TenantID)
	}
	v, err := encodeEndpoint(e)
	if err != nil {
		return fmt.Errorf("redisstore: encode endpoint: %w", err)
	}
	pipe := s.rdb.TxPipeline()
	set := pipe.SetNX(ctx, s.k.endpoint(e.TenantID, e.ID), v, 0)
	pipe.ZAdd(ctx, s.k.endpointList(e.TenantID), redis.Z{Member: e.ID})
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: create endpoint %s: %w", e.ID, err)
	}
	if !set.Val() {
		return fmt.Errorf("%w: endpoint %s already exists", endpoints.ErrInvalid, e.ID)
	}
	if err := s.writeOrdering(ctx, e, false); err != nil {
		return err
	}
	return s.writeRate(ctx, e)
}

// writeRate keeps the queue shard's copy of the endpoint's rate limit, which claimScript enforces.
func (s *Store) writeRate(ctx context.Context, e *endpoints.Endpoint) error {
	var err error
	if r := endpoints.EnforcedRate(e.RateLimit); r > 0 {
		burst := s.opt.RateBurst
		if burst == 0 {
			burst = int(max(1, math.Min(math.Ceil(r), 1e6)))
		}
		err = s.setGate(ctx, e.ID, e.ID, strconv.FormatFloat(r, 'g', -1, 64)+","+strconv.Itoa(burst))
	} else {
		err = s.setGate(ctx, e.ID, e.ID, "")
	}
	if err != nil {
		return fmt.Errorf("redisstore: endpoint %s: rate: %w", e.ID, err)
	}
	return nil
}

// GetEndpoint returns a tenant's endpoint.
func (s *Store) GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error) {
	if !validID(tenantID) || !validID(id) {
		return nil, endpoints.ErrNotFound
	}
	v, err := s.rdb.Get(ctx, s.k.endpoint(tenantID, id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, endpoints.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get endpoint %s: %w", id, err)
	}
	return decodeEndpoint(v)
}

// ListEndpoints lists a tenant's endpoints in id order after the cursor.
func (s *Store) ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*endpoints.Endpoint, error) {
	if !validID(tenantID) {
		return nil, nil
	}
	ids, err := s.lexPage(ctx, s.k.endpointList(tenantID), after, limit)
	if err != nil {
		return nil, fmt.Errorf("redisstore: list endpoints: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.k.endpoint(tenantID, id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result() // one slot: the tenant's
	if err != nil {
		return nil, fmt.Errorf("redisstore: list endpoints: %w", err)
	}
	out := make([]*endpoints.Endpoint, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		e, err := decodeEndpoint(str)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// UpdateEndpoint replaces a stored endpoint whose version is still e.Version (read under WATCH, written in MULTI)
// and bumps the version; endpoints.ErrNotFound when there is none, endpoints.ErrConflict when another write came in
// between. A change of its rate limit re-times its queued deliveries (retime).
func (s *Store) UpdateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	if !validID(e.TenantID) || !validID(e.ID) {
		return endpoints.ErrNotFound
	}
	next := *e
	next.Version = e.Version + 1
	v, err := encodeEndpoint(&next)
	if err != nil {
		return fmt.Errorf("redisstore: encode endpoint: %w", err)
	}
	key := s.k.endpoint(e.TenantID, e.ID)
	oldRate, wasBlocking := 0.0, false
	err = s.update(ctx, key, func(tx *redis.Tx) (func(redis.Pipeliner), error) {
		cur, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil, endpoints.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		old, err := decodeEndpoint(cur)
		if err != nil {
			return nil, err
		}
		if old.Version != e.Version {
			return nil, fmt.Errorf("endpoint %s: version %d, stored %d: %w", e.ID, e.Version, old.Version, endpoints.ErrConflict)
		}
		oldRate = old.RateLimit
		wasBlocking = old.BlocksOnFailure()
		return func(p redis.Pipeliner) { p.Set(ctx, key, v, 0) }, nil
	})
	if err != nil {
		if errors.Is(err, endpoints.ErrNotFound) || errors.Is(err, endpoints.ErrConflict) {
			return err
		}
		return fmt.Errorf("redisstore: update endpoint %s: %w", e.ID, err)
	}
	e.Version = next.Version
	if err := s.writeOrdering(ctx, e, wasBlocking); err != nil {
		return err
	}
	if err := s.writeRate(ctx, e); err != nil {
		return err
	}
	if oldRate != e.RateLimit {
		return s.retime(ctx, e.ID, e.RateLimit)
	}
	return nil
}

// retimeMax bounds how many queued deliveries of one endpoint a re-time looks at.
const retimeMax = 100000

// retime re-times the endpoint's queued deliveries after a change of its rate limit (retimeScript): the deliveries
// held back under the old rate are spaced by the new one from now, and the old rate's wait is dropped.
func (s *Store) retime(ctx context.Context, endpointID string, rate float64) error {
	sk := s.k.shardOf(endpointID)
	step := 0.0
	if r := endpoints.EnforcedRate(rate); r > 0 {
		step = 1000 / r
	}
	now := ms(s.now())
	if err := retimeScript.Run(ctx, s.rdb, sk.queue(sk.gcra), endpointID, now, strconv.FormatFloat(step, 'f', -1, 64),
		sk.recordPrefix(), retimeMax).Err(); err != nil {
		return fmt.Errorf("redisstore: endpoint %s: re-time: %w", endpointID, err)
	}
	s.madeDue(sk.num, now, true)
	return nil
}

// DeleteEndpoint removes a tenant's endpoint and its rate state; endpoints.ErrNotFound when there is none. Its
// queued deliveries stay: the engine ends them when it finds the endpoint gone.
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	if !validID(tenantID) || !validID(id) {
		return endpoints.ErrNotFound
	}
	pipe := s.rdb.TxPipeline()
	del := pipe.Del(ctx, s.k.endpoint(tenantID, id))
	pipe.ZRem(ctx, s.k.endpointList(tenantID), id)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: delete endpoint %s: %w", id, err)
	}
	if del.Val() == 0 {
		return endpoints.ErrNotFound
	}
	sk := s.k.shardOf(id)
	pipe = s.rdb.TxPipeline()
	pipe.HDel(ctx, sk.rates, id, holdField(id))
	pipe.HDel(ctx, sk.gcra, id)
	pipe.HDel(ctx, sk.busy, id) // a task still in flight finds it gone (a count below 0 deletes itself)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: delete endpoint %s: rate: %w", id, err)
	}
	// Release the keys it holds, so the deliveries behind them go (and end: the endpoint is gone).
	return s.writeOrdering(ctx, &endpoints.Endpoint{ID: id}, true)
}

// SetEndpointHealth records a health transition without touching the rest of the record (a disable also sets
// UpdatedAt), and bumps the version.
func (s *Store) SetEndpointHealth(ctx context.Context, tenantID, id string, failingSince time.Time, disable bool, reason string) error {
	if !validID(tenantID) || !validID(id) {
		return endpoints.ErrNotFound
	}
	key := s.k.endpoint(tenantID, id)
	return s.update(ctx, key, func(tx *redis.Tx) (func(redis.Pipeliner), error) {
		v, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil, endpoints.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		e, err := decodeEndpoint(v)
		if err != nil {
			return nil, err
		}
		e.FailingSince = failingSince
		if disable {
			e.Disabled, e.DisabledReason, e.UpdatedAt = true, reason, time.Now().UTC()
		}
		e.Version++
		nv, err := encodeEndpoint(e)
		if err != nil {
			return nil, err
		}
		return func(p redis.Pipeliner) { p.Set(ctx, key, nv, 0) }, nil
	})
}

// ---- event-type catalogue

// PutEventType creates or replaces a catalogue entry.
func (s *Store) PutEventType(ctx context.Context, t *events.EventType) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("redisstore: encode event type: %w", err)
	}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.k.eventTypes(), t.Name, b)
	pipe.ZAdd(ctx, s.k.eventNames(), redis.Z{Member: t.Name})
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: put event type %s: %w", t.Name, err)
	}
	return nil
}

// GetEventType returns a catalogue entry.
func (s *Store) GetEventType(ctx context.Context, name string) (*events.EventType, error) {
	b, err := s.rdb.HGet(ctx, s.k.eventTypes(), name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, events.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get event type %s: %w", name, err)
	}
	var t events.EventType
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("redisstore: decode event type %s: %w", name, err)
	}
	return &t, nil
}

// ListEventTypes lists catalogue entries in name order after the cursor.
func (s *Store) ListEventTypes(ctx context.Context, after string, limit int) ([]*events.EventType, error) {
	names, err := s.lexPage(ctx, s.k.eventNames(), after, limit)
	if err != nil {
		return nil, fmt.Errorf("redisstore: list event types: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.k.eventTypes(), names...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list event types: %w", err)
	}
	out := make([]*events.EventType, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var t events.EventType
		if err := json.Unmarshal([]byte(str), &t); err != nil {
			return nil, fmt.Errorf("redisstore: decode event type: %w", err)
		}
		out = append(out, &t)
	}
	return out, nil
}

// DeleteEventType removes a catalogue entry; events.ErrNotFound when there is none.
func (s *Store) DeleteEventType(ctx context.Context, name string) error {
	pipe := s.rdb.TxPipeline()
	del := pipe.HDel(ctx, s.k.eventTypes(), name)
	pipe.ZRem(ctx, s.k.eventNames(), name)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: delete event type %s: %w", name, err)
	}
	if del.Val() == 0 {
		return events.ErrNotFound
	}
	return nil
}
