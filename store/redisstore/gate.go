package redisstore

import (
	"context"
	"fmt"
)

// The flags in an endpoint's busy value (luaLib: PARKED, QUEUED, and GATED once for its rate limit and once for its
// hold) let a publish decide whether it may lease with the one HINCRBY that takes the slot, and the end of a task
// whether it may need to unpark its endpoint with the one that gives it back. The queue scripts set and clear the
// parked and queued flags where an endpoint parks, unparks, comes into ready or finds its lane empty; the gates
// follow setGate, which every write of a rate limit or a hold goes through. reconcileFlags puts all of them right at
// Open, for data written by versions before 2026-12, which had none.

// setGate writes field of an endpoint's shard rates hash (its id: the rate limit; holdField: the hold), or deletes it
// when value is "", and keeps the endpoint's gate in step.
func (s *Store) setGate(ctx context.Context, endpointID, field, value string) error {
	sk := s.k.shardOf(endpointID)
	return gateScript.Run(ctx, s.rdb, []string{sk.rates, sk.busy}, field, value, endpointID).Err()
}

// gateScript sets or deletes a field of rates, adding GATED to the endpoint's busy value when the field appears and
// taking it off when it goes.
//
//	KEYS[1] rates, KEYS[2] busy
//	ARGV[1] the field, ARGV[2] its value ("": delete it), ARGV[3] the endpoint
var gateScript = newScript(`
local GATED = 1099511627776
if ARGV[2] ~= '' then
  if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then redis.call('HINCRBY', KEYS[2], ARGV[3], GATED) end
elseif redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[3], -GATED)
end
return 1
`)

// reconcileFlags makes every busy value's flags match its endpoint's state in each shard: parked or not, work
// queued or not (in ready, turns or parked), and one gate for each of its fields in rates. It runs at every Open,
// one script per shard; each reads the shard's busy and rates hashes and its ready, turns and parked sets whole (an
// entry per endpoint). Once the older versions are
// gone it changes little: the values of endpoints deleted with work still queued.
func (s *Store) reconcileFlags(ctx context.Context) error {
	calls := make([]scriptCall, len(s.k.shards))
	for i := range s.k.shards {
		sk := &s.k.shards[i]
		calls[i] = scriptCall{reconcileScript, sk.queue(sk.rates), nil}
	}
	if _, err := s.runScripts(ctx, calls); err != nil {
		return fmt.Errorf("redisstore: reconcile busy flags: %w", err)
	}
	return nil
}

// reconcileScript is reconcileFlags for one shard.
//
//	KEYS[1..6] the queue keys, KEYS[7] rates
//	Reply: how many busy values it changed.
var reconcileScript = newScript(luaLib + `
local want = {}
local r = redis.call('HGETALL', KEYS[7])
for i = 1, #r, 2 do
  local ep = r[i]
  if string.sub(ep, 1, 1) == '~' then ep = string.sub(ep, 2) end
  want[ep] = (want[ep] or 0) + 1
end
local isparked, queued = {}, {}
for _, ep in ipairs(redis.call('ZRANGE', parked, 0, -1)) do isparked[ep], queued[ep] = true, true end
for _, ep in ipairs(redis.call('ZRANGE', ready, 0, -1)) do queued[ep] = true end
for _, ep in ipairs(redis.call('ZRANGE', turns, 0, -1)) do queued[ep] = true end
local fixed, seen = 0, {}
local function fix(ep, v)
  seen[ep] = true
  v = tonumber(v) or 0
  local right = count_of(v) + (want[ep] or 0) * GATED
  if isparked[ep] then right = right + PARKED end
  if queued[ep] then right = right + QUEUED end
  if right ~= v then
    redis.call('HINCRBY', busy, ep, string.format('%d', right - v))
    fixed = fixed + 1
  end
end
local b = redis.call('HGETALL', busy)
for i = 1, #b, 2 do fix(b[i], b[i + 1]) end
for ep in pairs(want) do if not seen[ep] then fix(ep, 0) end end
for ep in pairs(queued) do if not seen[ep] then fix(ep, 0) end end
return fixed
`)
