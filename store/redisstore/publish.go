package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/store/internal/recjson"
)

func validID(s string) bool { return ids.Valid(s) }

// Publish stores m and its deliveries and enqueues them. A publish spans Cluster slots, so it cannot be one
// transaction; its writes are ordered so that a crash at any point leaves nothing worse than an orphan message:
//
//  1. in one MULTI on the message's slot: the message, its delivery plan (the deliveries, in full), its delivery index
//     and its retention-index entry; beside it, the tenant's delivery index;
//  2. the idempotency key, only now, naming the message (compare-and-set honouring idemSince);
//  3. the deliveries, one enqueue script per shard (records and queue entries together, skipping any that exist).
//
// A delivery is never enqueued before its message exists. When step 2 finds the key already names a message
// created after idemSince, that message wins: Publish completes it from its stored plan (steps 1 and 3 are
// idempotent), deletes what step 1 wrote for m, and returns the earlier message with existing set. So a producer
// retrying after a crash or a timeout at any step gets every delivery of the first attempt, exactly once. Publish
// returns success only after every write returned.
func (s *Store) Publish(ctx context.Context, m *delivery.Message, ds []*delivery.Delivery, idemSince time.Time) (*delivery.Message, int, bool, error) {
	if err := validatePublish(m, ds); err != nil {
		return nil, 0, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, false, err
	}
	if s.onePublish {
		stored, err := s.publishOne(ctx, m, ds, idemSince)
		if err != nil {
			return nil, 0, false, fmt.Errorf("redisstore: publish %s: %w", m.ID, err)
		}
		if stored {
			return s.publishedOne(ctx, m, ds)
		}
		// The idempotency key names an earlier message: the general path below completes that one.
	}
	if err := s.writeMessage(ctx, m, ds); err != nil {
		return nil, 0, false, err
	}
	if m.IdempotencyKey != "" {
		prev, err := s.claimIdempotencyKey(ctx, m, idemSince)
		if err != nil {
			return nil, 0, false, err
		}
		if prev != nil {
			if err := s.Enqueue(ctx, prev.pending()); err != nil {
				return nil, 0, false, fmt.Errorf("redisstore: publish: complete earlier message %s: %w", prev.msg.ID, err)
			}
			s.dropMessage(context.WithoutCancel(ctx), m, ds)
			return prev.msg, prev.planned, true, nil
		}
	}
	s.recent.Keep(m) // stored, and before its deliveries are due: the worker that claims one reads it from here
	if err := s.enqueue(ctx, ds); err != nil {
		return nil, 0, false, fmt.Errorf("redisstore: publish %s: %w", m.ID, err)
	}
	return m, len(ds), false, nil
}

// maxOneScript bounds the deliveries publishOne enqueues. A larger fan-out has publishOne store the message and its
// idempotency key only, and enqueues the deliveries after, sharing script calls by shard with other publishes in
// flight (batch.go). A fan-out of 10 gains from the one script (one round trip instead of two, and the message
// inline); a fan-out of 100 in one script took in more events but delivered no faster, and holds Redis longer per
// call, so larger ones keep sharing (docs/benchmarks.md has the figures).
const maxOneScript = 16

// publishOne is Publish in one atomic script (publishScript), used on a single Redis server, where a script may touch
// every key: one round trip, and nothing half-written even if the process dies mid-publish. It reports false, having
// written nothing, when the idempotency key names an earlier message created after idemSince. With more than
// maxOneScript deliveries it stores the message, its indexes and its idempotency key only (steps 1 and 2 of the
// general way, at once), and publishedOne enqueues them.
//
// The scripts of concurrent publishes share a pipeline (runPublishes): under load one round trip, and one write
// and read on each side, carries many publishes, while a lone publish goes at once.
func (s *Store) publishOne(ctx context.Context, m *delivery.Message, ds []*delivery.Delivery, idemSince time.Time) (bool, error) {
	call, plan, err := s.publishCall(m, ds, idemSince)
	if err != nil {
		return false, err
	}
	it := &pubItem{ctx: ctx, call: call, plan: plan, done: make(chan struct{})}
	s.publishes.add(it)
	select {
	case <-it.done:
		return it.stored, it.err
	case <-ctx.Done():
		return false, ctx.Err() // the script may still run: a retry with the idempotency key settles it
	}
}

// pubItem is one publishOne's script call and, once done is closed, what published made of its answer.
type pubItem struct {
	ctx    context.Context // the caller's: an item whose caller left before its batch went is not sent
	call   scriptCall
	plan   *publishPlan
	stored bool
	err    error
	done   chan struct{}
}

// runPublishes runs a batch of publishOne calls in one pipeline and settles each (published) whether or not its
// caller still waits, so that what a script leased or made due is announced either way.
func (s *Store) runPublishes(batch []*pubItem) {
	calls := make([]scriptCall, 0, len(batch))
	sent := batch[:0:0]
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.err = err
			s.pre.settle(it.plan, "")
			close(it.done)
			continue
		}
		calls = append(calls, it.call)
		sent = append(sent, it)
	}
	// Acks waiting for a publish (ride.go) go first, so that the publishes see their endpoints' in-flight counts
	// lowered.
	riders := s.ride.take()
	var groups [][]*batchItem
	if len(riders) > 0 {
		var fcalls []scriptCall
		groups, fcalls = s.finishes.calls(s, riders)
		calls = append(fcalls, calls...)
	}
	s.ride.published(s.now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	cmds, err := s.runScripts(ctx, calls) // the publishes' errors are per call, below
	if len(riders) > 0 {
		s.finishes.answer(ctx, s, riders, groups, cmds[:len(groups)], err)
		cmds = cmds[len(groups):]
	}
	for i, it := range sent {
		cur, err := cmds[i].Text()
		it.stored, it.err = s.published(cur, err, it.plan)
		close(it.done)
	}
}

// publishedOne ends a Publish whose publishOne stored m: it enqueues the deliveries publishOne left (step 3 of the
// general way). published kept m for GetMessage.
func (s *Store) publishedOne(ctx context.Context, m *delivery.Message, ds []*delivery.Delivery) (*delivery.Message, int, bool, error) {
	if len(ds) > maxOneScript {
		if err := s.enqueue(ctx, ds); err != nil {
			return nil, 0, false, fmt.Errorf("redisstore: publish %s: %w", m.ID, err)
		}
	}
	return m, len(ds), false, nil
}

// publishCall is publishScript's call for m and ds, with what published needs to read its reply. With more than
// maxOneScript deliveries the call leaves them to enqueue.
func (s *Store) publishCall(m *delivery.Message, ds []*delivery.Delivery, idemSince time.Time) (scriptCall, *publishPlan, error) {
	enqueue := len(ds) <= maxOneScript
	inline := enqueue && len(ds) > 0 // the script keeps the message inline when it enqueues deliveries itself
	now := s.now()
	register := inline && s.pubs.due(m.TenantID, now)
	var (
		args []any
		err  error
	)
	if inline {
		args, err = inlineArgs(m, ds, register, 14+10*len(ds))
	} else {
		args, err = messageArgs(m, ds, 14+2*len(ds))
	}
	if err != nil {
		return scriptCall{}, nil, err
	}
	if len(m.OrderingKey) > delivery.MaxOrderingKey {
		return scriptCall{}, nil, fmt.Errorf("ordering key of %d bytes", len(m.OrderingKey))
	}
	mk := s.k.msgShardOf(m.ID)
	keys := make([]string, 0, 5+10*len(ds))
	third := mk.index
	if inline {
		third = s.k.publishers()
	}
	keys = append(keys, mk.message(m.ID), mk.messageDeliveries(m.ID), third, s.k.tenantDeliveries(m.TenantID))
	if m.IdempotencyKey != "" {
		key, value, since, ttl := s.idempotencyArgs(m, idemSince)
		keys = append(keys, key)
		args = append(args, value, since, ttl.Milliseconds())
	} else {
		keys = append(keys, keys[0])
		args = append(args, "", "", 0)
	}
	plan := &publishPlan{m: m, tenant: m.TenantID, msg: m.ID, register: register, at: now}
	if enqueue {
		plan.ds = ds
		plan.due = make([]int64, len(ds))
		plan.leaseUntil, plan.leaseCap = s.pre.offer(now, ds)
	}
	okey := m.OrderingKey
	args = append(args, okey, plan.leaseUntil, ms(now), plan.leaseCap)
	for i, d := range ds {
		if !enqueue {
			args = append(args, d.ID, d.EndpointID)
			continue
		}
		da := enqueueArgs(d, now)
		args = append(args, da[:]...)
		sk := s.k.shardOf(d.EndpointID)
		keys = append(keys, sk.ready, sk.turns, sk.lanes, sk.parked, sk.record(d.ID), sk.busy)
		if okey != "" {
			keys = append(keys, sk.okeys(), sk.line(d.EndpointID, okey))
		}
		if plan.leaseUntil > 0 {
			keys = append(keys, sk.leases)
		}
		plan.due[i] = da[6].(int64)
	}
	return scriptCall{publishScript, keys, args}, plan, nil
}

// publishPlan is what published needs of a publishCall: the deliveries the script enqueues (none when it leaves
// them to enqueue), when each is due, and until when it may lease them (0: it may not).
type publishPlan struct {
	m           *delivery.Message
	tenant, msg string
	ds          []*delivery.Delivery
	due         []int64
	leaseUntil  int64
	leaseCap    int       // the in-flight count below which an endpoint may take a lease
	register    bool      // the script adds the tenant to the publishers set
	at          time.Time // when the call was made
}

// published reads publishScript's reply (cur, err): true when it stored the message, false when the idempotency key
// names an earlier message. When it stored the message, the deliveries it leased go to this Store's next claims
// (prelease.go) and the due times of the others are announced; after an error the script may have run, so every due
// time is announced (a wake-up for nothing costs one look). A stored message is kept for GetMessage first: the
// worker that takes one of its deliveries, the moment a lease or a due time goes out, reads it from memory.
func (s *Store) published(cur string, err error, plan *publishPlan) (bool, error) {
	if err == nil && cur != "" && cur[0] != '+' {
		s.pre.settle(plan, "")
		return false, nil
	}
	if err == nil {
		s.recent.Keep(plan.m)
		if plan.register {
			s.pubs.done(plan.tenant, plan.at)
		}
	}
	reply := ""
	if err == nil && cur != "" {
		reply = cur[1:]
	}
	leased := s.pre.settle(plan, reply)
	first := map[int]int64{}
	now := s.now()
	for i, d := range plan.ds {
		if _, ok := leased[d.ID]; ok {
			continue
		}
		s.queued.mark(d.EndpointID, now)
		num := s.k.shardOf(d.EndpointID).num
		if at, ok := first[num]; !ok || plan.due[i] < at {
			first[num] = plan.due[i]
		}
	}
	for num, at := range first {
		s.madeDue(num, at, true)
	}
	return err == nil, err
}

// PublishMany is Publish for each of ps (events.ManyPublisher). On a single server, the publishOne scripts of all of
// them go in one pipeline: one round trip for all, each still atomic; the deliveries of those with a fan-out too
// large for one script are then enqueued together, sharing script calls by shard. Publications the pipeline cannot
// settle (on a Cluster, or whose idempotency key names an earlier message) go through Publish, up to
// manyConcurrency at once.
func (s *Store) PublishMany(ctx context.Context, ps []events.Publication) []events.Published {
	out := make([]events.Published, len(ps))
	rest := make([]int, 0, len(ps)) // what goes through Publish
	var (
		calls []scriptCall
		plans []*publishPlan
		at    []int // the publication of each call
	)
	// What goes through Publish one at a time, in order, so that the events of a key keep their order: on a single
	// server, every event of a key but its first here (which joins the pipeline, and goes first); on a Cluster, all.
	var ordered []int
	firsts := map[string]bool{}  // the keys whose first event here is in the pipeline
	failed := map[string]error{} // the keys whose first event the pipeline did not store
	for i, p := range ps {
		if k := orderingKey(p.Message); k != "" {
			if !s.onePublish || firsts[k] {
				ordered = append(ordered, i)
				continue
			}
			firsts[k] = true
		} else if !s.onePublish {
			rest = append(rest, i)
			continue
		}
		if err := validatePublish(p.Message, p.Deliveries); err != nil {
			out[i].Err = err
			if k := orderingKey(p.Message); k != "" {
				failed[k] = err
			}
			continue
		}
		call, plan, err := s.publishCall(p.Message, p.Deliveries, p.IdemSince)
		if err != nil {
			out[i].Err = fmt.Errorf("redisstore: publish %s: %w", p.Message.ID, err)
			if k := p.Message.OrderingKey; k != "" {
				failed[k] = out[i].Err
			}
			continue
		}
		calls, plans, at = append(calls, call), append(plans, plan), append(at, i)
	}
	if len(calls) > 0 {
		cmds, _ := s.runScripts(ctx, calls) // errors are per call
		var (
			stored []int                // publications the pipeline stored
			lds    []*delivery.Delivery // the deliveries it left to enqueue
		)
		for j, i := range at {
			p := ps[i]
			cur, err := cmds[j].Text()
			ok, err := s.published(cur, err, plans[j])
			k := p.Message.OrderingKey
			switch {
			case err != nil:
				out[i].Err = fmt.Errorf("redisstore: publish %s: %w", p.Message.ID, err)
				if k != "" {
					failed[k] = out[i].Err
				}
			case !ok && k != "": // as below, before the key's later events
				ordered = append(ordered, i)
			case !ok: // the idempotency key names an earlier message: Publish completes that one
				rest = append(rest, i)
			default:
				stored = append(stored, i)
				if len(p.Deliveries) > maxOneScript {
					lds = append(lds, p.Deliveries...)
				}
			}
		}
		var err error
		if len(lds) > 0 {
			err = s.enqueue(ctx, lds)
		}
		for _, i := range stored {
			p := ps[i]
			if err != nil && len(p.Deliveries) > maxOneScript {
				out[i].Err = fmt.Errorf("redisstore: publish %s: %w", p.Message.ID, err)
				if k := p.Message.OrderingKey; k != "" {
					failed[k] = out[i].Err
				}
				continue
			}
			out[i] = events.Published{Message: p.Message, Fanout: len(p.Deliveries)}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, manyConcurrency)
	// The publications of one ordering key go one at a time, in order; keys go side by side.
	lines := map[string][]int{}
	var keys []string
	slices.Sort(ordered) // a first event the pipeline left to Publish goes before the later ones of its key
	for _, i := range ordered {
		k := ps[i].Message.OrderingKey
		if _, ok := lines[k]; !ok {
			keys = append(keys, k)
		}
		lines[k] = append(lines[k], i)
	}
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			failed := failed[k]
			for _, i := range lines[k] {
				p := &out[i]
				if failed != nil { // a later event of the key must not go before an earlier one
					p.Err = fmt.Errorf("redisstore: publish %s: not stored after an earlier event of its ordering key failed: %w",
						ps[i].Message.ID, failed)
					continue
				}
				p.Message, p.Fanout, p.Existing, p.Err = s.Publish(ctx, ps[i].Message, ps[i].Deliveries, ps[i].IdemSince)
				failed = p.Err
			}
		})
	}
	for _, i := range rest {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := &out[i]
			p.Message, p.Fanout, p.Existing, p.Err = s.Publish(ctx, ps[i].Message, ps[i].Deliveries, ps[i].IdemSince)
		})
	}
	wg.Wait()
	return out
}

// orderingKey is m's ordering key ("" for none or no message).
func orderingKey(m *delivery.Message) string {
	if m == nil {
		return ""
	}
	return m.OrderingKey
}

// manyConcurrency bounds the Publish calls PublishMany runs at once.
const manyConcurrency = 16

// validatePublish checks everything Publish could refuse before anything is written.
func validatePublish(m *delivery.Message, ds []*delivery.Delivery) error {
	if m == nil {
		return fmt.Errorf("%w: nil message", events.ErrInvalid)
	}
	if !validID(m.ID) || !validID(m.TenantID) {
		return fmt.Errorf("%w: message %q of tenant %q: ids must be 1 to 64 of [A-Za-z0-9_-]", events.ErrInvalid, m.ID, m.TenantID)
	}
	for i, d := range ds {
		switch {
		case d == nil:
			return fmt.Errorf("%w: delivery %d is nil", events.ErrInvalid, i)
		case d.MessageID != m.ID || d.TenantID != m.TenantID:
			return fmt.Errorf("%w: delivery %s belongs to message %s of tenant %s, not %s of %s",
				events.ErrInvalid, d.ID, d.MessageID, d.TenantID, m.ID, m.TenantID)
		case !validID(d.ID) || !validID(d.EndpointID):
			return fmt.Errorf("%w: delivery %q to endpoint %q: ids must be 1 to 64 of [A-Za-z0-9_-]", events.ErrInvalid, d.ID, d.EndpointID)
		}
	}
	return nil
}

// messageArgs are the first 7 arguments of writeMessageScript and publishScript: the message JSON without its data,
// the delivery plan, created ns, tenant, created ms, id, and the data bytes as published (kept apart, byte for byte:
// json.Marshal would compact and re-escape them). capacity sizes the slice for the arguments the caller adds.
func messageArgs(m *delivery.Message, ds []*delivery.Delivery, capacity int) ([]any, error) {
	mj, err := messageJSON(m)
	if err != nil {
		return nil, err
	}
	pj, err := encodePlan(ds)
	if err != nil {
		return nil, fmt.Errorf("encode deliveries: %w", err)
	}
	args := make([]any, 0, max(capacity, 7))
	return append(args, mj, pj, nsString(m.CreatedAt), m.TenantID, ms(m.CreatedAt), m.ID, []byte(m.Data)), nil
}

// messageJSON is m's JSON without its data, which is stored apart.
func messageJSON(m *delivery.Message) ([]byte, error) {
	bare := *m
	bare.Data = nil
	mj, err := recjson.AppendMessage(nil, &bare)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return mj, nil
}

// inlineArgs are the first 7 arguments of publishScript for a message it keeps inline (inline.go): its inline
// member, its retention member, "1" when the script is to add its tenant to the publishers set (register), the
// tenant, "", the message id and "".
func inlineArgs(m *delivery.Message, ds []*delivery.Delivery, register bool, capacity int) ([]any, error) {
	mj, err := messageJSON(m)
	if err != nil {
		return nil, err
	}
	pairs := make([]string, len(ds))
	for i, d := range ds {
		pairs[i] = pair(d.ID, d.EndpointID)
	}
	reg := ""
	if register {
		reg = "1"
	}
	args := make([]any, 0, max(capacity, 7))
	return append(args, inlineMember(m, mj, pairs), retentionMember(nsString(m.CreatedAt), m.ID), reg, m.TenantID,
		"", m.ID, ""), nil
}

// writeMessage is step 1 of Publish; every write in it is idempotent.
func (s *Store) writeMessage(ctx context.Context, m *delivery.Message, ds []*delivery.Delivery) error {
	args, err := messageArgs(m, ds, 7+len(ds))
	if err != nil {
		return fmt.Errorf("redisstore: publish: %w", err)
	}
	mk := s.k.msgShardOf(m.ID)
	members := make([]redis.Z, len(ds))
	for i, d := range ds {
		members[i] = redis.Z{Member: pair(d.ID, d.EndpointID)}
		args = append(args, members[i].Member)
	}
	call := scriptCall{writeMessageScript, []string{mk.message(m.ID), mk.messageDeliveries(m.ID), mk.index}, args}
	_, err = s.runScripts(ctx, []scriptCall{call}, func(p redis.Pipeliner) {
		if len(members) > 0 {
			p.ZAdd(ctx, s.k.tenantDeliveries(m.TenantID), members...)
		}
	})
	if err != nil {
		return fmt.Errorf("redisstore: publish %s: store message: %w", m.ID, err)
	}
	return nil
}

type storedMessage struct {
	msg      *delivery.Message
	plan     []*delivery.Delivery // the deliveries Publish made (a compact plan leaves out those no longer indexed)
	planned  int                  // how many deliveries Publish made
	indexed  map[string]bool      // members of the message's delivery index: deliveries not pruned
	enqueued bool                 // its deliveries were enqueued with it (field enq, publishScript)
}

// pending is the part of the plan a retry may (re-)enqueue: deliveries still in the message's index. One that Prune
// removed ended long ago; enqueueing it again would send it twice. A message published with its deliveries in one
// script has none: they were enqueued with it.
func (sm *storedMessage) pending() []*delivery.Delivery {
	if sm.enqueued {
		return nil
	}
	var out []*delivery.Delivery
	for _, d := range sm.plan {
		if sm.indexed[pair(d.ID, d.EndpointID)] {
			d.OrderingKey = sm.msg.OrderingKey
			out = append(out, d)
		}
	}
	return out
}

// claimIdempotencyKey is step 2 of Publish. It returns nil when the key now names m, or the earlier message it names.
func (s *Store) claimIdempotencyKey(ctx context.Context, m *delivery.Message, idemSince time.Time) (*storedMessage, error) {
	key, value, since, ttl := s.idempotencyArgs(m, idemSince)
	replace := ""
	for range 3 {
		cur, err := idempotencyScript.Run(ctx, s.rdb, []string{key}, value, since, ttl.Milliseconds(), replace).Text()
		if err != nil {
			return nil, fmt.Errorf("redisstore: publish %s: idempotency key: %w", m.ID, err)
		}
		if cur == "" {
			return nil, nil
		}
		prevID, _, _ := strings.Cut(cur, " ")
		prev, err := s.loadMessage(ctx, m.TenantID, prevID)
		if errors.Is(err, delivery.ErrNotFound) {
			replace = cur // its message is gone (pruned): the key is free
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: publish %s: earlier message %s: %w", m.ID, prevID, err)
		}
		return prev, nil
	}
	return nil, fmt.Errorf("redisstore: publish %s: idempotency key keeps changing", m.ID)
}

// idempotencyArgs are the key of m's idempotency key, the value naming m, idemSince as the scripts compare it, and
// the key's TTL (at least the window, so the key outlives the span in which it must be honoured).
func (s *Store) idempotencyArgs(m *delivery.Message, idemSince time.Time) (key, value, since string, ttl time.Duration) {
	key = s.k.idempotency(m.TenantID, m.IdempotencyKey)
	value = m.ID + " " + fmt.Sprintf("%020d", max(m.CreatedAt.UnixNano(), 0))
	since = "00000000000000000000"
	if !idemSince.IsZero() {
		since = fmt.Sprintf("%020d", max(idemSince.UnixNano(), 0))
	}
	ttl = s.opt.IdempotencyTTL
	if w := m.CreatedAt.Sub(idemSince); !idemSince.IsZero() && w > ttl {
		ttl = w
	}
	return key, value, since, ttl
}

// loadMessage reads a tenant's message and its delivery plan.
func (s *Store) loadMessage(ctx context.Context, tenantID, id string) (*storedMessage, error) {
	mk := s.k.msgShardOf(id)
	pipe := s.rdb.Pipeline()
	get := pipe.HMGet(ctx, mk.message(id), "m", "data", "plan", "enq")
	idx := s.messageIndex(ctx, pipe, tenantID, id)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	if im := inlineOf(idx.inline); im != nil {
		// Its publish script enqueued its deliveries with it: there is nothing to complete.
		msg, err := decodeMessage(id, im.mj, im.data)
		if err != nil {
			return nil, err
		}
		return &storedMessage{msg: msg, planned: len(im.pairs), enqueued: true}, nil
	}
	vals := get.Val()
	msg, err := decodeMessage(id, vals[0], vals[1])
	if err != nil {
		return nil, err
	}
	sm := &storedMessage{msg: msg, indexed: map[string]bool{}, enqueued: vals[3] == "1"}
	members := idx.pairs()
	endpointOf := make(map[string]string, len(members))
	for _, m := range members {
		sm.indexed[m] = true
		d, ep := splitPair(m)
		endpointOf[d] = ep
	}
	if pj, _ := vals[2].(string); pj != "" {
		if sm.plan, sm.planned, err = decodePlan(pj, endpointOf); err != nil {
			return nil, fmt.Errorf("decode plan of %s: %w", id, err)
		}
	}
	return sm, nil
}

// dropMessage undoes step 1 for a message that lost its idempotency key to an earlier one. Best effort: what it
// leaves behind is an orphan message without deliveries, which Prune removes.
func (s *Store) dropMessage(ctx context.Context, m *delivery.Message, ds []*delivery.Delivery) {
	mk := s.k.msgShardOf(m.ID)
	pipe := s.rdb.Pipeline()
	if len(ds) > 0 {
		members := make([]any, 0, 2*len(ds))
		for _, d := range ds {
			members = append(members, pair(d.ID, d.EndpointID), endpointMember(d.EndpointID, d.ID))
		}
		pipe.ZRem(ctx, s.k.tenantDeliveries(m.TenantID), members...)
	}
	pipe.Del(ctx, mk.message(m.ID), mk.messageDeliveries(m.ID))
	pipe.ZRem(ctx, mk.index, m.ID)
	_, _ = pipe.Exec(ctx)
}
