package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
)

// A message whose deliveries its publish script enqueued itself (at most maxOneScript, on a single server) is kept
// inline: as a member of its tenant's delivery index, written by the ZADD that lists its deliveries there anyway,
// instead of a hash of its own and an entry in its shard's retention index. That is two commands fewer per publish.
// The index holds two members for it:
//
//	"}<message> <created ns> <n> <delivery 1> <endpoint 1> … <delivery n> <endpoint n> <len m> <has data>\n<m><data>"
//	"~<created ns> <message>"
//
// The first is the message (m: its JSON without data; data: the bytes as published, when has data is 1; the
// deliveries it was published with, its delivery index), found by its id; the second is its retention entry, which
// Prune walks in time order. Ids never contain a space or a newline, and '}' and '~' sort above '|' and every id
// character, so the tenant's and its endpoints' logs never meet these members. A delivery enqueued later for the
// message (a replay) is listed in the message's own index ZSET, as for every other message.
//
// Prune walks the indexes of the tenants in the publishers set, to which a publish script adds its tenant when this
// Store has not done so in the last publisherTTL (a command per tenant and process now and then, not per publish),
// and of every registered tenant.

// publisherTTL is how long a Store trusts that a tenant it added to the publishers set is still there (a tenant
// deletion takes it out).
const publisherTTL = 10 * time.Minute

// publisherSet remembers when this Store last added each tenant to the publishers set.
type publisherSet struct {
	mu    sync.Mutex
	added map[string]time.Time
}

// due tells whether a publish for tenant should add it to the publishers set.
func (p *publisherSet) due(tenantID string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.added[tenantID]
	return !ok || now.Sub(at) >= publisherTTL
}

// done records that a publish script added tenant at now.
func (p *publisherSet) done(tenantID string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.added == nil {
		p.added = map[string]time.Time{}
	}
	p.added[tenantID] = now
}

// forget drops tenant (deleted), so that a later publish for it adds it again.
func (p *publisherSet) forget(tenantID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.added, tenantID)
}

// inlineMember is the member of the tenant's index that keeps message m inline (mj: its JSON without data).
func inlineMember(m *delivery.Message, mj []byte, pairs []string) string {
	var b strings.Builder
	b.Grow(64 + 40*len(pairs) + len(mj) + len(m.Data))
	b.WriteByte('}')
	b.WriteString(m.ID)
	b.WriteByte(' ')
	b.WriteString(nsString(m.CreatedAt))
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(pairs)))
	for _, p := range pairs {
		b.WriteByte(' ')
		b.WriteString(p)
	}
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(mj)))
	if m.Data != nil {
		b.WriteString(" 1\n")
	} else {
		b.WriteString(" 0\n")
	}
	b.Write(mj)
	b.Write(m.Data)
	return b.String()
}

// retentionMember is a message's retention entry in its tenant's index: "~<created ns> <message>".
func retentionMember(createdNS, id string) string { return "~" + createdNS + " " + id }

// inlineRange is the ZRANGE BYLEX range of message id's inline member.
func inlineRange(id string) (start, stop string) { return "[}" + id + " ", "(}" + id + "!" }

// inlineMessage is an inline member, parsed.
type inlineMessage struct {
	member    string
	id        string
	createdNS string
	pairs     []string // "<delivery> <endpoint>"
	mj        string
	data      any // a string, or nil when the message has none (expunged)
}

var errInline = errors.New("bad inline message")

// parseInline parses an inline member.
func parseInline(member string) (*inlineMessage, error) {
	head, body, ok := strings.Cut(member, "\n")
	if !ok || !strings.HasPrefix(head, "}") {
		return nil, errInline
	}
	f := strings.Split(head[1:], " ")
	if len(f) < 5 {
		return nil, errInline
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || n < 0 || len(f) != 5+2*n {
		return nil, errInline
	}
	mlen, err := strconv.Atoi(f[3+2*n])
	if err != nil || mlen < 0 || mlen > len(body) {
		return nil, errInline
	}
	im := &inlineMessage{member: member, id: f[0], createdNS: f[1], mj: body[:mlen]}
	switch f[4+2*n] {
	case "1":
		im.data = body[mlen:]
	case "0":
	default:
		return nil, errInline
	}
	im.pairs = make([]string, n)
	for i := range n {
		im.pairs[i] = f[3+2*i] + " " + f[4+2*i]
	}
	return im, nil
}

// readInline queues the read of a tenant's inline message on pipe: nil on a Cluster, where publishes write none.
func (s *Store) readInline(ctx context.Context, pipe redis.Pipeliner, tenantID, id string) *redis.StringSliceCmd {
	if !s.onePublish {
		return nil
	}
	start, stop := inlineRange(id)
	return pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.k.tenantDeliveries(tenantID), ByLex: true,
		Start: start, Stop: stop, Count: 1})
}

// inlineOf reads what readInline queued: nil when there is no such inline message (or no read).
func inlineOf(c *redis.StringSliceCmd) *inlineMessage {
	if c == nil || c.Err() != nil || len(c.Val()) == 0 {
		return nil
	}
	im, err := parseInline(c.Val()[0])
	if err != nil {
		return nil
	}
	return im
}

// getMessage reads a tenant's message where it is, inline (a single server) or in its own hash, in one round trip.
func (s *Store) getMessage(ctx context.Context, tenantID, id string) (*delivery.Message, error) {
	pipe := s.rdb.Pipeline()
	c := s.readInline(ctx, pipe, tenantID, id)
	h := pipe.HMGet(ctx, s.k.msgShardOf(id).message(id), "m", "data")
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: get message %s: %w", id, err)
	}
	if im := inlineOf(c); im != nil {
		return decodeMessage(id, im.mj, im.data)
	}
	vals := h.Val()
	m, err := decodeMessage(id, vals[0], vals[1])
	if err != nil {
		return nil, err
	}
	if m.TenantID != tenantID {
		return nil, delivery.ErrNotFound
	}
	return m, nil
}

// expungeInlineScript swaps an inline message's member for another, if it is still there (KEYS[1] the tenant's
// index; ARGV[1] the member read, ARGV[2] the new one). It returns 1, or 0 when the member changed.
var expungeInlineScript = newScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], 0, ARGV[2])
return 1
`)

// expungeInline is ExpungeMessage for an inline message: found reports whether there is one.
func (s *Store) expungeInline(ctx context.Context, tenantID, id string, at time.Time) (m *delivery.Message, found bool, err error) {
	for range 10 {
		pipe := s.rdb.Pipeline()
		c := s.readInline(ctx, pipe, tenantID, id)
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, true, fmt.Errorf("redisstore: expunge message %s: %w", id, err)
		}
		im := inlineOf(c)
		if im == nil {
			return nil, false, nil
		}
		m, mj, err := expunged(id, im.mj, at)
		if err != nil {
			return nil, true, err
		}
		member := inlineMember(m, mj, im.pairs) // m has no data now
		n, err := expungeInlineScript.Run(ctx, s.rdb, []string{s.k.tenantDeliveries(tenantID)}, im.member, member).Int()
		if err != nil {
			return nil, true, fmt.Errorf("redisstore: expunge message %s: %w", id, err)
		}
		if n == 1 {
			return m, true, nil
		}
	}
	return nil, true, fmt.Errorf("redisstore: expunge message %s: the message kept changing", id)
}

// pruneInlineScript deletes an inline message once nothing refers to it: no delivery it was published with has a
// record left, and its own index ZSET (deliveries enqueued later) is empty.
//
//	KEYS[1] the tenant's index, KEYS[2] the message's index ZSET, KEYS[3…] the records of the deliveries it was
//	published with
//	ARGV[1] its retention member, ARGV[2] its id
//	Reply: 1 when it is gone, 0 when it stays.
var pruneInlineScript = newScript(`
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYLEX', KEYS[1], '[}' .. ARGV[2] .. ' ', '(}' .. ARGV[2] .. '!')
return 1
`)

// pruneInline is Prune for inline messages: it walks the retention members of every tenant in the publishers set, up
// to the tenant's cutoff (and latest), prunes the deliveries of each message found, and deletes the message once
// none is left. It returns how many deliveries it deleted.
func (s *Store) pruneInline(ctx context.Context, latest time.Time, cutoff func(string) time.Time) (int, error) {
	if !s.onePublish {
		return 0, nil // a Cluster's publishes keep no message inline
	}
	total := 0
	seen := map[string]bool{}
	walk := func(tenants []string) error {
		for _, t := range tenants {
			if seen[t] {
				continue
			}
			seen[t] = true
			cut := cutoff(t)
			if latest.Before(cut) {
				cut = latest
			}
			n, err := s.pruneInlineOf(ctx, t, nsString(cut))
			total += n
			if err != nil {
				return err
			}
		}
		return nil
	}
	// The publishers set, and the tenant registry too: another replica may still believe it added a tenant that
	// was deleted and created again since, and skip adding it for a while.
	var cursor uint64
	for {
		tenants, next, err := s.rdb.SScan(ctx, s.k.publishers(), cursor, "", 200).Result()
		if err != nil {
			return total, fmt.Errorf("redisstore: prune: list publishers: %w", err)
		}
		if err := walk(tenants); err != nil {
			return total, err
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	after := "-"
	for {
		tenants, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.k.tenantList(), ByLex: true, Start: after,
			Stop: "+", Count: 500}).Result()
		if err != nil {
			return total, fmt.Errorf("redisstore: prune: list tenants: %w", err)
		}
		if err := walk(tenants); err != nil {
			return total, err
		}
		if len(tenants) < 500 {
			return total, nil
		}
		after = "(" + tenants[len(tenants)-1]
	}
}

// pruneInlineOf prunes one tenant's inline messages created before cut (ns, 20 digits).
func (s *Store) pruneInlineOf(ctx context.Context, tenantID, cut string) (int, error) {
	idx := s.k.tenantDeliveries(tenantID)
	total := 0
	var offset int64
	for {
		members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: idx, ByLex: true, Start: "[~", Stop: "(~" + cut,
			Offset: offset, Count: pruneBatch}).Result()
		if err != nil {
			return total, fmt.Errorf("redisstore: prune: list messages of %s: %w", tenantID, err)
		}
		if len(members) == 0 {
			return total, nil
		}
		type msg struct {
			member, id string
			inline     *redis.StringSliceCmd
			later      *redis.StringSliceCmd
			pairs      []string // the deliveries it was published with
		}
		msgs := make([]msg, 0, len(members))
		pipe := s.rdb.Pipeline()
		for _, m := range members {
			_, id, ok := strings.Cut(m, " ")
			if !ok {
				offset++ // not a retention member: page past it
				continue
			}
			msgs = append(msgs, msg{member: m, id: id, inline: s.readInline(ctx, pipe, tenantID, id),
				later: pipe.ZRange(ctx, s.k.msgShardOf(id).messageDeliveries(id), 0, -1)})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return total, fmt.Errorf("redisstore: prune: read messages of %s: %w", tenantID, err)
		}
		var cands []pruneCand
		for i := range msgs {
			m := &msgs[i]
			if im := inlineOf(m.inline); im != nil {
				m.pairs = im.pairs
			}
			for _, p := range slices.Concat(m.pairs, m.later.Val()) {
				if id, ep := splitPair(p); validID(id) && validID(ep) {
					cands = append(cands, pruneCand{id: id, ep: ep, tenant: tenantID, msg: m.id})
				}
			}
		}
		n, err := s.pruneCandidates(ctx, cands, func(string) string { return cut })
		total += n
		if err != nil {
			return total, err
		}
		var calls []scriptCall
		for _, m := range msgs {
			keys := []string{idx, s.k.msgShardOf(m.id).messageDeliveries(m.id)}
			for _, p := range m.pairs {
				id, ep := splitPair(p)
				keys = append(keys, s.k.shardOf(ep).record(id))
			}
			calls = append(calls, scriptCall{pruneInlineScript, keys, []any{m.member, m.id}})
		}
		res, err := s.runScripts(ctx, calls)
		if err != nil {
			return total, fmt.Errorf("redisstore: prune messages of %s: %w", tenantID, err)
		}
		for _, c := range res {
			if v, _ := c.Int64(); v == 0 {
				offset++ // kept: it stays in the range
			}
		}
		if len(members) < pruneBatch {
			return total, nil
		}
	}
}
