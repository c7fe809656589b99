package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/tenants"
)

// Tenant deletion (tenants.Deleter). MarkTenantDeleting lists the tenant in P deleting, then in one script on the
// tenant's slot writes its deleting time and moves its tokens hash aside (TokenByHash reads the tokens hash, so every
// token fails at once), then takes its endpoints' queue state out of their shards (step 2 below, so nothing of the
// tenant is claimed any more) and deletes its portal sessions. PurgeTenant removes the rest in bounded steps, each a
// script or a short pipeline that is idempotent, so a purge interrupted anywhere is finished by the next:
//
//  1. credentials: the token lookups named by the moved tokens hash, then the hash;
//  2. endpoints: each goes into P{t:<tenant>}:doomed-eps, its queue state leaves its shard (ready, turns, parked,
//     lanes, busy, rates, hold, GCRA, ordering counts: nothing of it is claimable any more), then its record;
//  3. deliveries, from the tenant's log index: records, attempts, leases, dead entries, endpoint index entries and
//     ordering lines, then the messages they name (records, delivery indexes, retention entries); a result of an
//     attempt in flight finds no record and is refused;
//  4. what step 3 could not reach: the doomed endpoints' own delivery indexes, and messages without deliveries
//     (a walk of every message shard's retention index);
//  5. every other key under the tenant's hash tag (idempotency keys, call log, sessions), by SCAN on every master;
//  6. when 1 to 5 found nothing: the doomed endpoints' queue state once more (a result handed in while step 2 ran
//     may have queued a retry), then the tenant record, and the tenant leaves the lists.
//
// Keys of its own:
//
//	P deleting                        ZSET    ids of the tenants being deleted, scores 0
//	P{t:<tenant>}:tokens-deleted      HASH    the tokens hash, moved aside by MarkTenantDeleting
//	P{t:<tenant>}:doomed-eps          ZSET    the endpoint ids whose queue state is being removed, scores 0

var _ tenants.Deleter = (*Store)(nil)

func (k *keys) deletingTenants() string              { return k.prefix + "deleting" }
func (k *keys) deletedTokens(tenantID string) string { return k.tenantTag(tenantID) + "tokens-deleted" }
func (k *keys) doomedEndpoints(tenantID string) string {
	return k.tenantTag(tenantID) + "doomed-eps"
}

// markScript writes the deleting head of a tenant if its record is still the one read, and moves its tokens aside
// (KEYS: tenant, tokens, tokens-deleted; ARGV: the record read, the new record). 1 done, 0 no tenant, -1 changed.
var markScript = newScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if v ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
local toks = redis.call('HGETALL', KEYS[2])
for i = 1, #toks, 2 do redis.call('HSET', KEYS[3], toks[i], toks[i + 1]) end
redis.call('DEL', KEYS[2])
return 1
`)

// purgeEndpointScript removes an endpoint's queue state from its shard (KEYS: ready, turns, lanes, leases, busy,
// parked, rates, gcra, okeys, oblock; ARGV: endpoint, its hold field) and returns how many entries it removed.
var purgeEndpointScript = newScript(`
local ep = ARGV[1]
local n = redis.call('ZREM', KEYS[1], ep) + redis.call('ZREM', KEYS[2], ep) + redis.call('ZREM', KEYS[6], ep)
n = n + redis.call('ZREMRANGEBYLEX', KEYS[3], '[' .. ep .. '|', '(' .. ep .. '}')
n = n + redis.call('HDEL', KEYS[5], ep) + redis.call('HDEL', KEYS[7], ep, ARGV[2]) + redis.call('HDEL', KEYS[8], ep)
n = n + redis.call('HDEL', KEYS[9], ep) + redis.call('HDEL', KEYS[10], ep)
return n
`)

// purgeDeliveriesScript deletes deliveries of one queue shard (KEYS: leases, dead; ARGV: record prefix, attempts
// prefix, line prefix, endpoint index prefix, then delivery id and endpoint pairs) and returns the message ids their
// records named.
var purgeDeliveriesScript = newScript(`
local out = {}
for i = 5, #ARGV, 2 do
  local id, ep = ARGV[i], ARGV[i + 1]
  local rec = ARGV[1] .. id
  local r = redis.call('HMGET', rec, 'msg', 'ok', 'fence')
  if r[2] then redis.call('DEL', ARGV[3] .. ep .. '|' .. r[2]) end
  redis.call('DEL', rec, ARGV[2] .. id)
  redis.call('ZREM', KEYS[1], id) -- a lease of an older version; now "<delivery> <fence>"
  if r[3] then redis.call('ZREM', KEYS[1], id .. ' ' .. r[3]) end
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', ARGV[4] .. ep, id)
  if r[1] then out[#out + 1] = r[1] end
end
return out
`)

// purgeMessagesScript deletes the messages of one message shard that belong to the tenant (KEYS: the shard's
// retention index; ARGV: message prefix, delivery index prefix, tenant, then message ids) and returns how many.
var purgeMessagesScript = newScript(`
local n = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local k = ARGV[1] .. id
  local t = redis.call('HGET', k, 'tenant')
  if t == ARGV[3] then
    redis.call('DEL', k, ARGV[2] .. id)
    redis.call('ZREM', KEYS[1], id)
    n = n + 1
  end
end
return n
`)

// MarkTenantDeleting marks a tenant deleting at at (a tenant already deleting keeps its first time), makes its tokens
// fail and deletes its portal sessions; tenants.ErrNotFound when absent.
func (s *Store) MarkTenantDeleting(ctx context.Context, id string, at time.Time) (*tenants.Tenant, error) {
	if !validID(id) {
		return nil, tenants.ErrNotFound
	}
	// The list entry first: a crash before the record is written leaves an entry the reaper drops.
	if err := s.rdb.ZAdd(ctx, s.k.deletingTenants(), redis.Z{Member: id}).Err(); err != nil {
		return nil, fmt.Errorf("redisstore: mark tenant %s deleting: %w", id, err)
	}
	for range 16 {
		head, err := s.rdb.Get(ctx, s.k.tenant(id)).Result()
		if errors.Is(err, redis.Nil) {
			s.rdb.ZRem(ctx, s.k.deletingTenants(), id)
			return nil, tenants.ErrNotFound
		} else if err != nil {
			return nil, fmt.Errorf("redisstore: mark tenant %s deleting: %w", id, err)
		}
		var t tenants.Tenant
		if err := json.Unmarshal([]byte(head), &t); err != nil {
			return nil, fmt.Errorf("redisstore: decode tenant %s: %w", id, err)
		}
		if t.DeletingAt.IsZero() {
			t.DeletingAt = at.UTC()
		}
		nh, err := json.Marshal(&t)
		if err != nil {
			return nil, fmt.Errorf("redisstore: encode tenant %s: %w", id, err)
		}
		n, err := markScript.Run(ctx, s.rdb, []string{s.k.tenant(id), s.k.tokens(id), s.k.deletedTokens(id)}, head, nh).Int()
		if err != nil {
			return nil, fmt.Errorf("redisstore: mark tenant %s deleting: %w", id, err)
		}
		switch n {
		case 0:
			return nil, tenants.ErrNotFound
		case 1:
			// Nothing of its endpoints is claimable from here on.
			eps, err := s.rdb.ZRange(ctx, s.k.endpointList(id), 0, -1).Result()
			if err != nil {
				return nil, fmt.Errorf("redisstore: mark tenant %s deleting: %w", id, err)
			}
			p := &purge{s: s, id: id}
			if err := p.doom(ctx, eps); err != nil {
				return nil, fmt.Errorf("redisstore: mark tenant %s deleting: %w", id, err)
			}
			if _, err := s.purgeTenantKeys(ctx, id, true); err != nil {
				return nil, fmt.Errorf("redisstore: mark tenant %s deleting: %w", id, err)
			}
			return &t, nil
		}
	}
	return nil, fmt.Errorf("redisstore: mark tenant %s deleting: the record kept changing", id)
}

// DeletingTenants lists the tenants marked deleting; an entry whose tenant is gone or not deleting is dropped.
func (s *Store) DeletingTenants(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, s.k.deletingTenants(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: deleting tenants: %w", err)
	}
	var out []string
	for _, id := range ids {
		t, err := s.GetTenant(ctx, id)
		switch {
		case errors.Is(err, tenants.ErrNotFound) || err == nil && !t.Deleting():
			s.rdb.ZRem(ctx, s.k.deletingTenants(), id)
		case err != nil:
			return nil, err
		default:
			out = append(out, id)
		}
	}
	return out, nil
}

// PurgeTenant removes a deleting tenant's data in at most steps steps (all it takes when steps ≤ 0) and reports
// whether the tenant is gone; tenants.ErrNotDeleting when the tenant is not marked.
func (s *Store) PurgeTenant(ctx context.Context, id string, steps int) (bool, error) {
	if !validID(id) {
		return true, nil
	}
	p := &purge{s: s, id: id, budget: steps}
	done, err := p.run(ctx)
	if err != nil {
		return false, fmt.Errorf("redisstore: purge tenant %s: %w", id, err)
	}
	return done, nil
}

// purge is one PurgeTenant call: its step budget.
type purge struct {
	s      *Store
	id     string
	budget int // steps left; ≤ 0 at the start means no limit
	taken  int
}

// step takes one step of the budget; false when it is spent.
func (p *purge) step() bool {
	if p.budget > 0 && p.taken >= p.budget {
		return false
	}
	p.taken++
	return true
}

func (p *purge) run(ctx context.Context) (bool, error) {
	s, id := p.s, p.id
	for {
		t, err := s.GetTenant(ctx, id)
		if errors.Is(err, tenants.ErrNotFound) {
			s.rdb.ZRem(ctx, s.k.deletingTenants(), id)
			return true, nil
		} else if err != nil {
			return false, err
		}
		if !t.Deleting() {
			return false, tenants.ErrNotDeleting
		}
		found := 0
		for _, phase := range []func(context.Context) (int, bool, error){p.credentials, p.endpoints, p.deliveries,
			p.endpointDeliveries, p.messages, p.tagged} {
			n, more, err := phase(ctx)
			found += n
			if err != nil || !more {
				return false, err
			}
		}
		if found > 0 {
			continue // another pass: nothing may be left behind
		}
		if !p.step() {
			return false, nil
		}
		eps, err := s.rdb.ZRange(ctx, s.k.doomedEndpoints(id), 0, -1).Result()
		if err != nil {
			return false, err
		}
		for _, ep := range eps {
			if err := s.purgeEndpointQueue(ctx, ep); err != nil {
				return false, err
			}
		}
		if err := s.rdb.Del(ctx, s.k.tenant(id), s.k.doomedEndpoints(id)).Err(); err != nil {
			return false, err
		}
		if err := s.rdb.ZRem(ctx, s.k.tenantList(), id).Err(); err != nil {
			return false, err
		}
		s.pubs.forget(id)
		if err := s.rdb.SRem(ctx, s.k.publishers(), id).Err(); err != nil {
			return false, err
		}
		if err := s.rdb.ZRem(ctx, s.k.deletingTenants(), id).Err(); err != nil {
			return false, err
		}
		return true, nil
	}
}

// Each phase removes what it finds in bounded steps and returns how much it removed, and more=false when the step
// budget ran out.

// credentials deletes the token lookups and the tokens hashes.
func (p *purge) credentials(ctx context.Context) (int, bool, error) {
	s, n := p.s, 0
	for _, hk := range []string{s.k.deletedTokens(p.id), s.k.tokens(p.id)} {
		all, err := s.rdb.HGetAll(ctx, hk).Result()
		if err != nil {
			return n, false, err
		}
		if len(all) == 0 {
			continue
		}
		if !p.step() {
			return n, false, nil
		}
		for _, v := range all {
			t, err := decodeToken(v)
			if err != nil {
				return n, false, err
			}
			if err := s.rdb.Del(ctx, s.k.tokenByHash(t.Hash)).Err(); err != nil {
				return n, false, err
			}
		}
		if err := s.rdb.Del(ctx, hk).Err(); err != nil {
			return n, false, err
		}
		n += len(all)
	}
	return n, true, nil
}

// endpoints dooms the tenant's endpoints: their queue state leaves their shards, then their records go.
func (p *purge) endpoints(ctx context.Context) (int, bool, error) {
	s, n := p.s, 0
	for {
		eps, err := s.rdb.ZRange(ctx, s.k.endpointList(p.id), 0, int64(p.s.opt.PurgeBatch)-1).Result()
		if err != nil || len(eps) == 0 {
			return n, err == nil, err
		}
		if !p.step() {
			return n, false, nil
		}
		if err := p.doom(ctx, eps); err != nil {
			return n, false, err
		}
		keys := make([]string, len(eps))
		members := make([]any, len(eps))
		for i, ep := range eps {
			keys[i], members[i] = s.k.endpoint(p.id, ep), ep
		}
		pipe := s.rdb.TxPipeline() // one slot: the tenant's
		pipe.Del(ctx, keys...)
		pipe.ZRem(ctx, s.k.endpointList(p.id), members...)
		if _, err := pipe.Exec(ctx); err != nil {
			return n, false, err
		}
		n += len(eps)
	}
}

// doom lists endpoints as doomed and takes their queue state out of their shards.
func (p *purge) doom(ctx context.Context, eps []string) error {
	if len(eps) == 0 {
		return nil
	}
	zs := make([]redis.Z, len(eps))
	for i, ep := range eps {
		zs[i] = redis.Z{Member: ep}
	}
	if err := p.s.rdb.ZAdd(ctx, p.s.k.doomedEndpoints(p.id), zs...).Err(); err != nil {
		return err
	}
	for _, ep := range eps {
		if err := p.s.purgeEndpointQueue(ctx, ep); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) purgeEndpointQueue(ctx context.Context, ep string) error {
	sk := s.k.shardOf(ep)
	keys := []string{sk.ready, sk.turns, sk.lanes, sk.leases, sk.busy, sk.parked, sk.rates, sk.gcra, sk.okeys(), sk.oblock()}
	return purgeEndpointScript.Run(ctx, s.rdb, keys, ep, holdField(ep)).Err()
}

// deliveries deletes the deliveries of the tenant's log index and the messages they name.
func (p *purge) deliveries(ctx context.Context) (int, bool, error) {
	s, n := p.s, 0
	idx := s.k.tenantDeliveries(p.id)
	for {
		members, err := s.rdb.ZRange(ctx, idx, 0, int64(p.s.opt.PurgeBatch)-1).Result()
		if err != nil || len(members) == 0 {
			return n, err == nil, err
		}
		if !p.step() {
			return n, false, nil
		}
		pairs := make([][2]string, 0, len(members))
		seen := map[string]bool{}
		var eps, later []string
		for _, m := range members {
			if strings.HasPrefix(m, "~") {
				continue // an inline message's retention member: it goes with the batch
			}
			if rest, ok := strings.CutPrefix(m, "}"); ok {
				// An inline message: it goes with the batch, and its own index of later deliveries with it.
				if id, _, _ := strings.Cut(rest, " "); validID(id) {
					later = append(later, s.k.msgShardOf(id).messageDeliveries(id))
				}
				continue
			}
			dlv, ep, _ := strings.Cut(m, " ")
			if e, ok := strings.CutPrefix(m, "|"); ok { // endpointMember: a delivery listed for its endpoint
				ep, dlv, _ = strings.Cut(e, " ")
				if seen[pair(dlv, ep)] {
					continue // its pair came first in this batch
				}
			} else {
				n++
				seen[m] = true
			}
			pairs = append(pairs, [2]string{dlv, ep})
			if !seen[ep] {
				seen[ep] = true
				eps = append(eps, ep)
			}
		}
		if err := p.doom(ctx, eps); err != nil {
			return n, false, err
		}
		if err := p.purgeDeliveries(ctx, pairs); err != nil {
			return n, false, err
		}
		if len(later) > 0 {
			pipe := s.rdb.Pipeline() // one DEL each: on a Cluster the keys span slots
			for _, k := range later {
				pipe.Del(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return n, false, err
			}
		}
		rem := make([]any, len(members))
		for i, m := range members {
			rem[i] = m
		}
		if err := s.rdb.ZRem(ctx, idx, rem...).Err(); err != nil {
			return n, false, err
		}
	}
}

// purgeDeliveries deletes deliveries (id, endpoint) shard by shard, then the tenant's messages they named.
func (p *purge) purgeDeliveries(ctx context.Context, pairs [][2]string) error {
	s := p.s
	byShard := map[int][]any{}
	for _, d := range pairs {
		sk := s.k.shardOf(d[1])
		byShard[sk.num] = append(byShard[sk.num], d[0], d[1])
	}
	var msgs []string
	for num, args := range byShard {
		sk := &s.k.shards[num]
		argv := append([]any{sk.recordPrefix(), sk.tag + "a:", sk.tag + "o:", sk.tag + "e:"}, args...)
		ids, err := purgeDeliveriesScript.Run(ctx, s.rdb, []string{sk.leases, sk.dead}, argv...).StringSlice()
		if err != nil {
			return err
		}
		msgs = append(msgs, ids...)
	}
	_, err := s.purgeMessages(ctx, p.id, msgs)
	return err
}

// purgeMessages deletes those of the messages that are the tenant's, shard by shard, and returns how many.
func (s *Store) purgeMessages(ctx context.Context, tenantID string, ids []string) (int, error) {
	byShard := map[*msgKeys][]any{}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || !validID(id) {
			continue
		}
		seen[id] = true
		mk := s.k.msgShardOf(id)
		byShard[mk] = append(byShard[mk], id)
	}
	n := 0
	for mk, args := range byShard {
		argv := append([]any{mk.tag + "m:", mk.tag + "md:", tenantID}, args...)
		c, err := purgeMessagesScript.Run(ctx, s.rdb, []string{mk.index}, argv...).Int()
		if err != nil {
			return n, err
		}
		n += c
	}
	for id := range seen {
		s.recent.Forget(id)
		s.claimed.Forget(id)
	}
	return n, nil
}

// endpointDeliveries deletes what is left in the doomed endpoints' own delivery indexes.
func (p *purge) endpointDeliveries(ctx context.Context) (int, bool, error) {
	s, n := p.s, 0
	eps, err := s.rdb.ZRange(ctx, s.k.doomedEndpoints(p.id), 0, -1).Result()
	if err != nil {
		return 0, false, err
	}
	for _, ep := range eps {
		sk := s.k.shardOf(ep)
		for {
			ids, err := s.rdb.ZRange(ctx, sk.endpointDeliveries(ep), 0, int64(p.s.opt.PurgeBatch)-1).Result()
			if err != nil || len(ids) == 0 {
				if err != nil {
					return n, false, err
				}
				break
			}
			if !p.step() {
				return n, false, nil
			}
			pairs := make([][2]string, len(ids))
			for i, id := range ids {
				pairs[i] = [2]string{id, ep}
			}
			if err := p.purgeDeliveries(ctx, pairs); err != nil {
				return n, false, err
			}
			n += len(ids)
		}
	}
	return n, true, nil
}

// messages walks every message shard's retention index for the tenant's messages that no delivery named.
func (p *purge) messages(ctx context.Context) (int, bool, error) {
	s, n := p.s, 0
	for i := range s.k.msgs {
		mk := &s.k.msgs[i]
		var cur uint64
		for {
			if !p.step() {
				return n, false, nil
			}
			members, next, err := s.rdb.ZScan(ctx, mk.index, cur, "*", int64(p.s.opt.PurgeBatch)).Result()
			if err != nil {
				return n, false, err
			}
			var ids []string
			for j := 0; j < len(members); j += 2 {
				ids = append(ids, members[j])
			}
			if len(ids) > 0 {
				c, err := s.purgeMessages(ctx, p.id, ids)
				if err != nil {
					return n, false, err
				}
				n += c
			}
			if next == 0 {
				break
			}
			cur = next
		}
	}
	return n, true, nil
}

// tagged deletes every other key under the tenant's hash tag: idempotency keys, the call log, portal sessions (with
// their lookups), and indexes left empty.
func (p *purge) tagged(ctx context.Context) (int, bool, error) {
	if !p.step() {
		return 0, false, nil
	}
	n, err := p.s.purgeTenantKeys(ctx, p.id, false)
	return n, err == nil, err
}

// purgeTenantKeys deletes the keys under the tenant's hash tag but its record, its doomed endpoints and its tokens
// (which credentials handles); only its portal sessions when sessionsOnly. It returns how many it deleted.
func (s *Store) purgeTenantKeys(ctx context.Context, tenantID string, sessionsOnly bool) (int, error) {
	tag := s.k.tenantTag(tenantID)
	keep := map[string]bool{s.k.tenant(tenantID): true, s.k.doomedEndpoints(tenantID): true,
		s.k.tokens(tenantID): true, s.k.deletedTokens(tenantID): true}
	match := globEscape(tag) + "*"
	if sessionsOnly {
		match = globEscape(s.k.portalSession(tenantID, "")) + "*"
	}
	n := 0
	err := s.scanKeys(ctx, match, func(keys []string) error {
		var doomed []string
		for _, k := range keys {
			if keep[k] {
				continue
			}
			if strings.HasPrefix(k, s.k.portalSession(tenantID, "")) {
				v, err := s.rdb.Get(ctx, k).Result()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				if err == nil {
					if ps, err := decodePortal(v); err == nil {
						if err := s.rdb.Del(ctx, s.k.portalByHash(ps.Hash)).Err(); err != nil {
							return err
						}
					}
				}
			}
			doomed = append(doomed, k)
		}
		if len(doomed) == 0 {
			return nil
		}
		n += len(doomed)
		return s.rdb.Del(ctx, doomed...).Err() // one slot: the tenant's
	})
	return n, err
}

// scanKeys calls fn with the keys matching match, page by page, on every master of a cluster (the masters are
// scanned at once, fn is called by one at a time).
func (s *Store) scanKeys(ctx context.Context, match string, fn func([]string) error) error {
	var mu sync.Mutex
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cur uint64
		for {
			keys, next, err := c.Scan(ctx, cur, match, 1000).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				mu.Lock()
				err := fn(keys)
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cur = next
		}
	}
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	}
	return scan(ctx, s.rdb)
}

// globEscape escapes the SCAN pattern characters of s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SetTenantRetention sets a tenant's own retention period (0: the default); tenants.ErrNotFound when absent or being
// deleted.
func (s *Store) SetTenantRetention(ctx context.Context, id string, keep time.Duration) (*tenants.Tenant, error) {
	if !validID(id) {
		return nil, tenants.ErrNotFound
	}
	key := s.k.tenant(id)
	var out tenants.Tenant
	err := s.update(ctx, key, func(tx *redis.Tx) (func(redis.Pipeliner), error) {
		b, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, tenants.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("redisstore: decode tenant %s: %w", id, err)
		}
		if out.Deleting() {
			return nil, tenants.ErrNotFound
		}
		out.Retention = keep
		nb, err := json.Marshal(&out)
		if err != nil {
			return nil, err
		}
		return func(p redis.Pipeliner) { p.Set(ctx, key, nb, 0) }, nil
	})
	if err != nil {
		if errors.Is(err, tenants.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("redisstore: set tenant %s retention: %w", id, err)
	}
	return &out, nil
}
