package redisstore

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Rate limits of the API shared by every replica on this store (api.Limiter): one GCRA state per key, a single
// integer (the theoretical arrival time in microseconds of Redis's clock, so replicas' clocks do not matter) that
// expires once the bucket is full again. One key per limit, so one script call on one slot, Cluster included.

// limitScript: KEYS[1] the state; ARGV[1] µs per token, ARGV[2] µs of burst (burst × per token), ARGV[3] "1" to take
// a token. Returns 0 when a token is there (taken with ARGV[3]), else the µs until there is one.
var limitScript = newScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + per
if nxt - now > tau then return math.ceil(nxt - tau - now) end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
end
return 0
`)

// Reserve reports how long until key's bucket (rate tokens per second, at most burst) holds a token, 0 when it does
// now; with take, a token that is there is taken. It implements api.Limiter for replicas sharing this store.
func (s *Store) Reserve(ctx context.Context, key string, rate float64, burst int, take bool) (time.Duration, error) {
	if rate <= 0 || burst < 1 {
		return 0, nil
	}
	per := math.Max(1, 1e6/rate)
	tk := "0"
	if take {
		tk = "1"
	}
	us, err := limitScript.Run(ctx, s.rdb, []string{s.k.prefix + "rl:" + key}, int64(per), int64(per*float64(burst)), tk).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", key, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}
