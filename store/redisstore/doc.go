// Package redisstore is webhookd's Redis backend: tenants and tokens, the endpoint registry, the event-type
// catalogue, messages, the delivery queue and the delivery log, on one Redis server or a Redis Cluster, shared by any
// number of gateway replicas. It passes the same conformance suite (store/storetest) as the embedded bbolt store.
//
// # Tour
//
//	s, err := redisstore.Open(ctx, "redis://localhost:6379/0", redisstore.Options{})
//	s, err := redisstore.Open(ctx, "redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000", redisstore.Options{})
//
// Open accepts redis:// and rediss:// (one server, go-redis URL options in the query string), and
// redis+cluster:// or rediss+cluster:// followed by a comma-separated list of seed nodes (any reachable subset of the
// cluster; the client discovers the rest), optional user:password@ before the first, and go-redis cluster options in
// the query string (…?dial_timeout=2s&pool_size=50). A cluster URL has no database path.
//
// store.go opens the client and checks the shard count; keys.go builds every key name; scripts.go holds every Lua
// script, each with its KEYS/ARGV/reply contract; queue.go is delivery.Queue; wake.go is the shard hints and the
// wake-ups between replicas (delivery.WakeSource); publish.go is Publish; log.go is delivery.Log and Prune;
// registry.go is tenants, tokens, endpoints and the catalogue; codec.go encodes records.
//
// # Shards
//
// Deliveries are queued in N shards (Options.Shards, 64 by default): shard = fnv32a(endpoint id) % N, so one
// endpoint's lane, its in-flight count, its rate state and its deliveries' records all live in one shard. Every key of
// shard NNN carries the hash tag {wh:NNN}: a shard is one Cluster slot, every queue script touches exactly one slot,
// and the 64 slots spread over the masters. N is written to Redis at the first start (config key) and Open refuses
// any other value (ErrShardMismatch): changing it would move every endpoint to another shard. Messages are spread
// over N message shards the same way ({wh:m:NNN}, by message id); a tenant's own keys share the tag {t:<tenant>}.
// Ids are [A-Za-z0-9_-]{1,64} (internal/ids): no '{', '}', '|' or space, which the layout relies on. Endpoint ids
// must be unique across tenants (ids.New makes them so): the queue is keyed by endpoint id alone.
//
// # Key layout
//
// Every name starts with Options.Prefix ("wh:" by default), written P here.
//
//	key                               type    content
//	P config                          HASH    shards → N
//	P{wh:NNN}:ready                   ZSET    endpoint → ms when next eligible (first due time, or rate-limit wait)
//	P{wh:NNN}:turns                   ZSET    endpoint → turn number: endpoints due now, served lowest turn first
//	P{wh:NNN}:lanes                   ZSET    "<endpoint>|<due ms, 15 digits>|<delivery>", all scores 0 (BYLEX)
//	P{wh:NNN}:leases                  ZSET    delivery → lease expiry ms
//	P{wh:NNN}:busy                    HASH    endpoint → tasks in flight
//	P{wh:NNN}:parked                  ZSET    endpoint → in-flight count when it was parked at its cap
//	P{wh:NNN}:dead                    ZSET    delivery → ms when it was dead-lettered
//	P{wh:NNN}:rates                   HASH    endpoint → "<deliveries per second>,<burst>"; "~" endpoint → held until ms
//	P{wh:NNN}:gcra                    HASH    endpoint → GCRA theoretical arrival time, ms
//	P{wh:NNN}:d:<delivery>            HASH    the delivery record: tenant msg ep type status att next code err
//	                                          created updated (times: Unix ns, 20 digits; code and err once set),
//	                                          and fence while it may be leased (the last claim's)
//	P{wh:NNN}:a:<delivery>            LIST    attempt JSON, oldest first
//	P{wh:NNN}:e:<endpoint>            ZSET    the endpoint's delivery ids, scores 0
//	P{wh:m:NNN}:msgs                  ZSET    message id → created ms (what Prune walks)
//	P{wh:m:NNN}:m:<message>           HASH    m (message JSON without data), data (bytes as published), plan (the
//	                                          deliveries Publish made: a template and their ids, codec.go), cns
//	                                          (created ns), tenant
//	P{wh:m:NNN}:md:<message>          ZSET    "<delivery> <endpoint>", scores 0
//	P tenants                         ZSET    tenant ids, scores 0
//	P{t:<tenant>}:tenant              STRING  tenant JSON
//	P{t:<tenant>}:tokens              HASH    token id → token JSON with its SHA-256 (never the token text)
//	P token:<sha256 hex>              STRING  "<tenant> <token id>"
//	P{t:<tenant>}:ep:<endpoint>       STRING  endpoint JSON with its key secrets
//	P{t:<tenant>}:eps                 ZSET    endpoint ids, scores 0
//	P{t:<tenant>}:dlvs                ZSET    "<delivery> <endpoint>", scores 0: the tenant's log index
//	P{t:<tenant>}:idem:<sha256 hex>   STRING  "<message id> <created ns>", TTL ≥ Options.IdempotencyTTL (24h)
//	P{catalogue}:types / :names       HASH / ZSET   event type name → JSON / names, scores 0
//	P wake                            pub/sub channel (not a key): "<store instance> <shard>:<ms> …", work made due
//
// A delivery's record lives in its queue shard, not beside its message, so that ack, nack, fail, release and
// reclaim change the queue and the log in one atomic script: a zombie worker's late result is refused before it can
// touch the record. Index members "<delivery> <endpoint>" name where the record lives (the space sorts below every id
// character, so members sort in id order); the message's retention entry shares its slot, so a message is stored with
// its index entries in one script.
//
// # Queue
//
// An endpoint with queued work is in exactly one of ready (waiting for a time), turns (due now) or parked (at its
// in-flight cap). Scripts (contracts in scripts.go):
//
//   - enqueue: record, endpoint index and lane member per delivery, skipping deliveries whose record exists
//     (idempotent); the endpoint's ready score is only ever lowered (ZADD LT), and an endpoint already taking turns
//     keeps its turn.
//   - claim (batch): unpark endpoints this claim may serve (parked under a lower cap, or all without a cap); move
//     the endpoints of ready whose time has come into turns, earliest first; then, until Max tasks, take the endpoint
//     with the lowest turn and lease up to a quantum (an even share of Max among the endpoints due, at least one) of
//     its first items: no item → out of turns; item not due → back to ready at its due time; at the cap → parked;
//     rate limit says wait → back to ready at the time it may go (the item stays, nothing blocks); else lease
//     each item (attempt att+1, fence = max(fence+1, now×1000) written to the record, lease = now + Lease,
//     busy +1; the lease state lives in the record, no copy elsewhere) and give it a new turn behind every endpoint
//     already due. The reply carries everything a worker needs (delivery, endpoint,
//     tenant, message, attempt, fence). Skips are bounded, so a claim's work is too.
//   - finish (ack, fail), nack, release, extend: refuse unless the delivery is leased (its lease exists) under the
//     caller's fence and tenant (read from its record) → delivery.ErrLeaseLost, nothing changed. Then finish drops
//     the lease (the fence stays in the record, inert without it), busy −1, writes the record and the attempt, and
//     files a dead one in dead; one finish call takes every finish of a shard that concurrent workers
//     have ready (batch.go). An ack may chain (AckNext, delivery.Chainer): when its endpoint is parked at its cap,
//     has no rate limit, and nothing else in the shard is due (so the next claim would serve it anyway), the
//     script leases the endpoint's next due item to the same worker, as a claim would, and busy stays as it was;
//     on a single server it also returns that item's message, which the worker sends without another round trip,
//     unless most recently chained tasks found theirs in memory already (a fan-out; chainFetch); otherwise, and on a
//     Cluster, where the message lives in another slot, a message not in memory is fetched in one pipelined round
//     after the call;
//     nack puts a lane member at the retry time; release does too, leaving att as it was
//     (the fence, already advanced by the claim, stays); extend is ZADD XX GT on the lease.
//   - reclaim: for candidates listed by the caller (leases expired before now), re-checked inside the script so two
//     reapers never move one delivery twice: back to the lane due now, or dead on the last attempt; an expired lease
//     counts as an attempt and is logged as one ("lease expired before a result was recorded").
//   - nextDue: the lowest ready score or the due time of the first endpoint taking turns.
//   - probe: how many endpoints of the shard a claim at now could serve, and when the shard next has work.
//
// Turns are an integer sequence, not a time, so round robin among due endpoints holds however many claims run at
// one instant (the conformance suite and the benchmarks claim at a fixed now).
//
// Claim runs the claim script on the shards whose hint says work is due (wake.go), in a random order with Max split
// among them (each gets up to its due endpoint count, the rest round robin), in one pipelined round; each reply
// carries the shard's next hint. So one claim may span shards, no shard starves, and a claim with nothing due sends
// nothing. The hints are trusted while a Wakeups subscription (the delivery engine's) is live and a full probe of
// every shard is younger than Options.RescanEvery; otherwise Claim probes every shard first (one more pipelined
// round), which is also what a Store that nobody subscribes for does at every claim. Nack, release and extend are
// one script call each; acks and fails of concurrent workers are grouped, one call per shard in one pipeline. Reclaim is one pipelined round over all shards, and a second for the scripts;
// NextDue is the earliest hint, or one pipelined round over all shards without trusted hints. Claim and Reclaim use
// the now they are given; Enqueue, Ack and the others need no clock (UpdatedAt on records comes from the attempt,
// else Options.Clock).
//
// Wake-ups: after an enqueue, a release or a reclaim has returned, the Store publishes the shards and due times on
// P+"wake" (what piles up during one PUBLISH goes in the next); every replica's Wakeups lowers its hints and wakes
// its engine. An idle replica therefore sends Redis nothing between probes (every RescanEvery) and reclaims (every
// ReclaimEvery, backing off to 6× while idle), and new work still goes out at once: docs/scaling.md has the figures.
//
// Rate limits hold across replicas: CreateEndpoint and UpdateEndpoint copy the endpoint's RateLimit into its shard's
// rates hash (DeleteEndpoint removes it and the GCRA state), and the claim script checks GCRA there (burst
// Options.RateBurst, by default max(1, ceil(rate)), the delivery engine's own). In-flight caps (MaxInFlight) hold
// across replicas the same way, through busy. So does the hold the engine puts on an endpoint whose attempt timed out
// (HoldSlow, delivery.SlowHolder): while it lasts, claims lease the endpoint one task at a time, and it stays parked
// while that task is out instead of having its tasks claimed and handed back unspent by every replica.
//
// # Publish
//
// On a single server a publish to at most 4 endpoints is one script (publishScript): the idempotency check, the
// message and its indexes, the key and every delivery, atomically, in one round trip. Only when the key names an
// earlier message does it write nothing and leave the publish to the general way below. For a larger fan-out the
// same script does steps 1 and 2 of the general way at once (check, message, indexes, key), and step 3 follows as
// the general way does it, its enqueues sharing script calls with other publishes in flight: two round trips
// instead of three, with the same crash behaviour. PublishMany (events.ManyPublisher, used by batch publishes) sends
// the scripts of a whole chunk of a batch in one pipeline, then enqueues what they left in one batch.
//
// The general way, and the only one on a Cluster: a publish spans Cluster slots (message shard, tenant, one queue
// shard per endpoint), so it cannot be one script. Its writes are ordered so that a crash at any point loses
// nothing a producer was told was stored, and never leaves a delivery queued whose message is missing:
//
//  1. one script on the message's slot writes the message, its data bytes, its delivery plan, its delivery index and
//     its retention entry; pipelined beside it, the tenant's delivery index (whose entries without a record are
//     skipped by lists);
//  2. only then the idempotency key, by compare-and-set: it is taken unless it names a message created after
//     idemSince;
//  3. then one enqueue script per queue shard (record and queue entries together), pipelined.
//
// Publish returns only after every write returned (the API answers 202 only then). If step 2 finds the key taken,
// the earlier message wins: Publish completes it from its stored plan (the deliveries still in its index; steps 1
// and 3 are idempotent), removes what step 1 wrote for the new message, and returns the earlier one with existing
// set. So when a publish dies after step 2, the producer's retry with the same key finishes it, exactly once per
// delivery; when it dies before step 2, the key is still free and the retry publishes afresh, leaving an orphan
// message without deliveries that Prune deletes. Taking the key before writing the message would be simpler, but a
// crash between the two would leave a key naming nothing, and the retry could neither complete nor redo the publish.
// A publish without an idempotency key that dies between step 1 and the end of step 3 may have queued some of its
// deliveries; the producer, having no 202, sends again: at-least-once, as everywhere.
//
// # Redis settings
//
//   - Redis ≥ 6.2 (ZADD GT/LT, ZRANGE BYSCORE/BYLEX with LIMIT, HSET with several fields); tested on 7.0. The
//     store speaks RESP2 unless the URL asks for ?protocol=3 (it needs nothing of RESP3).
//   - maxmemory-policy noeviction: an evicted lease, record or lane member strands or duplicates work. With
//     noeviction a full Redis refuses writes, and Publish fails (the API answers 5xx) instead of losing data.
//   - appendonly yes, appendfsync everysec: a Redis crash can lose about the last second of writes. Cost of a lost
//     second: publishes answered 202 in it may be gone entirely or in part (on a cluster each master loses its own
//     tail), so some accepted events are never delivered; acks and nacks in it are lost, so those deliveries come
//     back when their restored leases expire and are sent again (the webhook-id is stable, receivers deduplicate);
//     claims in it are forgotten (fences follow the claim clock, so a later claim does not reuse a lost fence).
//     appendfsync always removes the loss at a large cost in write latency. A Cluster failover to an asynchronously
//     replicated replica has the same cost as a crash; WAIT is not used.
//   - Secure it: endpoint secrets are stored in clear (they must be, to sign): use ACLs, rediss:// and a private
//     network.
//
// # Caveats
//
//   - GetMessage serves messages this Store published in the last 5 s from memory (recent.go), so the engine of the
//     publishing replica loads them without a round trip. Prune empties that cache, but another replica's prune is
//     seen up to 5 s late: keep retention far above that.
//   - The shard count is fixed at the first start. Changing it needs a migration (drain the queue, or copy).
//   - A full probe is one script per shard (N=64: 64 calls, about 256 commands counting those inside); with a live
//     subscription it runs every RescanEvery, without one at every claim. A very large N makes both dearer.
//   - Work no wake message announced (a retry nacked by a replica that died before it came due; a PUBLISH that
//     failed) waits for another replica's next probe: at most RescanEvery late.
//   - An endpoint parked at its in-flight cap is invisible to NextDue until one of its tasks ends (ack, nack, release
//     or reclaim): a worker sleeping until NextDue must bound its sleep. The task's end lowers the hint of the Store
//     that ended it, not the others'.
//   - ListDeliveries with Status, Since or Until scans the chosen index (message, endpoint or tenant) in pipelined
//     batches of records, so a rare filter over a huge tenant is slow; bound it with Limit or a message/endpoint.
//   - Prune walks the message retention indexes, pruning each old message's terminal deliveries (found through its
//     delivery index) and then the message once none is left; a message created before the cutoff that still has a
//     delivery stays (it is checked again at every prune). Keep retention longer than the idempotency window: a key
//     still naming a pruned message is simply taken over, so nothing is resent, but the producer is told nothing of
//     the earlier message either.
//   - Endpoint writes and their rate copy are two writes (tenant slot, then queue shard): a crash between them
//     leaves the old rate in force until the next update.
//   - Deleting an endpoint leaves its queued deliveries: the engine ends them (failed) when it finds it gone.
//   - Upgrading from a version that kept lease state in a per-shard meta hash: queued deliveries carry on (their
//     records hold everything a claim needs), but tasks leased by the older version at the switch are refused when
//     they end (ErrLeaseLost) and are sent again after their lease expires, with the same webhook-id. The old meta
//     hashes are no longer read; delete P{wh:NNN}:meta once no older replica runs. The per-shard done sets of
//     versions before 2026-11 are not written any more, and Prune deletes them.
package redisstore
