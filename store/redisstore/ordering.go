package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// Ordering keys. A delivery with an ordering key is enqueued by enqueueOrderedScript: its record gets the key (field
// ok) and its id joins the back of its (endpoint, key) line (shardKeys.line); only the line's head goes in the lane,
// so claims, which read lanes only, never see a delivery waiting behind another of its key. Retries of the head
// (nack, release, a reclaim that is not the last attempt) put it back in the lane as the head. When the head ends
// (finish: succeeded, failed or dead; or a reclaim's last attempt) leave_line takes it out of its line and puts the
// next one in the lane at its due time. Deliveries without a key never touch a line: their scripts run the same
// commands as before. A keyed delivery's fences are odd (luaLib's fence_for), so that the end of its lease knows
// to read its key (one HGET); an unkeyed one's end reads nothing of its record.

// luaLine is shared by the scripts that end a delivery (status: how it ended, so that a success costs no command
// more than under skip). leave_line tells whether it put a next delivery in the lane
// (work due again: the caller's reply says so, as for an unpark). It builds the line key and the record key of the
// next delivery from the ended delivery's record key (the record prefix is tag .. 'd:'), as keys.go names them.
//
// On an endpoint that blocks on failure (its id in the shard's oblock HASH, written by writeOrdering), a delivery that
// ended failed or dead stays at the head of its line, marked blk = 1 in its record, and its key joins the endpoint's
// oblk:<endpoint> SET: nothing behind it goes until unblockScript (or releaseBlockedScript) ends the hold.
// release_line takes the ended head out of its line and puts the next one in the lane.
const luaLine = `
local function release_line(tag, id, ep, okey)
  local ln = tag .. 'o:' .. ep .. '|' .. okey
  redis.call('LREM', ln, 1, id)
  -- The next and whether one more waits behind it, in one read.
  local r = redis.call('LRANGE', ln, 0, 1)
  local nxt = r[1]
  if not nxt then return false end
  if not r[2] then
    if redis.call('HINCRBY', tag .. 'okeys', ep, -1) <= 0 then redis.call('HDEL', tag .. 'okeys', ep) end
  end
  -- next is Unix ns in 20 digits: its first 14 are ms.
  local due = tonumber(string.sub(redis.call('HGET', tag .. 'd:' .. nxt, 'next') or '', 1, 14)) or 0
  redis.call('ZADD', lanes, 0, lane_member(ep, due, nxt))
  if not redis.call('ZSCORE', parked, ep) then touch(ep, due) end
  return true
end
local function leave_line(rec, id, ep, okey, status)
  local tag = string.sub(rec, 1, #rec - #id - 2)
  if status ~= 'succeeded' and redis.call('HEXISTS', tag .. 'oblock', ep) == 1 then
    redis.call('HSET', rec, 'blk', '1')
    redis.call('SADD', tag .. 'oblk:' .. ep, okey)
    return false
  end
  return release_line(tag, id, ep, okey)
end
`

// enqueueOrderedScript is enqueueScript for deliveries with an ordering key: each joins the back of its line, and
// only a line's head goes in its lane.
//
//	KEYS[1..6] the queue keys, KEYS[7] okeys; then for delivery i (1-based): KEYS[7+3i-2] its record, KEYS[7+3i-1]
//	its endpoint's delivery index, KEYS[7+3i] its line
//	ARGV, 11 per delivery: enqueueScript's 10, then the ordering key
//	Reply: per delivery, 1 when it was enqueued, 0 when its record existed.
var enqueueOrderedScript = newScript(luaLib + `
local out, touched = {}, {}
for i = 1, #ARGV / 11 do
  local a = (i - 1) * 11
  local id, ep = ARGV[a + 1], ARGV[a + 2]
  local due = tonumber(ARGV[a + 7])
  local rec, idx, ln = KEYS[7 + 3 * i - 2], KEYS[7 + 3 * i - 1], KEYS[7 + 3 * i]
  if redis.call('ZADD', idx, 0, id) == 1 then
    redis.call('HSET', rec, 'tenant', ARGV[a + 3], 'msg', ARGV[a + 4], 'ep', ep, 'type', ARGV[a + 5],
      'status', 'pending', 'att', ARGV[a + 6], 'next', ARGV[a + 8], 'created', ARGV[a + 9], 'updated', ARGV[a + 10],
      'ok', ARGV[a + 11])
    local n = redis.call('RPUSH', ln, id)
    if n == 1 then
      redis.call('ZADD', lanes, 0, lane_member(ep, due, id))
      -- As in enqueueScript: once ep is touched (or found parked) in this call, a later head due no earlier changes
      -- nothing.
      local t = touched[ep]
      if not t or due < t then
        if not redis.call('ZSCORE', parked, ep) then touch(ep, due) end
        touched[ep] = due
      end
    elseif n == 2 then
      redis.call('HINCRBY', KEYS[7], ep, 1)
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`)

// enqueueOrdered enqueues deliveries with an ordering key, batched with concurrent publishes' by shard
// (orderedEnqueues), in the order given, so that the deliveries of one key join its line in that order.
func (s *Store) enqueueOrdered(ctx context.Context, ds []*delivery.Delivery) error {
	now := s.now()
	items := make([]*batchItem, len(ds))
	first := map[int]int64{}
	for i, d := range ds {
		if len(d.OrderingKey) == 0 || len(d.OrderingKey) > delivery.MaxOrderingKey {
			return fmt.Errorf("redisstore: enqueue: delivery %s: ordering key of %d bytes", d.ID, len(d.OrderingKey))
		}
		if !validID(d.ID) || !validID(d.EndpointID) || !validID(d.MessageID) || !validID(d.TenantID) {
			return fmt.Errorf("redisstore: enqueue: delivery %q: ids must be 1 to 64 of [A-Za-z0-9_-]", d.ID)
		}
		sk := s.k.shardOf(d.EndpointID)
		it := &batchItem{shard: sk.num,
			keys: [3]string{sk.record(d.ID), sk.endpointDeliveries(d.EndpointID), sk.line(d.EndpointID, d.OrderingKey)}}
		a := enqueueArgs(d, now)
		copy(it.args[:], a[:])
		it.args[len(a)] = d.OrderingKey
		items[i] = it
		if at, ok := first[sk.num]; !ok || a[6].(int64) < at {
			first[sk.num] = a[6].(int64)
		}
		s.queued.mark(d.EndpointID, now)
	}
	err := s.orderedEnqueues.run(ctx, items...)
	// Announced even after an error: some scripts may have run, and a wake-up for nothing costs one look.
	for num, at := range first {
		s.madeDue(num, at, true)
	}
	for _, it := range items {
		if err == nil {
			err = it.err
		}
	}
	if err != nil {
		return fmt.Errorf("redisstore: enqueue: %w", err)
	}
	return nil
}

// splitOrdered returns the deliveries of ds without an ordering key and those with one, each in the order given.
func splitOrdered(ds []*delivery.Delivery) (plain, ordered []*delivery.Delivery) {
	for i, d := range ds {
		if d != nil && d.OrderingKey != "" {
			if ordered == nil {
				plain = append(plain, ds[:i]...)
			}
			ordered = append(ordered, d)
		} else if ordered != nil {
			plain = append(plain, d)
		}
	}
	if ordered == nil {
		return ds, nil
	}
	return plain, ordered
}

// fillWaiting sets WaitingOn on the pending deliveries of ds with an ordering key that are not their line's head:
// one pipelined LINDEX per such delivery, none when there is none.
func (s *Store) fillWaiting(ctx context.Context, ds []*delivery.Delivery) error {
	var (
		pipe redis.Pipeliner
		cmds = map[*delivery.Delivery]*redis.StringCmd{}
	)
	for _, d := range ds {
		if d.OrderingKey == "" || d.Status != delivery.StatusPending {
			continue
		}
		if pipe == nil {
			pipe = s.rdb.Pipeline()
		}
		cmds[d] = pipe.LIndex(ctx, s.k.shardOf(d.EndpointID).line(d.EndpointID, d.OrderingKey), 0)
	}
	if pipe == nil {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return fmt.Errorf("redisstore: waiting on: %w", err)
	}
	for d, c := range cmds {
		if head := c.Val(); head != "" && head != d.ID {
			d.WaitingOn = head
		}
	}
	return nil
}

// HeldKeys counts, per endpoint id, the ordering keys with a delivery waiting behind the head
// (delivery.HeldKeysReporter): one HGETALL per shard, pipelined.
func (s *Store) HeldKeys(ctx context.Context) (map[string]int, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(s.k.shards))
	for i := range s.k.shards {
		cmds[i] = pipe.HGetAll(ctx, s.k.shards[i].okeys())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: held keys: %w", err)
	}
	out := map[string]int{}
	for _, c := range cmds {
		for ep, v := range c.Val() {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				out[ep] += n
			}
		}
	}
	return out, nil
}

// unblockScript ends the hold of a blocked delivery (blk = 1): with retry it is pending again at the head of its line,
// due now with att 0 (a fresh schedule), and leaves the dead set; without, release_line lets the next one go.
//
//	KEYS[1..6] the queue keys, KEYS[7] dead, KEYS[8] the delivery's record
//	ARGV[1] delivery, ARGV[2] tenant, ARGV[3] "1" to retry, ARGV[4] now ms, ARGV[5] now ns
//	Reply: 1, 0 when there is no such delivery of the tenant, -1 when it holds no key.
var unblockScript = newScript(luaLib + `
local rec, id = KEYS[8], ARGV[1]
local r = redis.call('HMGET', rec, 'tenant', 'ep', 'ok', 'blk')
if r[1] ~= ARGV[2] then return 0 end
if r[4] ~= '1' or not r[3] then return -1 end
local ep, okey = r[2], r[3]
local tag = string.sub(rec, 1, #rec - #id - 2)
redis.call('HDEL', rec, 'blk')
redis.call('SREM', tag .. 'oblk:' .. ep, okey)
if ARGV[3] == '1' then
  local now = tonumber(ARGV[4])
  redis.call('HSET', rec, 'status', 'pending', 'att', '0', 'next', ARGV[5], 'updated', ARGV[5])
  redis.call('ZREM', KEYS[7], id)
  redis.call('ZADD', lanes, 0, lane_member(ep, now, id))
  if not redis.call('ZSCORE', parked, ep) then touch(ep, now) end
else
  release_line(tag, id, ep, okey)
end
return 1
`)

// releaseBlockedScript ends every hold of an endpoint, as a skip of each would.
//
//	KEYS[1..6] the queue keys, KEYS[7] the endpoint's oblk SET
//	ARGV[1] endpoint, ARGV[2] the shard's record prefix
//	Reply: how many keys it released.
var releaseBlockedScript = newScript(luaLib + `
local ep, prefix = ARGV[1], ARGV[2]
local tag = string.sub(prefix, 1, #prefix - 2)
local n = 0
for _, okey in ipairs(redis.call('SMEMBERS', KEYS[7])) do
  local id = redis.call('LINDEX', tag .. 'o:' .. ep .. '|' .. okey, 0)
  if id then
    redis.call('HDEL', prefix .. id, 'blk')
    release_line(tag, id, ep, okey)
    n = n + 1
  end
end
redis.call('DEL', KEYS[7])
return n
`)

// Unblock ends the hold of tenant's blocked delivery id (delivery.Unblocker): with retry it is pending again, due at
// now with its attempts at 0, at the head of its line; without, the next delivery of its key goes.
func (s *Store) Unblock(ctx context.Context, tenantID, id string, retry bool, now time.Time) (*delivery.Delivery, error) {
	ep, err := s.locate(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	sk := s.k.shardOf(ep)
	flag := "0"
	if retry {
		flag = "1"
	}
	n, err := unblockScript.Run(ctx, s.rdb, sk.queue(sk.dead, sk.record(id)), id, tenantID, flag, ms(now), nsString(now)).Int()
	switch {
	case err != nil:
		return nil, fmt.Errorf("redisstore: unblock %s: %w", id, err)
	case n == 0:
		return nil, delivery.ErrNotFound
	case n < 0:
		return nil, fmt.Errorf("delivery %s: %w", id, delivery.ErrNotBlocked)
	}
	s.madeDue(sk.num, ms(now), true)
	return s.GetDelivery(ctx, tenantID, id)
}

// writeOrdering keeps the queue shard's copy of whether the endpoint blocks on failure (the oblock HASH, which
// leave_line reads) and, when it no longer does, releases the keys it holds.
func (s *Store) writeOrdering(ctx context.Context, e *endpoints.Endpoint, wasBlocking bool) error {
	sk := s.k.shardOf(e.ID)
	var err error
	if e.BlocksOnFailure() {
		err = s.rdb.HSet(ctx, sk.oblock(), e.ID, "1").Err()
	} else if wasBlocking {
		if err = s.rdb.HDel(ctx, sk.oblock(), e.ID).Err(); err == nil {
			err = releaseBlockedScript.Run(ctx, s.rdb, sk.queue(sk.blockedKeys(e.ID)), e.ID, sk.recordPrefix()).Err()
			s.madeDue(sk.num, ms(s.now()), true)
		}
	}
	if err != nil {
		return fmt.Errorf("redisstore: endpoint %s: ordering on failure: %w", e.ID, err)
	}
	return nil
}

// LineHead returns the delivery at the head of an ordering key's line at an endpoint, "" when there is none
// (delivery.LineReader): one LINDEX. Lines are named by endpoint, whose ids are unique across tenants.
func (s *Store) LineHead(ctx context.Context, _, endpointID, okey string) (string, error) {
	id, err := s.rdb.LIndex(ctx, s.k.shardOf(endpointID).line(endpointID, okey), 0).Result()
	if err == redis.Nil {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisstore: line head: %w", err)
	}
	return id, nil
}
