package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
)

// GetMessage returns a message of the tenant.
func (s *Store) GetMessage(ctx context.Context, tenantID, id string) (*delivery.Message, error) {
	if !validID(id) {
		return nil, delivery.ErrNotFound
	}
	if m := s.recent.Get(tenantID, id); m != nil {
		return m, nil
	}
	if m := s.claimed.Get(tenantID, id); m != nil {
		return m, nil
	}
	return s.getMessage(ctx, tenantID, id)
}

// locate finds the endpoint of a tenant's delivery (which names the shard holding its record) in the tenant's index.
func (s *Store) locate(ctx context.Context, tenantID, id string) (string, error) {
	if !validID(id) {
		return "", delivery.ErrNotFound
	}
	got, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.k.tenantDeliveries(tenantID), ByLex: true,
		Start: "[" + id + " ", Stop: "(" + id + "!", Count: 1}).Result()
	if err != nil {
		return "", fmt.Errorf("redisstore: locate delivery %s: %w", id, err)
	}
	if len(got) == 0 {
		return "", delivery.ErrNotFound
	}
	_, ep := splitPair(got[0])
	return ep, nil
}

// GetDelivery returns a delivery of the tenant.
func (s *Store) GetDelivery(ctx context.Context, tenantID, id string) (*delivery.Delivery, error) {
	ep, err := s.locate(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	f, err := recordOf(s.rdb.HMGet(ctx, s.k.shardOf(ep).record(id), recordFields...))
	if err != nil {
		return nil, fmt.Errorf("redisstore: get delivery %s: %w", id, err)
	}
	if len(f) == 0 {
		return nil, delivery.ErrNotFound
	}
	d, err := decodeDelivery(id, f)
	if err != nil {
		return nil, err
	}
	if d.TenantID != tenantID {
		return nil, delivery.ErrNotFound
	}
	if err := s.fillWaiting(ctx, []*delivery.Delivery{d}); err != nil {
		return nil, err
	}
	return d, nil
}

// ListDeliveries pages through an index in id order, reading records in pipelined batches and filtering them: the
// message's index when f.MessageID is set, else the endpoint's (its own index merged with its part of the tenant's,
// endpointMember), else the tenant's. Status and time filters cost a
// scan of the chosen index (docs/architecture.md, store/redisstore, Caveats).
func (s *Store) ListDeliveries(ctx context.Context, tenantID string, f delivery.Filter) ([]*delivery.Delivery, error) {
	var (
		key   string
		pairs = true // members are "<id> <endpoint>", else plain ids of f.EndpointID
	)
	var byMessage []string // the message's index, read whole (a delivery per endpoint it went to, and its replays)
	switch {
	case f.MessageID != "":
		if !validID(f.MessageID) {
			return nil, nil
		}
		pipe := s.rdb.Pipeline()
		idx := s.messageIndex(ctx, pipe, tenantID, f.MessageID)
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redisstore: list deliveries: %w", err)
		}
		byMessage = idx.pairs()
	case f.EndpointID != "":
		if !validID(f.EndpointID) {
			return nil, nil
		}
		key, pairs = s.k.shardOf(f.EndpointID).endpointDeliveries(f.EndpointID), false
	default:
		key = s.k.tenantDeliveries(tenantID)
	}
	tenantIdx := s.k.tenantDeliveries(tenantID)
	batch := int64(200)
	if f.Limit > 0 {
		batch = min(max(int64(f.Limit)*2, 50), 1000)
	}
	var out []*delivery.Delivery
	after := f.After
	for {
		start := afterID(after)
		if pairs {
			start = afterPair(after)
		}
		var members []string
		if f.MessageID != "" {
			i := 0
			if after != "" {
				i, _ = slices.BinarySearch(byMessage, after+"!") // the first member of an id after it
			}
			members = byMessage[i:min(len(byMessage), i+int(batch))]
		} else if f.EndpointID != "" {
			// The endpoint's own index (enqueueScript's: the general way, a larger fan-out, replays, older versions)
			// and its part of the tenant's (the deliveries publish scripts enqueued themselves), merged in id order.
			pipe := s.rdb.Pipeline()
			own := pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, ByLex: true, Start: start, Stop: "+", Count: batch})
			lo := "[" + endpointMember(f.EndpointID, "")
			if after != "" {
				lo = "(" + endpointMember(f.EndpointID, after)
			}
			inTenant := pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: tenantIdx, ByLex: true, Start: lo,
				Stop: "(|" + f.EndpointID + "!", Count: batch}) // "!" sorts right above the space
			if _, err := pipe.Exec(ctx); err != nil {
				return nil, fmt.Errorf("redisstore: list deliveries: %w", err)
			}
			members = own.Val()
			for _, m := range inTenant.Val() {
				members = append(members, m[len(endpointMember(f.EndpointID, "")):])
			}
			slices.Sort(members)
			members = slices.Compact(members)
			members = members[:min(len(members), int(batch))]
		} else {
			var err error
			members, err = s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, ByLex: true, Start: start,
				Stop: "(|", Count: batch}).Result() // the pairs, not the endpoints' part (endpointMember)
			if err != nil {
				return nil, fmt.Errorf("redisstore: list deliveries: %w", err)
			}
		}
		if len(members) == 0 {
			return out, nil
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, 0, len(members))
		cids := make([]string, 0, len(members))
		for _, mem := range members {
			id, ep := mem, f.EndpointID
			if pairs {
				id, ep = splitPair(mem)
			}
			after = id
			if f.EndpointID != "" && ep != f.EndpointID {
				continue
			}
			cmds = append(cmds, pipe.HMGet(ctx, s.k.shardOf(ep).record(id), recordFields...))
			cids = append(cids, id)
		}
		if len(cmds) > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return nil, fmt.Errorf("redisstore: list deliveries: read records: %w", err)
			}
		}
		for j, c := range cmds {
			rec, _ := recordOf(c)
			if len(rec) == 0 {
				continue // indexed before its record was written (a publish in flight or interrupted)
			}
			d, err := decodeDelivery(cids[j], rec)
			if err != nil {
				return nil, err
			}
			if !matches(d, tenantID, f) {
				continue
			}
			out = append(out, d)
			if f.Limit > 0 && len(out) == f.Limit {
				return out, s.fillWaiting(ctx, out)
			}
		}
		if int64(len(members)) < batch {
			return out, s.fillWaiting(ctx, out)
		}
	}
}

func matches(d *delivery.Delivery, tenantID string, f delivery.Filter) bool {
	switch {
	case d.TenantID != tenantID,
		f.EndpointID != "" && d.EndpointID != f.EndpointID,
		f.MessageID != "" && d.MessageID != f.MessageID,
		f.Status != "" && d.Status != f.Status,
		!f.Since.IsZero() && d.CreatedAt.Before(f.Since),
		!f.Until.IsZero() && !d.CreatedAt.Before(f.Until):
		return false
	}
	return true
}

// ListAttempts returns a delivery's attempts, oldest first.
func (s *Store) ListAttempts(ctx context.Context, tenantID, deliveryID string) ([]delivery.Attempt, error) {
	ep, err := s.locate(ctx, tenantID, deliveryID)
	if err != nil {
		return nil, err
	}
	sk := s.k.shardOf(ep)
	pipe := s.rdb.Pipeline()
	rec := pipe.HGetAll(ctx, sk.record(deliveryID))
	list := pipe.LRange(ctx, sk.attempts(deliveryID), 0, -1) // where versions before 2026-12 kept them
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: list attempts of %s: %w", deliveryID, err)
	}
	if rec.Val()["tenant"] != tenantID {
		return nil, delivery.ErrNotFound
	}
	all := attemptsOf(list.Val(), rec.Val())
	out := make([]delivery.Attempt, 0, len(all))
	for _, js := range all {
		var a delivery.Attempt
		if err := json.Unmarshal([]byte(js), &a); err != nil {
			return nil, fmt.Errorf("redisstore: decode attempt of %s: %w", deliveryID, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// pruneBatch bounds the candidates one prune script call handles.
const pruneBatch = 500

// Prune deletes terminal deliveries created before cutoff (records, attempts, index entries), then messages created
// before cutoff that no delivery refers to any more. It returns how many deliveries it deleted.
//
// It walks the message shards' retention indexes, then the retention members of inline messages (inline.go): for
// each message created before cutoff, its deliveries (listed by its delivery index) are pruned where terminal and
// old enough, and the message goes once its index is empty. A message with a live delivery stays, and is looked at
// again at every prune.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	return s.PruneBy(ctx, cutoff, func(string) time.Time { return cutoff })
}

var _ delivery.TenantPruner = (*Store)(nil)

// PruneBy is Prune with a cutoff per tenant: it walks the retention indexes up to latest and deletes what is older
// than its tenant's cutoff; a message kept for its tenant stays in the range and is paged past, like one with a live
// delivery.
func (s *Store) PruneBy(ctx context.Context, latest time.Time, cutoff func(tenantID string) time.Time) (int, error) {
	s.recent.Clear() // before and after: a message published meanwhile may be pruned by this very call
	s.claimed.Clear()
	n, err := s.prune(ctx, latest, cutoff)
	s.recent.Clear()
	s.claimed.Clear()
	return n, err
}

func (s *Store) prune(ctx context.Context, latest time.Time, cutoff func(string) time.Time) (int, error) {
	// Versions before 2026-11 listed terminal deliveries in a done set per shard; nothing reads it any more.
	pipe := s.rdb.Pipeline()
	for i := range s.k.shards {
		pipe.Unlink(ctx, s.k.shards[i].done)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("redisstore: prune: %w", err)
	}
	cutMS := strconv.FormatInt(ms(latest), 10)
	cuts := map[string]string{} // tenant → its cutoff, ns
	cutNS := func(tenant string) string {
		c, ok := cuts[tenant]
		if !ok {
			c = nsString(cutoff(tenant))
			cuts[tenant] = c
		}
		return c
	}
	total := 0
	offset := make([]int64, len(s.k.msgs)) // messages kept (live deliveries) stay in the range: page past them
	open := make([]bool, len(s.k.msgs))
	for i := range open {
		open[i] = true
	}
	for {
		pipe := s.rdb.Pipeline()
		lists := make([]*redis.StringSliceCmd, len(s.k.msgs))
		pending := false
		for i := range s.k.msgs {
			if open[i] {
				lists[i] = pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.k.msgs[i].index, ByScore: true,
					Start: "-inf", Stop: cutMS, Offset: offset[i], Count: pruneBatch})
				pending = true
			}
		}
		if !pending {
			break
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return total, fmt.Errorf("redisstore: prune: list messages: %w", err)
		}
		batch := map[int][]string{} // message shard → ids of this round
		for i, l := range lists {
			if l == nil {
				continue
			}
			ids := l.Val()
			if len(ids) < pruneBatch {
				open[i] = false
			}
			if len(ids) > 0 {
				batch[i] = ids
			}
		}
		n, tenantOf, err := s.pruneDeliveriesOf(ctx, batch, cutNS)
		total += n
		if err != nil {
			return total, err
		}
		kept, err := s.pruneMessages(ctx, batch, tenantOf, cutNS)
		if err != nil {
			return total, err
		}
		for i := range batch {
			offset[i] += kept[i]
		}
	}
	n, err := s.pruneInline(ctx, latest, cutoff)
	return total + n, err
}

// pruneDeliveriesOf prunes the deliveries of messages (by message shard): it lists them from the messages' delivery
// indexes, runs pruneDeliveriesScript on each queue shard's candidates with their tenant's cutoff, and drops the
// deleted ones (and those whose record was already gone) from their tenant's and message's indexes. It returns how
// many it deleted, and the tenant of each message.
func (s *Store) pruneDeliveriesOf(ctx context.Context, msgs map[int][]string, cutNS func(string) string) (int, map[string]string, error) {
	pipe := s.rdb.Pipeline()
	type msgCmds struct {
		id      string
		members messageIndexCmds
		tenant  *redis.StringCmd
	}
	var cmds []msgCmds
	for i, ids := range msgs {
		mk := &s.k.msgs[i]
		for _, id := range ids {
			cmds = append(cmds, msgCmds{id, s.messageIndex(ctx, pipe, "", id), pipe.HGet(ctx, mk.message(id), "tenant")})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, nil, fmt.Errorf("redisstore: prune: list deliveries: %w", err)
	}
	tenantOf := make(map[string]string, len(cmds))
	var cands []pruneCand
	for _, c := range cmds {
		tenantOf[c.id] = c.tenant.Val()
		for _, m := range c.members.pairs() {
			id, ep := splitPair(m)
			if validID(id) && validID(ep) {
				cands = append(cands, pruneCand{id, ep, c.tenant.Val(), c.id})
			}
		}
	}
	n, err := s.pruneCandidates(ctx, cands, cutNS)
	return n, tenantOf, err
}

// pruneCand is a delivery Prune may delete: its id, endpoint, tenant and message.
type pruneCand struct{ id, ep, tenant, msg string }

// pruneCandidates runs pruneDeliveriesScript on each queue shard's candidates with their tenant's cutoff, and drops
// the deleted ones (and those whose record was already gone) from their tenant's and message's indexes. It returns
// how many it deleted.
func (s *Store) pruneCandidates(ctx context.Context, cands []pruneCand, cutNS func(string) string) (int, error) {
	type group struct {
		shard int
		cut   string
	}
	byShard := map[group][]pruneCand{}
	for _, c := range cands {
		g := group{s.k.shardOf(c.ep).num, cutNS(c.tenant)}
		byShard[g] = append(byShard[g], c)
	}
	var (
		calls  []scriptCall
		groups [][]pruneCand
	)
	for grp, cs := range byShard {
		sk := &s.k.shards[grp.shard]
		for len(cs) > 0 {
			g := cs[:min(len(cs), pruneBatch)]
			cs = cs[len(g):]
			keys := []string{sk.dead}
			args := []any{grp.cut}
			for _, c := range g {
				keys = append(keys, sk.record(c.id), sk.attempts(c.id), sk.endpointDeliveries(c.ep))
				args = append(args, c.id)
			}
			calls = append(calls, scriptCall{pruneDeliveriesScript, keys, args})
			groups = append(groups, g)
		}
	}
	res, err := s.runScripts(ctx, calls)
	if err != nil {
		return 0, fmt.Errorf("redisstore: prune: %w", err)
	}
	pipe := s.rdb.Pipeline()
	n, dropped := 0, 0 // deliveries deleted; index entries dropped (theirs and stale ones)
	for j, c := range res {
		deleted, _ := c.Int64Slice()
		for k, d := range deleted {
			if d == 0 || k >= len(groups[j]) {
				continue
			}
			cd := groups[j][k]
			if cd.tenant != "" {
				pipe.ZRem(ctx, s.k.tenantDeliveries(cd.tenant), pair(cd.id, cd.ep), endpointMember(cd.ep, cd.id))
			}
			mk := s.k.msgShardOf(cd.msg)
			pipe.HDel(ctx, mk.message(cd.msg), messageIndexField(cd.id, cd.ep))
			pipe.ZRem(ctx, mk.messageDeliveries(cd.msg), pair(cd.id, cd.ep)) // the one or the other lists it
			dropped++
			if d == 1 {
				n++
			}
		}
	}
	if dropped > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return n, fmt.Errorf("redisstore: prune: indexes: %w", err)
		}
	}
	return n, nil
}

// pruneMessages runs pruneMessagesScript on messages (by message shard, with their tenant's cutoff) and returns, per
// shard, how many of them are still in its retention index (kept: a delivery still refers to them, or their tenant
// keeps them longer).
func (s *Store) pruneMessages(ctx context.Context, msgs map[int][]string, tenantOf map[string]string, cutNS func(string) string) (map[int]int64, error) {
	type group struct {
		shard int
		cut   string
	}
	byGroup := map[group][]string{}
	for i, ids := range msgs {
		for _, id := range ids {
			g := group{i, cutNS(tenantOf[id])}
			byGroup[g] = append(byGroup[g], id)
		}
	}
	var (
		calls  []scriptCall
		groups []group
	)
	for g, ids := range byGroup {
		mk := &s.k.msgs[g.shard]
		keys := []string{mk.index}
		args := []any{g.cut}
		for _, id := range ids {
			keys = append(keys, mk.message(id), mk.messageDeliveries(id))
			args = append(args, id)
		}
		calls = append(calls, scriptCall{pruneMessagesScript, keys, args})
		groups = append(groups, g)
	}
	cmds, err := s.runScripts(ctx, calls)
	if err != nil {
		return nil, fmt.Errorf("redisstore: prune messages: %w", err)
	}
	kept := map[int]int64{}
	for j, c := range cmds {
		r, err := c.Int64Slice()
		if err != nil || len(r) != 2 {
			return nil, fmt.Errorf("redisstore: prune messages: reply %v: %v", r, err)
		}
		kept[groups[j].shard] += int64(len(byGroup[groups[j]])) - r[1]
	}
	return kept, nil
}
