package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/calls"
)

// The call log (package calls) lives in the tenant's slot:
//
//	P{t:<tenant>}:calls:<endpoint>    ZSET    the endpoint's call ids, scores 0
//	P{t:<tenant>}:call:<call>         STRING  call JSON
//	P{t:<tenant>}:callsbytime         ZSET    "<endpoint> <call>" → created ms (what PruneCalls walks)
//
// Every write of one tenant is one MULTI in one slot; PruneCalls walks the tenant list.

func (k *keys) callList(tenantID, endpointID string) string {
	return k.tenantTag(tenantID) + "calls:" + endpointID
}
func (k *keys) call(tenantID, callID string) string { return k.tenantTag(tenantID) + "call:" + callID }
func (k *keys) callsByTime(tenantID string) string  { return k.tenantTag(tenantID) + "callsbytime" }

var _ calls.Log = (*Store)(nil)

// AddCalls writes call log entries: one MULTI per tenant.
func (s *Store) AddCalls(ctx context.Context, cs []*calls.Call) error {
	byTenant := make(map[string][]*calls.Call)
	for _, c := range cs {
		if c == nil || !validID(c.ID) || !validID(c.TenantID) || !validID(c.EndpointID) {
			return fmt.Errorf("redisstore: add calls: bad id: %w", calls.ErrInvalid)
		}
		byTenant[c.TenantID] = append(byTenant[c.TenantID], c)
	}
	for t, tcs := range byTenant {
		_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
			for _, c := range tcs {
				b, err := json.Marshal(c)
				if err != nil {
					return err
				}
				tx.Set(ctx, s.k.call(t, c.ID), b, 0)
				tx.ZAdd(ctx, s.k.callList(t, c.EndpointID), redis.Z{Member: c.ID})
				tx.ZAdd(ctx, s.k.callsByTime(t), redis.Z{Score: float64(ms(c.CreatedAt)), Member: c.EndpointID + " " + c.ID})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstore: add calls: %w", err)
		}
	}
	return nil
}

// ListCalls returns one endpoint's calls in ascending id order after the cursor, at most limit.
func (s *Store) ListCalls(ctx context.Context, tenantID, endpointID, after string, limit int) ([]*calls.Call, error) {
	if !validID(tenantID) || !validID(endpointID) {
		return nil, nil
	}
	ids, err := s.lexPage(ctx, s.k.callList(tenantID, endpointID), after, limit)
	if err != nil {
		return nil, fmt.Errorf("redisstore: list calls: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.k.call(tenantID, id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result() // one slot: the tenant's
	if err != nil {
		return nil, fmt.Errorf("redisstore: list calls: %w", err)
	}
	out := make([]*calls.Call, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // pruned meanwhile
		}
		var c calls.Call
		if err := json.Unmarshal([]byte(str), &c); err != nil {
			return nil, fmt.Errorf("redisstore: decode call: %w", err)
		}
		out = append(out, &c)
	}
	return out, nil
}

// PruneCalls deletes the calls made before cutoff, tenant by tenant, a batch per round trip.
func (s *Store) PruneCalls(ctx context.Context, cutoff time.Time) (int, error) {
	tenants, err := s.rdb.ZRange(ctx, s.k.tenantList(), 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: prune calls: %w", err)
	}
	stop := strconv.FormatInt(ms(cutoff)-1, 10) // strictly before cutoff
	total := 0
	for _, t := range tenants {
		if !validID(t) {
			continue
		}
		for {
			members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.k.callsByTime(t), ByScore: true,
				Start: "-inf", Stop: stop, Count: pruneBatch}).Result()
			if err != nil {
				return total, fmt.Errorf("redisstore: prune calls: %w", err)
			}
			if len(members) == 0 {
				break
			}
			_, err = s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
				for _, m := range members {
					ep, id, _ := strings.Cut(m, " ")
					tx.Del(ctx, s.k.call(t, id))
					tx.ZRem(ctx, s.k.callList(t, ep), id)
					tx.ZRem(ctx, s.k.callsByTime(t), m)
				}
				return nil
			})
			if err != nil {
				return total, fmt.Errorf("redisstore: prune calls: %w", err)
			}
			total += len(members)
			if len(members) < pruneBatch {
				break
			}
		}
	}
	return total, nil
}
