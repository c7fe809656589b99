package redisstore

// Every script touches one queue shard (or one message shard, or one key) and receives every key it touches in
// KEYS; none builds a key name. Scores and other numbers go back to Redis through num() (%.17g), because Lua's own
// number-to-string conversion keeps only 14 significant digits. Times in ARGV are Unix milliseconds unless named
// "ns" (Unix nanoseconds, 20 digits zero-padded so that they compare as strings).
//
// The queue scripts share KEYS[1] to KEYS[6], the shard's queue keys in this order (shardKeys.queue):
//
//	KEYS[1] ready, KEYS[2] turns, KEYS[3] lanes, KEYS[4] leases, KEYS[5] busy, KEYS[6] parked
//
// Exceptions to "every key in KEYS": the claim, finish and retime scripts find a delivery's id in a lane and build its record
// key from the record prefix they are given, which carries the shard's hash tag, so the key is in the slot of the
// script's declared keys (Redis Cluster allows that; the cluster conformance test runs it). The scripts that end a
// delivery with an ordering key build its line, the shard's okeys and the next delivery's record from the ended
// record's key the same way (leave_line, ordering.go). And on a single server
// only, where a script may touch any key, the finish script reads the message of a task it chains through a key it
// builds from the message id (luaMessageKey).
//
// An endpoint with queued work is in exactly one of ready (waiting for a time: its first item's due time, or when
// its rate limit lets it go), turns (due now: served round robin in turn order) or parked (at its in-flight cap).

// luaBusy reads an endpoint's busy value, for luaLib and the publish script (which runs without luaLib).
const luaBusy = `
-- An endpoint's busy value is its in-flight count plus flags, each in four bits of its own, so that a publish learns
-- from the one HINCRBY that takes an in-flight slot whether it may lease (any flag puts the value past every cap),
-- and the end of a task from the one that gives it back whether its endpoint may need unparking:
--   PARKED  while the endpoint is in parked;
--   QUEUED  while it has items in its lane, that is while it is in ready, turns or parked (it comes in through
--           touch and goes where a script finds its lane empty);
--   GATED   once for each of its rate limit and its hold (its fields in rates; gate.go).
-- count_of reads the count alone, flag_of one flag.
local PARKED, QUEUED, GATED = 4294967296, 68719476736, 1099511627776
local function count_of(v)
  v = tonumber(v) or 0
  local c = v % PARKED
  if c >= PARKED / 2 then c = c - PARKED end
  return c
end
local function flag_of(v, f) return math.floor((v - count_of(v)) / f) % 16 end
`

// luaLib is shared by the queue scripts.
//
// A lane member is "<endpoint>|<due ms, 15 digits>|<delivery>" with score 0, so ZRANGE BYLEX over
// ["<endpoint>|", "<endpoint>}") lists one endpoint's items in due order ('}' sorts right after '|', and ids contain
// neither).
//
// What a worker's lease needs beyond the lease itself lives in the delivery's record (codec.go): ep, tenant, msg,
// att (attempts made) and fence (the last claim's fence, absent before the first claim). While the delivery is leased
// the attempt in flight is att + 1: a claim does not touch att, a nack or a finish writes the attempt it recorded,
// and a release leaves att as it was, so nothing needs undoing. (Before, a separate meta hash per shard held a copy
// of these; dropping it saved Redis memory on every pending delivery.)
//
// Ending a task (ack, fail, nack, release) is three commands at least, each doing two jobs: the ZREM of its lease
// member "<delivery> <fence>" is the fence check, the HSET of its record also logs the attempt (a field of the
// record), and the HINCRBY that gives back its in-flight slot tells, by the flags in the busy value, whether the
// endpoint may be parked. The task's endpoint comes from the caller (the shard of its keys is that endpoint's).
const luaLib = `
local ready, turns, lanes, leases, busy, parked = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local function num(x) return string.format('%.17g', x) end
local function first_item(ep)
  return redis.call('ZRANGE', lanes, '[' .. ep .. '|', '(' .. ep .. '}', 'BYLEX', 'LIMIT', 0, 1)[1]
end
local function due_of(ep, item) return tonumber(string.sub(item, #ep + 2, #ep + 16)) end
local function lane_member(ep, due, id) return ep .. '|' .. string.format('%015d', due) .. '|' .. id end
-- A lease is the member "<delivery> <fence>" of leases, scored by its expiry: removing it is the fence check.
local function lease_member(id, fence) return id .. ' ' .. fence end
-- An attempt is the field "x<ns>.<attempt, 5 digits>" of its delivery's record, so that ending one writes a single
-- hash; the fields sort in the order the attempts ended (ns: the caller's time of the attempt's end).
local function attempt_field(ns, att) return 'x' .. ns .. '.' .. string.format('%05d', tonumber(att) or 0) end
` + luaBusy + `-- flagged tells whether a busy value (as HINCRBY returned it) may belong to a parked endpoint: the flag, or a count
-- gone wrong (the endpoint's count was deleted under it), which leaves the answer to parked itself.
local function flagged(v) return flag_of(v, PARKED) ~= 0 or count_of(v) < 0 end
-- add_busy adds delta (a count and flags) to ep's busy value and returns the new value. off lists the flags delta
-- takes off: one the value lacked (data of an older version, or a count deleted under it) is put back.
local function add_busy(ep, delta, off)
  local v = redis.call('HINCRBY', busy, ep, string.format('%d', delta))
  for _, f in ipairs(off or {}) do
    if flag_of(v, f) ~= 0 then v = redis.call('HINCRBY', busy, ep, string.format('%d', f)) end
  end
  return v
end
-- touch makes ep eligible by due: an endpoint already taking turns keeps its turn; otherwise its ready score is
-- only ever lowered (ZADD LT), so a new item never delays work that is due earlier. The caller knows ep is not
-- parked; an endpoint new to ready has work queued from now on, unless it comes from parked (unparked).
local function touch(ep, due, unparked)
  if not redis.call('ZSCORE', turns, ep) and redis.call('ZADD', ready, 'LT', num(due), ep) == 1 and not unparked then
    redis.call('HINCRBY', busy, ep, string.format('%d', QUEUED))
  end
end
local function park_ep(ep, b)
  if redis.call('ZADD', parked, b, ep) == 1 then
    redis.call('HINCRBY', busy, ep, string.format('%d', PARKED))
  end
end
-- unpark puts a parked endpoint back to ready at its first item's due time, and tells whether it did; one whose lane
-- is empty leaves the queue. v, when given, is the busy value just read: a parked flag left on an endpoint that is
-- not parked (an older version unparked it) is taken off.
local function unpark(ep, v)
  if redis.call('ZREM', parked, ep) == 1 then
    local it = first_item(ep)
    if it then
      add_busy(ep, -PARKED, {PARKED})
      touch(ep, due_of(ep, it), true)
      return true
    end
    add_busy(ep, -PARKED - QUEUED, {PARKED, QUEUED})
  elseif v and flag_of(v, PARKED) == 1 then
    add_busy(ep, -PARKED, {PARKED})
  end
  return false
end
-- drop_busy ends n in-flight tasks of ep, which unparks it when parked; it tells whether that made ep eligible
-- again. A count of 0 stays (an endpoint that goes idle and busy again costs no HDEL); a value gone below 0 (its
-- endpoint was deleted, and its value with it, while a task was in flight) is deleted. (With a flag set, such a
-- count stays below the flag until the next Open's reconcile; it belongs to a deleted endpoint.)
local function drop_busy(ep, n)
  local v = redis.call('HINCRBY', busy, ep, -n)
  if v < 0 then redis.call('HDEL', busy, ep) end
  if flagged(v) then return unpark(ep, v) end
  return false
end
local function unbusy(ep) return drop_busy(ep, 1) end
-- The fence of a lease also tells whether its delivery has an ordering key: odd when it has. Ending a lease reads
-- the record only then.
local function fence_for(f, ordered)
  if (f % 2 == 1) ~= ordered then f = f + 1 end
  return string.format('%d', f)
end
-- check_lease returns the member of leases that holds delivery id (record rec) leased under fence to tenant, or
-- nil. A lease taken by a version before fences were in members is the bare id; its record holds the fence.
local function check_lease(id, rec, fence, tenant)
  local m = lease_member(id, fence)
  if redis.call('ZSCORE', leases, m) then return m end
  local r = redis.call('HMGET', rec, 'fence', 'tenant')
  if r[1] == fence and r[2] == tenant and redis.call('ZSCORE', leases, id) then return id end
  return nil
end
-- new_lease advances the fence in a delivery's record for a lease starting at now (att, fence and ok: the
-- record's fields, as HMGET read them) and returns the attempt the lease is for and the fence, as strings. The fence
-- also follows the clock, so that leases Redis lost in a crash (AOF everysec) are not handed out again with the same
-- fence: a lease after the restart has a later now.
local function new_lease(rec, att, fence, ok, now)
  local f = (tonumber(fence) or 0) + 1
  if now * 1000 > f then f = now * 1000 end
  fence = fence_for(f, ok ~= false)
  redis.call('HSET', rec, 'fence', fence)
  return string.format('%d', (tonumber(att) or 0) + 1), fence
end
-- take_lease ends the lease of delivery id (record rec) to tenant under fence, for the scripts that end a task, and
-- returns its endpoint (ep, as the task names it) and ordering key (nil for none), or nil, writing nothing, when
-- the lease is lost. The member "<delivery> <fence>" is the whole check: the store hands fences only to its own
-- workers, so the task's tenant and endpoint are taken as they come (the endpoint names the shard of every key the
-- call touches), and a lease member never outlives its record (Prune deletes only ended deliveries, tenant deletion
-- their leases with them).
local function take_lease(id, rec, fence, tenant, ep)
  if redis.call('ZREM', leases, lease_member(id, fence)) == 1 then
    local okey = nil
    if tonumber(fence) % 2 == 1 then okey = redis.call('HGET', rec, 'ok') or nil end
    return ep, okey
  end
  local r = redis.call('HMGET', rec, 'ep', 'fence', 'tenant', 'ok')
  if not r[1] or r[2] ~= fence or r[3] ~= tenant or redis.call('ZREM', leases, id) == 0 then return nil end
  return r[1], r[4] or nil
end
` + luaLine

// luaMessageKey builds the key of a message from its id, for a script that found the id in a delivery record: only
// on a single server, where a script may touch keys of any slot (a message lives in its own shard, not the
// delivery's). The shard is fnv32a(id) % n, as keys.go computes it; before and after are keys.messageKeyParts. Lua
// numbers are doubles, so the 32-bit multiply by the FNV prime 16777619 = 2^24 + 403 is split into a shift and a
// small product, whose sum stays exact, and reduced mod 2^32 (bit's results are signed 32-bit; % makes them
// non-negative).
const luaMessageKey = `
-- inline_message reads message id kept inline in the tenant's index idx (inline.go): {its JSON, its data}, each
-- false when absent.
local function inline_message(idx, id)
  local got = redis.call('ZRANGE', idx, '[}' .. id .. ' ', '(}' .. id .. '!', 'BYLEX', 'LIMIT', 0, 1)
  local s = got[1]
  if not s then return {false, false} end
  local nl = string.find(s, '\n', 1, true)
  if not nl then return {false, false} end
  local mlen, hd = string.match(string.sub(s, 1, nl - 1), ' (%d+) ([01])$')
  if not mlen then return {false, false} end
  mlen = tonumber(mlen)
  local data = false
  if hd == '1' then data = string.sub(s, nl + mlen + 1) end
  return {string.sub(s, nl + 1, nl + mlen), data}
end
local function message_key(before, n, after, id)
  local h = 2166136261
  for i = 1, #id do
    h = bit.bxor(h, string.byte(id, i))
    h = (bit.lshift(h, 24) + h * 403) % 4294967296
  end
  return before .. string.format('%03d', h % n) .. after .. id
end
`

// enqueueScript schedules new deliveries of one shard, skipping any whose record already exists (so enqueueing is
// idempotent: a retried or completed Publish never duplicates a delivery). Concurrent publishes' deliveries of one
// shard share a call (batch.go).
//
//	KEYS[1..6] the queue keys; then for delivery i (1-based): KEYS[6+2i-1] its record, KEYS[6+2i] its endpoint's
//	delivery index
//	ARGV, 10 per delivery i from a = 10(i-1): id, endpoint, tenant, message, event type, attempts, due ms, next ns,
//	created ns, updated ns
//	Reply: per delivery, 1 when it was enqueued, 0 when its record existed.
var enqueueScript = newScript(luaLib + `
local out, touched = {}, {}
for i = 1, #ARGV / 10 do
  local a = (i - 1) * 10
  local id, ep, tenant, msg, typ = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local due = tonumber(ARGV[a + 7])
  local rec, idx = KEYS[6 + 2 * i - 1], KEYS[6 + 2 * i]
  -- The endpoint's delivery index lists a delivery this script enqueued exactly while its record exists (both are
  -- written here and deleted together by pruneDeliveriesScript), so adding the id to it is the existence check for
  -- them. The deliveries publishScript enqueues itself are not in it: Enqueue skips records that exist before it
  -- gets here, and a retried publish has none of them to complete (enq).
  if redis.call('ZADD', idx, 0, id) == 1 then
    redis.call('HSET', rec, 'tenant', tenant, 'msg', msg, 'ep', ep, 'type', typ, 'status', 'pending',
      'att', ARGV[a + 6], 'next', ARGV[a + 8], 'created', ARGV[a + 9], 'updated', ARGV[a + 10])
    redis.call('ZADD', lanes, 0, lane_member(ep, due, id))
    -- Once ep is touched (or found parked) in this call, a later item due no earlier changes nothing.
    local t = touched[ep]
    if not t or due < t then
      if not redis.call('ZSCORE', parked, ep) then touch(ep, due) end
      touched[ep] = due
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`)

// claimScript leases up to ARGV[2] due deliveries of one shard, fairly. First it unparks the endpoints this claim
// may serve (parked under a lower cap, or all when it has none) and moves the endpoints of ready whose time has come
// into turns, earliest first, behind those already there. Then it serves the endpoint with the lowest turn, up to a
// quantum of tasks (ceil(max / endpoints due at the start), at least 1, within its cap), and gives it a new turn
// behind every endpoint already due, so a deep backlog gets one quantum per round while other endpoints wait. For
// the endpoint at the head of turns:
//   - busy at the in-flight cap: it is parked (scored by its busy count) until one of its tasks ends; an endpoint
//     held (its hold field in rates, holdField, is later than now) has a cap of one, and parks scored at least at
//     ARGV[4], so that the unparking above leaves it be;
//   - else its first items, up to the quantum, in lane order: an item not due yet stops the turn and the endpoint
//     goes back to ready at that item's due time; an item without a record is dropped; when its rate (rates, GCRA
//     state in gcra) says wait, the turn stops and it goes back to ready at the time it may go (the item stays, its
//     record's next set to that time);
//     else the item is leased: attempt att + 1, fence = max(fence + 1, now ms × 1000) (then made odd for a delivery
//     with an ordering key, even for another) written to its record, lease member "<delivery> <fence>" = now +
//     lease ms, busy +1;
//   - then, unless the turn stopped: no item left → it leaves turns; at the cap → parked; next item not due →
//     ready at its due time; else a new turn.
//
// A park, a dropped item and a turn that leased nothing count as skips; the claim stops after ARGV[5] skips, so its
// work is bounded.
//
// Last it tells what the shard has left, for the caller's shard hint (wake.go): how many endpoints are still due
// (taking turns, or parked under this claim's cap with no room to unpark them this time) and when the shard next
// has work: now when any is due, else the lowest ready score, else none. Parked endpoints at the cap are not work
// yet: the end of one of their tasks makes them so.
//
//	KEYS[1..6] the queue keys, KEYS[7] rates, KEYS[8] gcra
//	ARGV[1] now ms, ARGV[2] max tasks, ARGV[3] lease ms, ARGV[4] in-flight cap per endpoint (0: none),
//	ARGV[5] max skips, ARGV[6] the shard's record key prefix (record key = prefix .. delivery id); then pairs of
//	endpoint and its lower in-flight limit for this claim (ClaimOptions.Limits), which holds as the cap does
//	Reply: 6 strings per task: delivery, endpoint, tenant, message, attempt, fence; then 2 more: the due endpoints
//	left, and the ms when the shard next has work ("" for none).
var claimScript = newScript(luaLib + `
local rates, gcra = KEYS[7], KEYS[8]
local now, max, lease, cap, max_skips =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local rprefix = ARGV[6]
local lims = {}
for i = 7, #ARGV - 1, 2 do lims[ARGV[i]] = tonumber(ARGV[i + 1]) end

local function last_turn()
  local r = redis.call('ZRANGE', turns, -1, -1, 'WITHSCORES')
  if r[2] then return tonumber(r[2]) end
  return 0
end
-- in_turns counts the endpoints in turns, kept by this call's own changes (read once, before any).
local in_turns = redis.call('ZCARD', turns)
local function wait_until(ep, t)
  in_turns = in_turns - 1
  redis.call('ZREM', turns, ep)
  redis.call('ZADD', ready, num(t), ep)
end
local function park(ep, b)
  in_turns = in_turns - 1
  redis.call('ZREM', turns, ep)
  park_ep(ep, b)
end
-- limits_of is ep's rate limit ({rate, burst}, or false for none) and the ms until which it is held to one task in
-- flight (0: not held; see holdField), read in one command once per call.
local limit_cache = {}
local function limits_of(ep)
  local c = limit_cache[ep]
  if c == nil then
    local r = redis.call('HMGET', rates, ep, '~' .. ep)
    local rl = false
    if r[1] then
      local rate, burst = string.match(r[1], '^([^,]+),(%d+)$')
      rate, burst = tonumber(rate), tonumber(burst)
      if rate and rate > 0 then rl = {rate, burst} end
    end
    c = {rl, tonumber(r[2]) or 0}
    limit_cache[ep] = c
  end
  return c
end
-- busy_of is ep's in-flight count, read once per call and kept by this call's own changes.
local busy_cache = {}
local function busy_of(ep)
  local b = busy_cache[ep]
  if b == nil then
    b = count_of(redis.call('HGET', busy, ep))
    busy_cache[ep] = b
  end
  return b
end
-- gcra_wait consumes one slot of ep's rate and returns nil, or returns when ep may go (and consumes nothing).
local function gcra_wait(ep)
  local c = limits_of(ep)[1]
  if not c then return nil end
  local rate, burst = c[1], c[2]
  if burst < 1 then burst = 1 end
  local t = 1000 / rate
  local tau = (burst - 1) * t
  local tat = tonumber(redis.call('HGET', gcra, ep)) or now
  if tat < now then tat = now end
  if tat - now > tau then return tat - tau end
  redis.call('HSET', gcra, ep, num(tat + t))
  return nil
end

local below = '+inf'
if cap > 0 then below = '(' .. cap end
local unparkable = redis.call('ZRANGE', parked, '-inf', below, 'BYSCORE', 'LIMIT', 0, max + max_skips)
for _, ep in ipairs(unparkable) do
  unpark(ep)
end
-- The highest turn given out, read only when a turn is given and turns was not empty: every endpoint in turns came
-- in through it.
local turn = nil
if in_turns == 0 then turn = 0 end
local function next_turn()
  turn = (turn or last_turn()) + 1
  return turn
end
local moving = redis.call('ZRANGE', ready, '-inf', num(now), 'BYSCORE', 'LIMIT', 0, max + max_skips)
-- In chunks of up to 1000 endpoints (unpack's stack takes 8000 values).
for c = 1, #moving, 1000 do
  local eps, zs = {}, {}
  for i = c, math.min(#moving, c + 999) do
    eps[#eps + 1] = moving[i]
    zs[#zs + 1] = next_turn()
    zs[#zs + 1] = moving[i]
  end
  redis.call('ZREM', ready, unpack(eps))
  redis.call('ZADD', turns, unpack(zs))
end
in_turns = in_turns + #moving

-- Each turn serves one endpoint up to a quantum of tasks (an even share of this claim among the endpoints due now,
-- at least one), so that a claim for one busy endpoint takes its tasks in one lane read and one write per
-- structure, while many due endpoints still get one task each per round.
local due_eps = in_turns
local quantum = math.min(1000, math.max(1, math.ceil(max / math.max(due_eps, 1)))) -- 1000: unpack's stack
local out, got, skips = {}, 0, 0
local lease_at = num(now + lease)
while got < max and skips < max_skips and in_turns > 0 do
  local ep = redis.call('ZRANGE', turns, 0, 0)[1]
  if not ep then break end
  local b = busy_of(ep)
  local room = max - got
  if cap > 0 then room = math.min(room, cap - b) end
  -- A held endpoint takes one task at a time. It parks scored at least at the cap, so that claims under the same cap
  -- leave it parked until its task ends. Its limits are read only when it has room, as its first item would read
  -- them anyway.
  local held = room > 0 and limits_of(ep)[2] > now
  if held then room = math.min(room, 1 - b) end
  -- The claimer's lower limit of ep holds as the cap does (and parks it as the cap does).
  local lim = lims[ep]
  if lim then room = math.min(room, lim - b) end
  if room <= 0 then
    park(ep, math.max(b, cap))
    skips = skips + 1
  else
    local q = math.min(room, quantum)
    -- One more than the quantum: the extra item (if any) is what the endpoint has next.
    local items = redis.call('ZRANGE', lanes, '[' .. ep .. '|', '(' .. ep .. '}', 'BYLEX', 'LIMIT', 0, q + 1)
    local taken, stop, k = 0, nil, 0
    local drop, leased = {}, {}
    while k < #items and k < q do
      local item = items[k + 1]
      local due = due_of(ep, item)
      if due > now then
        stop = due
        break
      end
      local id = string.sub(item, #ep + 18)
      local rec = rprefix .. id
      local r = redis.call('HMGET', rec, 'att', 'fence', 'tenant', 'msg', 'ok')
      if not r[3] then
        drop[#drop + 1] = item -- an item without a record cannot be served: drop it
        skips = skips + 1
      else
        local wait = gcra_wait(ep)
        if wait then
          wait = math.ceil(wait)
          if wait < now + 1 then wait = now + 1 end
          stop = wait
          -- The item goes when the rate lets it, not at its due time: its record says so, for the delivery log.
          redis.call('HSET', rec, 'next', string.format('%014d', wait) .. '000000')
          break
        end
        local att, fence = new_lease(rec, r[1], r[2], r[5], now)
        drop[#drop + 1] = item
        leased[#leased + 1] = lease_at
        leased[#leased + 1] = lease_member(id, fence)
        out[#out + 1] = id
        out[#out + 1] = ep
        out[#out + 1] = r[3] -- tenant
        out[#out + 1] = r[4] -- message
        out[#out + 1] = att
        out[#out + 1] = fence
        taken, got = taken + 1, got + 1
      end
      k = k + 1
    end
    if #drop > 0 then redis.call('ZREM', lanes, unpack(drop)) end
    -- Its lane is empty when the loop neither stopped nor left an item: the endpoint leaves turns below, and the
    -- queued flag goes with the slots it took, in one command.
    local empty = not stop and items[k + 1] == nil
    if taken > 0 then redis.call('ZADD', leases, unpack(leased)) end
    if empty then
      b = count_of(add_busy(ep, taken - QUEUED, {QUEUED}))
      busy_cache[ep] = b
    elseif taken > 0 then
      b = count_of(redis.call('HINCRBY', busy, ep, taken))
      busy_cache[ep] = b
    end
    if taken == 0 then skips = skips + 1 end
    -- What the endpoint does next: wait (its next item is not due, or its rate says so), leave turns (nothing
    -- left), park (at its cap), or take a new turn behind every endpoint already due.
    if stop then
      wait_until(ep, stop)
    else
      local nxt = items[k + 1] -- the loop ended at the quantum or at the end of the lane
      if nxt == nil then
        in_turns = in_turns - 1
        redis.call('ZREM', turns, ep)
      elseif (cap > 0 and b >= cap) or (held and b >= 1) or (lim and b >= lim) then
        park(ep, math.max(b, cap))
      elseif due_of(ep, nxt) > now then
        wait_until(ep, due_of(ep, nxt))
      else
        redis.call('ZADD', turns, next_turn(), ep)
      end
    end
  end
end

local left = in_turns
if #unparkable == max + max_skips then left = left + 1 end -- more parked ones may be waiting for room
local nxt = ''
if left > 0 then
  nxt = num(now)
else
  local r = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if r[2] then nxt = r[2] end
end
out[#out + 1] = string.format('%d', left)
out[#out + 1] = nxt
return out
`)

// probeScript tells what a shard has for a claim at now, without changing anything: the full probe behind the
// shard hints (wake.go) when they cannot be trusted.
//
//	KEYS[1..6] the queue keys
//	ARGV[1] now ms, ARGV[2] the claimer's in-flight cap per endpoint (0: none)
//	Reply: {due endpoints (taking turns, ready by now, or parked under the cap), the ms when the shard next has work
//	(now when any is due, else the lowest ready score) or "" for none}.
//
// A shard with none of the three keys (most shards, most of the time) costs one command: the EXISTS.
var probeScript = newScript(luaLib + `
local now, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
if redis.call('EXISTS', turns, ready, parked) == 0 then return {0, ''} end
local n = redis.call('ZCARD', turns)
local r = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
if r[2] and tonumber(r[2]) <= now then n = n + redis.call('ZCOUNT', ready, '-inf', num(now)) end
if redis.call('ZCARD', parked) > 0 then
  local below = '+inf'
  if cap > 0 then below = '(' .. cap end
  n = n + redis.call('ZCOUNT', parked, '-inf', below)
end
if n > 0 then return {n, num(now)} end
if r[2] then return {0, r[2]} end
return {0, ''}
`)

// finishScript ends leased deliveries of one shard: ack (succeeded) or fail (failed, dead). Concurrent workers'
// finishes of one shard share a call (batch.go).
//
// A finish may also ask to chain: to lease its endpoint's next due task to the same worker, in place of the claim the
// freed slot would otherwise cost (a claim is a dozen redis.calls of turn keeping; a chained task is four). It is
// only what the next claim would have done, so a chain happens only when that claim would serve this endpoint next:
// no other endpoint is due (turns is empty and ready has nothing due), the endpoint is parked at its in-flight cap
// (so the ended task is what makes room), and it has no rate limit (claims keep the GCRA); or the endpoint is below
// its cap, taking turns alone in its shard (nothing in ready due), with no rate limit and no hold: then the workers,
// not the cap, bound it, and the next claim of the shard would serve it anyway; it leaves turns when its lane empties. Then up to one task per
// chaining finish is leased, as a claim leases (attempt att + 1, fence = max(fence + 1, now ms × 1000), lease =
// now + lease ms), within the cap; the endpoint's in-flight count drops only by the tasks that ended without one, and
// it leaves parked when its lane is empty.
//
//	KEYS[1..6] the queue keys, KEYS[7] dead, KEYS[8] rates; then for delivery i (1-based): KEYS[8+i] its record
//	ARGV, 14 per delivery i from a = 14(i-1): ARGV[a+1] delivery, ARGV[a+2] fence, ARGV[a+3] status, ARGV[a+4]
//	attempts made, ARGV[a+5] last status code, ARGV[a+6] last error, ARGV[a+7] updated ns, ARGV[a+8] attempt JSON,
//	ARGV[a+9] updated ms, ARGV[a+10] tenant; to chain: ARGV[a+11] now ms (0: do not chain), ARGV[a+12] lease ms,
//	ARGV[a+13] the in-flight cap per endpoint (0: none); ARGV[a+14] the endpoint, as the task names it. A call's
//	chaining decides by the now of its first finish that asks to chain; each chained lease runs from its own
//	finish's now. After every delivery's, 5 more: the parts
//	of a message key before and after its shard number (keys.messageKeyParts), the shard count, and the parts of a
//	tenant's delivery index key around its id (keys.tenantDeliveriesParts, for a message kept inline there), or
//	"", 0, "", "", "" to read no message (a Cluster: messages live in other slots).
//	Reply: per delivery, 1, or 2 when ending it unparked its endpoint or promoted the next delivery of its ordering
//	key (work of that endpoint is due again), or 3 when a task was chained to it (5 when its endpoint is also due
//	again: parked, with room under a cap that grew since), or 4 when it asked to chain, got nothing, and its
//	endpoint has nothing queued (its lane is empty: the Store may stop asking; lanemarks.go), or 0 when the lease is
//	lost (no member "<delivery> <fence>" in leases; for a lease of an older version, a bare id: missing, the fence
//	moved on, or another tenant's); nothing changes for that one then.
//	After those, 7 strings per chained task, in delivery order: delivery, tenant, message, attempt, fence, and the
//	message's JSON and data as stored (its m and data fields; "" when not read, or gone), so that the worker has
//	what it sends without another round trip.
var finishScript = newScript(luaLib + luaMessageKey + `
local rates, now = KEYS[8], nil
local mbefore, mshards, mafter = ARGV[#ARGV - 4], tonumber(ARGV[#ARGV - 3]), ARGV[#ARGV - 2]
local tbefore, tafter = ARGV[#ARGV - 1], ARGV[#ARGV]
local out, ended, eps, want, promoted = {}, {}, {}, {}, {}
for i = 1, (#ARGV - 5) / 14 do
  local a, rec = 14 * (i - 1), KEYS[8 + i]
  local id = ARGV[a + 1]
  local ep, okey = take_lease(id, rec, ARGV[a + 2], ARGV[a + 10], ARGV[a + 14])
  if not ep then
    out[i] = 0
  else
    -- The fence stays in the record: without a lease it opens nothing.
    redis.call('HSET', rec, 'status', ARGV[a + 3], 'att', ARGV[a + 4], 'next', '', 'code', ARGV[a + 5],
      'err', ARGV[a + 6], 'updated', ARGV[a + 7], attempt_field(ARGV[a + 7], ARGV[a + 4]), ARGV[a + 8])
    if okey and leave_line(rec, id, ep, okey, ARGV[a + 3]) then promoted[ep] = true end
    if ARGV[a + 3] == 'dead' then redis.call('ZADD', KEYS[7], ARGV[a + 9], id) end
    if not ended[ep] then
      ended[ep] = 0
      eps[#eps + 1] = ep
    end
    ended[ep] = ended[ep] + 1
    out[i] = ep
    local cnow = tonumber(ARGV[a + 11])
    if cnow > 0 then
      now = now or cnow
      local w = want[ep]
      if not w then
        -- The record key is the shard's record prefix followed by the id: chained records share that prefix.
        w = {lease = tonumber(ARGV[a + 12]), cap = tonumber(ARGV[a + 13]), prefix = string.sub(rec, 1, #rec - #id),
          items = {}}
        want[ep] = w
      end
      w.items[#w.items + 1] = i
    end
  end
end

-- Chaining, for the endpoints that asked, while nothing else is due.
local chained, took = {}, {}
local others = nil
local function others_due()
  if others == nil then
    others = redis.call('ZCARD', turns) > 0
    if not others then
      local r = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
      others = r[2] ~= nil and tonumber(r[2]) <= now
    end
  end
  return others
end
-- alone_due tells whether ep, taking turns, is the only endpoint of the shard that is due: the next claim would serve
-- it and nothing else. Not when it has a rate limit or is held to one task in flight (claims keep both).
local function alone_due(ep)
  if redis.call('ZCARD', turns) ~= 1 or not redis.call('ZSCORE', turns, ep) then return false end
  local r = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if r[2] ~= nil and tonumber(r[2]) <= now then return false end
  local l = redis.call('HMGET', rates, ep, '~' .. ep)
  return not l[1] and (tonumber(l[2]) or 0) <= now
end
local unparked = {} -- endpoints seen not parked (nothing below parks one)
local emptied = {} -- endpoints taking turns whose lane a chain emptied: they left turns
local roomy = {} -- parked endpoints a chain made due again, for room under their cap
for _, ep in ipairs(eps) do
  local w = want[ep]
  -- Parked first: an endpoint below its cap (the usual case under light load) needs no look at the rest of the shard.
  -- Else an endpoint taking turns alone in its shard (below its cap because the workers, not the cap, bound it).
  local inturn = false
  local go = false
  if w then
    unparked[ep] = not redis.call('ZSCORE', parked, ep)
    if not unparked[ep] then
      go = not others_due() and not redis.call('HGET', rates, ep)
    else
      inturn = alone_due(ep)
      go = inturn
    end
  end
  if go then
    local k = #w.items
    local left = nil -- in flight once this call's tasks ended, before any is chained (with a cap)
    if w.cap > 0 then
      left = count_of(redis.call('HGET', busy, ep)) - ended[ep]
      k = math.min(k, w.cap - left)
    end
    if k > 0 then
      -- One more than wanted: whether the lane has anything left.
      local items = redis.call('ZRANGE', lanes, '[' .. ep .. '|', '(' .. ep .. '}', 'BYLEX', 'LIMIT', 0, k + 1)
      local drop, leased, t, j = {}, {}, 0, 0
      while j < #items and t < k do
        local item = items[j + 1]
        if due_of(ep, item) > now then break end
        local did = string.sub(item, #ep + 18)
        local drec = w.prefix .. did
        local r = redis.call('HMGET', drec, 'att', 'fence', 'tenant', 'msg', 'ok')
        drop[#drop + 1] = item -- leased, or without a record (which cannot be served)
        if r[3] then
          local att, fence = new_lease(drec, r[1], r[2], r[5], now)
          t = t + 1
          -- The lease runs from the now of the finish it is chained to, as that worker's own clock counts it.
          leased[#leased + 1] = num(tonumber(ARGV[14 * (w.items[t] - 1) + 11]) + w.lease)
          leased[#leased + 1] = lease_member(did, fence)
          local m = {false, false}
          if mbefore ~= '' then
            m = inline_message(tbefore .. r[3] .. tafter, r[4])
            if not m[1] then m = redis.call('HMGET', message_key(mbefore, mshards, mafter, r[4]), 'm', 'data') end
          end
          chained[w.items[t]] = {did, r[3], r[4], att, fence, m[1] or '', m[2] or ''}
        end
        j = j + 1
      end
      if #drop > 0 then redis.call('ZREM', lanes, unpack(drop)) end
      if t > 0 then redis.call('ZADD', leases, unpack(leased)) end
      took[ep] = t
      -- The lane is empty when every item read was used and fewer were there than asked for (items without a
      -- record count in j but not in t, so j can reach #items with more items behind).
      if j == #items and #items <= k then
        if inturn then
          redis.call('ZREM', turns, ep)
          emptied[ep] = true -- its queued flag goes below, with its count
        elseif t == ended[ep] and redis.call('ZREM', parked, ep) == 1 then -- count unchanged
          add_busy(ep, -PARKED - QUEUED, {PARKED, QUEUED})
        end
      elseif not inturn and left and left + t < w.cap and
          (tonumber(redis.call('HGET', rates, '~' .. ep)) or 0) <= now and unpark(ep) then
        -- Parked, with work left and room under its cap, which grew since it parked (an adaptive limit), and not
        -- held to one task in flight: chaining only replaces the tasks that end, so without this it would stay
        -- parked at the old count while its lane lasts. Due again, the next claim takes the room.
        unparked[ep], roomy[ep] = true, true
      end
    end
  end
end

-- Each endpoint's in-flight count drops once by the tasks that ended without a chained one, which may unpark it.
local woke = {}
for _, ep in ipairs(eps) do
  local d = ended[ep] - (took[ep] or 0)
  if emptied[ep] then
    add_busy(ep, -d - QUEUED, {QUEUED}) -- not parked: it was taking turns
  elseif d > 0 then
    local v = redis.call('HINCRBY', busy, ep, -d)
    if v < 0 then redis.call('HDEL', busy, ep) end
    woke[ep] = not unparked[ep] and flagged(v) and unpark(ep, v)
  end
end
-- An endpoint that asked to chain and got nothing: one look tells whether anything waits in its lane at all.
local idle = {}
for _, ep in ipairs(eps) do
  if want[ep] and (took[ep] or 0) == 0 and not (woke[ep] or promoted[ep] or roomy[ep]) then
    idle[ep] = not first_item(ep)
  end
end
local fields = {}
for i = 1, #out do
  local ep = out[i]
  if ep ~= 0 then
    local c = chained[i]
    if c then
      out[i] = 3
      if roomy[ep] then out[i] = 5 end
      for f = 1, 7 do fields[#fields + 1] = c[f] end
    elseif woke[ep] or promoted[ep] or roomy[ep] then
      out[i] = 2
    elseif idle[ep] then
      out[i] = 4
    else
      out[i] = 1
    end
  end
end
for f = 1, #fields do out[#out + 1] = fields[f] end
return out
`)

// nackScript records a failed attempt and puts the delivery back in its lane at the retry time.
//
//	KEYS[1..6] the queue keys, KEYS[7] the delivery's record
//	ARGV[1] delivery, ARGV[2] fence, ARGV[3] retry ms, ARGV[4] attempts made, ARGV[5] last status code,
//	ARGV[6] last error, ARGV[7] updated ns, ARGV[8] attempt JSON, ARGV[9] retry ns, ARGV[10] tenant, ARGV[11]
//	endpoint
//	Reply: 1, or 2 when it unparked the endpoint (work of that endpoint is due again), or 0 when the lease is lost.
var nackScript = newScript(luaLib + `
local id = ARGV[1]
local ep = take_lease(id, KEYS[7], ARGV[2], ARGV[10], ARGV[11])
if not ep then return 0 end
local retry = tonumber(ARGV[3])
redis.call('ZADD', lanes, 0, lane_member(ep, retry, id))
local woke = unbusy(ep)
if not redis.call('ZSCORE', parked, ep) then touch(ep, retry) end
redis.call('HSET', KEYS[7], 'status', 'pending', 'att', ARGV[4], 'next', ARGV[9], 'code', ARGV[5], 'err', ARGV[6],
  'updated', ARGV[7], attempt_field(ARGV[7], ARGV[4]), ARGV[8])
redis.call('HDEL', KEYS[7], 'held') -- due by its backoff, not held back
if woke then return 2 end
return 1
`)

// releaseScript gives a leased delivery back unspent: the attempt is not counted (attempt − 1) but the fence, which
// the claim advanced, stays advanced, so the releasing worker can no longer ack.
//
//	KEYS[1..6] the queue keys, KEYS[7] the delivery's record
//	ARGV[1] delivery, ARGV[2] fence, ARGV[3] due ms, ARGV[4] due ns, ARGV[5] updated ns, ARGV[6] tenant, ARGV[7]
//	endpoint
//	Reply: 1, or 2 when it unparked the endpoint, or 0 when the lease is lost.
var releaseScript = newScript(luaLib + `
local id = ARGV[1]
-- att stays: the attempt in flight (att + 1) is given back
local ep = take_lease(id, KEYS[7], ARGV[2], ARGV[6], ARGV[7])
if not ep then return 0 end
local at = tonumber(ARGV[3])
redis.call('ZADD', lanes, 0, lane_member(ep, at, id))
local woke = unbusy(ep)
if not redis.call('ZSCORE', parked, ep) then touch(ep, at) end
redis.call('HSET', KEYS[7], 'status', 'pending', 'next', ARGV[4], 'updated', ARGV[5], 'held', '1')
if woke then return 2 end
return 1
`)

// extendScript pushes a lease's expiry to ARGV[3] (never back: ZADD XX GT).
//
//	KEYS[1..6] the queue keys, KEYS[7] the delivery's record
//	ARGV[1] delivery, ARGV[2] fence, ARGV[3] until ms, ARGV[4] tenant
//	Reply: 1, or 0 when the lease is lost.
var extendScript = newScript(luaLib + `
local m = check_lease(ARGV[1], KEYS[7], ARGV[2], ARGV[4])
if not m then return 0 end
redis.call('ZADD', leases, 'XX', 'GT', ARGV[3], m)
return 1
`)

// reclaimScript takes back deliveries whose lease expired before now. The caller lists candidates (ZRANGE leases
// BYSCORE) and passes their record keys; the script re-checks each, so two reapers never move one delivery twice. An
// expired lease counts as an attempt (the request may have been sent): the delivery goes back to its lane due now,
// or, when that was attempt maxAttempts, dead. A "lease expired" attempt is logged either way.
//
//	KEYS[1..6] the queue keys, KEYS[7] dead; then for candidate i: KEYS[7+i] its record
//	ARGV[1] now ms, ARGV[2] max attempts (0: no limit), ARGV[3] now ns, ARGV[4] now as RFC 3339,
//	ARGV[4+i] candidate i: its member of leases ("<delivery> <fence>", or the bare id of an older version's lease)
//	Reply: how many were moved, then 5 strings for each that ended dead: delivery, tenant, message, endpoint and
//	the attempt.
var reclaimScript = newScript(luaLib + `
local now, max_att = tonumber(ARGV[1]), tonumber(ARGV[2])
local moved, dead = 0, {}
for i = 5, #ARGV do
  local member = ARGV[i]
  local id = string.match(member, '^[^ ]+')
  local rec = KEYS[7 + (i - 4)]
  local exp = redis.call('ZSCORE', leases, member)
  if exp and tonumber(exp) < now then
    redis.call('ZREM', leases, member)
    local r = redis.call('HMGET', rec, 'ep', 'att', 'ok', 'tenant', 'msg')
    if r[1] then
      local ep, att = r[1], (tonumber(r[2]) or 0) + 1
      local outcome = 'retry'
      if max_att > 0 and att >= max_att then outcome = 'dead' end
      local js = '{"delivery_id":"' .. id .. '","attempt":' .. string.format('%d', att) .. ',"at":"' .. ARGV[4] ..
        '","latency":0,"error":"lease expired before a result was recorded","outcome":"' .. outcome .. '"}'
      local af = attempt_field(ARGV[3], string.format('%d', att))
      if outcome == 'dead' then
        unbusy(ep)
        redis.call('HSET', rec, 'status', 'dead', 'att', string.format('%d', att), 'next', '', 'code', '0',
          'err', 'lease expired', 'updated', ARGV[3], af, js)
        redis.call('ZADD', KEYS[7], num(now), id)
        if r[3] then leave_line(rec, id, ep, r[3], 'dead') end
        for _, v in ipairs({id, r[4] or '', r[5] or '', ep, string.format('%d', att)}) do dead[#dead + 1] = v end
      else
        redis.call('ZADD', lanes, 0, lane_member(ep, now, id))
        unbusy(ep)
        if not redis.call('ZSCORE', parked, ep) then touch(ep, now) end
        redis.call('HSET', rec, 'status', 'pending', 'att', string.format('%d', att), 'next', ARGV[3], 'code', '0',
          'err', 'lease expired', 'updated', ARGV[3], af, js)
      end
      moved = moved + 1
    end
  end
end
table.insert(dead, 1, moved)
return dead
`)

// nextDueScript reads when the shard next has work: the lowest ready score, or the due time of the first endpoint
// taking turns (which is due already).
//
//	KEYS[1..6] the queue keys
//	Reply: the time in ms (a string), or nil when the shard has no waiting work.
var nextDueScript = newScript(luaLib + `
local best = nil
local r = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
if r[2] then best = tonumber(r[2]) end
for _, ep in ipairs(redis.call('ZRANGE', turns, 0, 7)) do
  local it = first_item(ep)
  if it then
    local d = due_of(ep, it)
    if not best or d < best then best = d end
    break
  end
end
if best then return num(best) end
return false
`)

// writeMessageScript stores a message with its delivery plan, its delivery index and its retention-index entry:
// all in one message shard, so all or nothing. Rewriting the same message is harmless.
//
//	KEYS[1] the message, KEYS[2] its delivery index, KEYS[3] the message shard's retention index
//	ARGV[1] message JSON (without data), ARGV[2] plan (encodePlan), ARGV[3] created ns, ARGV[4] tenant, ARGV[5] created ms,
//	ARGV[6] message id, ARGV[7] the data bytes as published; ARGV[7+i] the index member "<delivery> <endpoint>" of
//	delivery i
//	Reply: 1.
var writeMessageScript = newScript(`
redis.call('HSET', KEYS[1], 'm', ARGV[1], 'plan', ARGV[2], 'cns', ARGV[3], 'tenant', ARGV[4], 'data', ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
local zs = {}
for i = 8, #ARGV do
  zs[#zs + 1] = 0
  zs[#zs + 1] = ARGV[i]
  if #zs == 2000 then
    redis.call('ZADD', KEYS[2], unpack(zs))
    zs = {}
  end
end
if #zs > 0 then redis.call('ZADD', KEYS[2], unpack(zs)) end
return 1
`)

// idempotencyScript claims a tenant's idempotency key for a message, unless it already names a message created
// after since.
//
//	KEYS[1] the idempotency key
//	ARGV[1] value "<message id> <created ns>", ARGV[2] since ns, ARGV[3] TTL ms,
//	ARGV[4] a value the caller may replace whatever its age ("" for none: used when its message is gone)
//	Reply: "" when the key now holds ARGV[1], else the value it holds.
var idempotencyScript = newScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] and cur ~= ARGV[4] then
  local created = string.match(cur, ' (%d+)$')
  if created and created > ARGV[2] then return cur end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return ''
`)

// pruneDeliveriesScript deletes terminal deliveries (succeeded, failed, dead) created before a cutoff, from the
// candidates the caller listed from their messages' delivery indexes; a delivery that holds its ordering key (blk,
// ordering.go) is kept until it is unblocked.
//
//	KEYS[1] dead; then for candidate i: KEYS[1+3i-2] its record, KEYS[1+3i-1] its attempts list (versions before
//	2026-12), KEYS[1+3i] its endpoint's delivery index
//	ARGV[1] cutoff ns; ARGV[1+i] candidate i's id
//	Reply: per candidate, 1 when deleted, 2 when its record was already gone (the caller drops its stale index
//	entries, but it was not deleted here), else 0.
var pruneDeliveriesScript = newScript(`
local out = {}
for i = 2, #ARGV do
  local id, k = ARGV[i], 1 + 3 * (i - 1)
  local r = redis.call('HMGET', KEYS[k - 2], 'status', 'created', 'blk')
  if not r[1] then
    out[i - 1] = 2
  elseif (r[1] == 'succeeded' or r[1] == 'failed' or r[1] == 'dead') and r[2] and r[2] < ARGV[1] and not r[3] then
    redis.call('DEL', KEYS[k - 2], KEYS[k - 1])
    redis.call('ZREM', KEYS[k], id)
    redis.call('ZREM', KEYS[1], id)
    out[i - 1] = 1
  else
    out[i - 1] = 0
  end
end
return out
`)

// pruneMessagesScript deletes messages created before a cutoff that no delivery refers to any more.
//
//	KEYS[1] the message shard's index; then for candidate i: KEYS[1+2i-1] its record, KEYS[1+2i] its delivery-index
//	ZSET (the deliveries a one-script publish enqueued itself are fields "d:…" of the message instead)
//	ARGV[1] cutoff ns; ARGV[1+i] candidate i
//	Reply: {messages deleted, index entries removed (those plus entries whose message was already gone)}.
var pruneMessagesScript = newScript(`
local function has_deliveries(rec)
  for _, k in ipairs(redis.call('HKEYS', rec)) do
    if string.sub(k, 1, 2) == 'd:' then return true end
  end
  return false
end
local n, removed = 0, 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local rec, idx = KEYS[2 * (i - 1)], KEYS[2 * (i - 1) + 1]
  local created = redis.call('HGET', rec, 'cns')
  if not created then
    redis.call('ZREM', KEYS[1], id) -- index entry without a message
    removed = removed + 1
  elseif created < ARGV[1] and redis.call('ZCARD', idx) == 0 and not has_deliveries(rec) then
    redis.call('DEL', rec, idx)
    redis.call('ZREM', KEYS[1], id)
    n, removed = n + 1, removed + 1
  end
end
return {n, removed}
`)

// publishScript is the whole of a Publish in one atomic script, for a single Redis server, where a script may touch
// keys of any slot (Publish, publish.go). It stores nothing when the idempotency key names a message created after
// since, and answers that message; the caller then settles the publish the general way (steps 1 to 3). Otherwise it
// writes the message, its indexes, the idempotency key and every delivery it has keys for (as enqueueScript does),
// all or nothing; the message of deliveries it enqueues itself is kept inline in the tenant's index (inline.go).
// Given no delivery keys, it does steps 1 and 2 of the general way at once and leaves the deliveries to
// enqueueScript (a fan-out too large for one script). The same call run twice (a client that resent it after losing
// the answer) changes nothing the second time: what it writes first is already there.
//
// Asked to (ARGV[12]), it leases a due delivery whose endpoint has nothing queued and room in flight at once, as a
// claim would (the record's fence, the lease, the endpoint's in-flight count), instead of queueing it: the
// publishing Store hands it to its next claim (prelease.go), sparing a claim's round trip and turn keeping at a
// steady, moderate load.
//
// A message with an ordering key enqueues its deliveries as enqueueOrderedScript does: each joins the back of its
// line, and only a line's head goes in its lane.
//
//	KEYS[1] the message's hash, KEYS[2] its delivery index (a ZSET), KEYS[3] the message shard's retention index
//	(the publishers set when there are delivery keys), KEYS[4] the tenant's delivery index, KEYS[5] the idempotency
//	key (KEYS[1] again when there is none); then per delivery i to enqueue (all or none), 6 without an ordering key and 8 with
//	one, from k = 5 + per(i-1): KEYS[k+1] ready, KEYS[k+2] turns, KEYS[k+3]
//	lanes, KEYS[k+4] parked of its shard, KEYS[k+5] its record, KEYS[k+6] the shard's busy, and with an ordering
//	key KEYS[k+7] the shard's okeys, KEYS[k+8] its line; when it may lease (ARGV[12]), 1 more last: the shard's
//	leases
//	ARGV[1] message JSON (without data), ARGV[2] plan, ARGV[3] created ns, ARGV[4] tenant, ARGV[5] created ms,
//	ARGV[6] message id, ARGV[7] data; when there are delivery keys instead ARGV[1] its inline member, ARGV[2] its
//	retention member, ARGV[3] "1" to add the tenant to the publishers set, else "" (inlineArgs); then
//	ARGV[8] idempotency value ("" for none), ARGV[9] since ns, ARGV[10] TTL ms,
//	ARGV[11] the ordering key ("" for none), ARGV[12] the lease expiry ms for deliveries it may lease (0: none),
//	ARGV[13] now ms, ARGV[14] the in-flight count below which an endpoint may take a lease; then per delivery, from
//	a = 14 + 10(i-1), enqueueScript's 10 when there are delivery keys, else only its id and endpoint from
//	a = 14 + 2(i-1)
//	Reply: "" when stored, "+" and the leased deliveries' ids and fences, space-separated, when stored and some were
//	leased, else the idempotency key's value (an earlier message's).
var publishScript = newScript(luaBusy + `
local function num(x) return string.format('%.17g', x) end
if ARGV[8] ~= '' then
  -- Take the key and read what it held in one command. When it named an earlier message created after since, put
  -- that back (a duplicate publish, the rare case; the general way that settles it then claims the key for that
  -- message again, with a fresh TTL, as before).
  local cur = redis.call('SET', KEYS[5], ARGV[8], 'PX', ARGV[10], 'GET')
  if cur and cur ~= ARGV[8] then
    local created = string.match(cur, ' (%d+)$')
    if created and created > ARGV[9] then
      redis.call('SET', KEYS[5], cur, 'PX', ARGV[10])
      return cur
    end
  end
end
if #KEYS > 5 then
  -- The deliveries are enqueued here (at most maxOneScript): the message is kept inline in the tenant's index
  -- (inline.go), in the one ZADD that also lists each delivery for the tenant's log ("<delivery> <endpoint>") and
  -- its endpoint's ("|<endpoint> <delivery>"). When it adds nothing, this very script ran already (a client that
  -- sent it again after losing the answer), and it stops there, having changed nothing but the idempotency key's
  -- TTL. That second run's answer names no lease, so what the first run leased is reclaimed when its lease expires.
  local z = {0, ARGV[1], 0, ARGV[2]}
  for a = 14, #ARGV - 1, 10 do
    local id, ep = ARGV[a + 1], ARGV[a + 2]
    z[#z + 1], z[#z + 2] = 0, id .. ' ' .. ep
    z[#z + 1], z[#z + 2] = 0, '|' .. ep .. ' ' .. id
  end
  if redis.call('ZADD', KEYS[4], unpack(z)) == 0 then return '' end
  if ARGV[3] ~= '' then redis.call('SADD', KEYS[3], ARGV[4]) end
else
  -- A larger fan-out, which enqueueScript enqueues after: the message's hash, its delivery index (a ZSET, md), the
  -- tenant's index ("<delivery> <endpoint>") and the retention index. When the hash's fields are not new, this very
  -- script ran already, as above. unpack takes at most 8000 values.
  if redis.call('HSET', KEYS[1], 'm', ARGV[1], 'plan', ARGV[2], 'cns', ARGV[3], 'tenant', ARGV[4],
      'data', ARGV[7]) == 0 then
    return ''
  end
  local idx, md = {}, {}
  for a = 14, #ARGV - 1, 2 do
    local member = ARGV[a + 1] .. ' ' .. ARGV[a + 2]
    idx[#idx + 1], idx[#idx + 2] = 0, member
    md[#md + 1], md[#md + 2] = 0, member
    if #idx >= 4000 then
      redis.call('ZADD', KEYS[4], unpack(idx))
      redis.call('ZADD', KEYS[2], unpack(md))
      idx, md = {}, {}
    end
  end
  if #idx > 0 then
    redis.call('ZADD', KEYS[4], unpack(idx))
    redis.call('ZADD', KEYS[2], unpack(md))
  end
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
end
local okey, lease_at, now, lease_cap = ARGV[11], tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local per = 6
if okey ~= '' then per = 8 end
if lease_at > 0 then per = per + 1 end
local leased = {}
for i = 1, (#KEYS - 5) / per do
  local k, a = 5 + per * (i - 1), 14 + 10 * (i - 1)
  local ready, turns, lanes, parked, rec = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local busy = KEYS[k + 6]
  local id, ep, due = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 7])
  local f = {'tenant', ARGV[a + 3], 'msg', ARGV[a + 4], 'ep', ep, 'type', ARGV[a + 5], 'status', 'pending',
    'att', ARGV[a + 6], 'next', ARGV[a + 8], 'created', ARGV[a + 9], 'updated', ARGV[a + 10]}
  local head = true
  if okey ~= '' then
    f[#f + 1], f[#f + 2] = 'ok', okey
    local n = redis.call('RPUSH', KEYS[k + 8], id)
    head = n == 1
    if n == 2 then redis.call('HINCRBY', KEYS[k + 7], ep, 1) end
  end
  local lease, delta = false, 0 -- delta: what the busy value still needs
  local v = nil -- the busy value, when the lease try read it
  if head and lease_at > 0 and due <= now then
    -- Leased here when due and its endpoint has nothing queued, room under lease_cap, no rate limit and no hold:
    -- what a claim would check before taking it first. The in-flight slot is taken first, and given back when
    -- that went past lease_cap: where the endpoint has room (a steady load) one command both reads and takes it,
    -- since work queued, a rate limit, a hold or a park each put the busy value past every cap (luaBusy's flags).
    -- The script is atomic, so nobody sees the excess.
    v = redis.call('HINCRBY', busy, ep, 1)
    if v <= lease_cap then
      -- The fence, as new_lease makes it for a first lease: odd for a delivery with an ordering key.
      local fence = now * 1000
      if okey ~= '' then fence = fence + 1 end
      lease = string.format('%d', fence)
      f[#f + 1], f[#f + 2] = 'fence', lease
      redis.call('ZADD', KEYS[k + per], lease_at, id .. ' ' .. lease)
      leased[#leased + 1] = id
      leased[#leased + 1] = lease
    else
      delta = -1
    end
  end
  redis.call('HSET', rec, unpack(f))
  if head and not lease then
    redis.call('ZADD', lanes, 0, ep .. '|' .. string.format('%015d', due) .. '|' .. id)
    -- As luaLib's touch: an endpoint new to ready has work queued from now on. When the lease try read the busy
    -- value, its flags spare the lookups they answer: without the queued flag the endpoint is in none of parked,
    -- turns and ready (it is in one of them exactly while it has work queued); with it and without the parked flag
    -- it is not parked. A parked flag is checked against parked itself, as a stale one must not strand the item.
    local in_parked, in_turns = false, false
    if v and flag_of(v, QUEUED) == 0 then
      -- nothing to look up
    elseif v and flag_of(v, PARKED) == 0 then
      in_turns = redis.call('ZSCORE', turns, ep)
    else
      in_parked = redis.call('ZSCORE', parked, ep)
      in_turns = not in_parked and redis.call('ZSCORE', turns, ep)
    end
    if not in_parked and not in_turns and redis.call('ZADD', ready, 'LT', num(due), ep) == 1 then
      delta = delta + QUEUED
    end
  end
  if delta ~= 0 then redis.call('HINCRBY', busy, ep, string.format('%d', delta)) end
end
if #leased > 0 then return '+' .. table.concat(leased, ' ') end
return ''
`)

// retimeScript re-times an endpoint's deliveries after its rate limit changed (UpdateEndpoint): it drops the
// endpoint's GCRA state (the old rate's schedule), moves the deliveries held back unspent (record field held, set by
// releaseScript and cleared by nackScript) that are due after now to now + i × step (the i-th in lane order; step 0
// when the endpoint has no limit any more) unless they were due earlier, writes each moved record's next, and puts
// the endpoint's ready score (when it is waiting there) at its first item's due time, so that no wait computed under
// the old rate is left; the first 16 items it does not move get their record's next back to their due time (a claim
// held back by the old rate wrote its wait there). Retries waiting for their backoff keep their time. At most ARGV[5] items are looked at.
//
//	KEYS[1..6] the queue keys, KEYS[7] gcra
//	ARGV[1] endpoint, ARGV[2] now ms, ARGV[3] step ms (a float), ARGV[4] the shard's record key prefix, ARGV[5] max
//	items
//	Reply: how many deliveries it moved.
var retimeScript = newScript(luaLib + `
local ep, now, step, rprefix = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('HDEL', KEYS[7], ep)
local items = redis.call('ZRANGE', lanes, '[' .. ep .. '|', '(' .. ep .. '}', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[5]))
local i, moved, fixed = 0, 0, 0
for _, item in ipairs(items) do
  local due = due_of(ep, item)
  local id = string.sub(item, #ep + 18)
  local rec = rprefix .. id
  local to = nil
  if due > now and redis.call('HGET', rec, 'held') == '1' then
    to = math.floor(now + i * step)
    i = i + 1
    if to >= due then to = nil end
  end
  if to then
    redis.call('ZREM', lanes, item)
    redis.call('ZADD', lanes, 0, lane_member(ep, to, id))
    redis.call('HSET', rec, 'next', string.format('%014d', to) .. '000000')
    moved = moved + 1
  elseif fixed < 16 and redis.call('HEXISTS', rec, 'ep') == 1 then
    -- A claim that stopped at this item for the old rate wrote the rate's time in its record's next (claimScript):
    -- it is due again at its own time.
    fixed = fixed + 1
    redis.call('HSET', rec, 'next', string.format('%014d', due) .. '000000')
  end
end
if redis.call('ZSCORE', ready, ep) then
  local it = first_item(ep)
  if it then redis.call('ZADD', ready, num(due_of(ep, it)), ep) end
end
return moved
`)
