package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
)

// This file builds every Redis key name the store uses; no other file builds one, the claim and finish scripts only
// append a delivery id to the record prefix they are given, and on a single server the finish script puts a message
// id's shard and the id between the two parts messageKeyParts gives it (luaMessageKey). The layout is tabled
// below. Three families of hash tags keep what must change together in one Cluster slot:
//
//	{wh:NNN}    queue shard NNN of the endpoint's deliveries: queue structures, delivery records, attempts
//	{wh:m:NNN}  message shard NNN: message records, their delivery index and the retention index
//	{t:<id>}    one tenant: its record, tokens, endpoints, delivery index, idempotency keys
//
// plus a few single keys (config, tenant list, token lookup, catalogue).
//
// Every name starts with Options.Prefix ("wh:" by default), written P here.
//
//	key                               type    content
//	P config                          HASH    shards → N
//	P{wh:NNN}:ready                   ZSET    endpoint → ms when next eligible (first due time, or rate-limit wait)
//	P{wh:NNN}:turns                   ZSET    endpoint → turn number: endpoints due now, served lowest turn first
//	P{wh:NNN}:lanes                   ZSET    "<endpoint>|<due ms, 15 digits>|<delivery>", all scores 0 (BYLEX)
//	P{wh:NNN}:leases                  ZSET    "<delivery> <fence>" → lease expiry ms (an older version's: the bare id)
//	P{wh:NNN}:busy                    HASH    endpoint → tasks in flight, plus 2^32 while parked, 2^36 while it has
//	                                          work queued and 2^40 for each of its rate limit and hold (gate.go); a 0
//	                                          stays until DeleteEndpoint
//	P{wh:NNN}:parked                  ZSET    endpoint → in-flight count when it was parked at its cap
//	P{wh:NNN}:dead                    ZSET    delivery → ms when it was dead-lettered
//	P{wh:NNN}:rates                   HASH    endpoint → "<deliveries per second>,<burst>"; "~" endpoint → held until ms
//	P{wh:NNN}:gcra                    HASH    endpoint → GCRA theoretical arrival time, ms
//	P{wh:NNN}:d:<delivery>            HASH    the delivery record: tenant msg ep type status att next code err
//	                                          created updated (times: Unix ns, 20 digits; code and err once set),
//	                                          fence while it may be leased (the last claim's; odd when ok is set),
//	                                          and x<ns>.<n> → the JSON of each attempt (ns: when it ended)
//	P{wh:NNN}:a:<delivery>            LIST    attempt JSON, oldest first, as versions before 2026-12 kept them
//	P{wh:NNN}:e:<endpoint>            ZSET    the endpoint's delivery ids, scores 0, as enqueueScript writes them;
//	                                          those a publish script enqueued itself are in the tenant's index
//	P{wh:NNN}:o:<endpoint>|<key>      LIST    the pending deliveries of one ordering key, head first (ordering.go);
//	                                          under block, a failed or dead head (record field blk = 1) stays first
//	P{wh:NNN}:okeys                   HASH    endpoint → its ordering keys with a delivery waiting behind the head
//	P{wh:NNN}:oblock                  HASH    endpoint → "1" while its ordering_on_failure is block
//	P{wh:NNN}:oblk:<endpoint>         SET     the endpoint's ordering keys held behind a blocked delivery
//	P{wh:m:NNN}:msgs                  ZSET    message id → created ms (what Prune walks)
//	P{wh:m:NNN}:m:<message>           HASH    m (message JSON without data), data (bytes as published), plan (the
//	                                          deliveries Publish made: a template and their ids, codec.go), cns
//	                                          (created ns), tenant; as versions of early 2026-12 wrote a message
//	                                          whose deliveries a one-script publish enqueued (now kept inline),
//	                                          enq → "1" and its delivery index: "d:<delivery> <endpoint>" → ""
//	P{wh:m:NNN}:md:<message>          ZSET    "<delivery> <endpoint>", scores 0: the delivery index of every other
//	                                          delivery (the general way, a larger fan-out, replays)
//	P tenants                         ZSET    tenant ids, scores 0
//	P publishers                      SET     the tenants with inline messages (inline.go): whose indexes Prune walks
//	P{t:<tenant>}:tenant              STRING  tenant JSON
//	P{t:<tenant>}:tokens              HASH    token id → token JSON with its SHA-256 (never the token text)
//	P token:<sha256 hex>              STRING  "<tenant> <token id>"
//	P{t:<tenant>}:ps:<session>        STRING  portal session JSON with its SHA-256; expires a day after the session
//	P portal:<sha256 hex>             STRING  "<tenant> <session id>", same expiry
//	P{t:<tenant>}:ep:<endpoint>       STRING  endpoint JSON with its key secrets (sealed when an operator key is set)
//	P{t:<tenant>}:eps                 ZSET    endpoint ids, scores 0
//	P{t:<tenant>}:dlvs                ZSET    "<delivery> <endpoint>", scores 0: the tenant's log index;
//	                                          "|<endpoint> <delivery>": its endpoints' logs (endpointMember); and
//	                                          the messages a publish script wrote with their deliveries, inline
//	                                          (inline.go): "}<message> …" (the message) and "~<created ns> <message>"
//	                                          (what Prune walks for them)
//	P{t:<tenant>}:idem:<sha256 hex>   STRING  "<message id> <created ns>", TTL ≥ Options.IdempotencyTTL (24h)
//	P{t:<tenant>}:calls:<endpoint>    ZSET    the endpoint's call ids, scores 0 (the call log, calls.go)
//	P{t:<tenant>}:call:<call>         STRING  call JSON
//	P{t:<tenant>}:callsbytime         ZSET    "<endpoint> <call>" → created ms (what PruneCalls walks)
//	P{catalogue}:types / :names       HASH / ZSET   event type name → JSON / names, scores 0
//	P deleting                        ZSET    ids of the tenants being deleted, scores 0 (tenantdelete.go)
//	P{t:<tenant>}:tokens-deleted      HASH    a deleting tenant's tokens hash, moved aside (tenantdelete.go)
//	P{t:<tenant>}:doomed-eps          ZSET    a deleting tenant's endpoint ids, scores 0 (tenantdelete.go)
//	P wake                            pub/sub channel (not a key): "<store instance> <shard>:<ms> …", work made due
//
// A delivery's record lives in its queue shard, not beside its message, so that ack, nack, fail, release and
// reclaim change the queue and the log in one atomic script: a zombie worker's late result is refused before it can
// touch the record. Index members "<delivery> <endpoint>" name where the record lives (the space sorts below every id
// character, so members sort in id order); the message's retention entry shares its slot, so a message is stored with
// its index entries in one script.

// keys names every key for one prefix and one shard count.
type keys struct {
	prefix string
	n      int
	shards []shardKeys // queue shards, by number
	msgs   []msgKeys   // message shards, by number
}

func newKeys(prefix string, n int) *keys {
	k := &keys{prefix: prefix, n: n, shards: make([]shardKeys, n), msgs: make([]msgKeys, n)}
	for i := range n {
		tag := fmt.Sprintf("%s{wh:%03d}:", prefix, i)
		k.shards[i] = shardKeys{
			num:    i,
			tag:    tag,
			ready:  tag + "ready",
			turns:  tag + "turns",
			lanes:  tag + "lanes",
			leases: tag + "leases",
			busy:   tag + "busy",
			parked: tag + "parked",
			dead:   tag + "dead",
			done:   tag + "done",
			rates:  tag + "rates",
			gcra:   tag + "gcra",
		}
		mtag := fmt.Sprintf("%s{wh:m:%03d}:", prefix, i)
		k.msgs[i] = msgKeys{tag: mtag, index: mtag + "msgs"}
	}
	return k
}

// fnv32a is the shard hash: shard = fnv32a(id) % N. It must never change: it decides where existing data lives.
func fnv32a(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// shardOf returns the queue shard of an endpoint.
func (k *keys) shardOf(endpointID string) *shardKeys {
	return &k.shards[fnv32a(endpointID)%uint32(k.n)]
}

// msgShardOf returns the message shard of a message.
func (k *keys) msgShardOf(msgID string) *msgKeys {
	return &k.msgs[fnv32a(msgID)%uint32(k.n)]
}

// config is a HASH: "shards" → N, fixed at the first start.
func (k *keys) config() string { return k.prefix + "config" }

// wake is the pub/sub channel on which Stores announce work they made due: "<store instance> <shard>:<ms> …"
// (wake.go). A channel is not a key: Cluster broadcasts a PUBLISH to every node, whatever its name.
func (k *keys) wake() string { return k.prefix + "wake" }

// tenantList is a ZSET of tenant ids, all scores 0 (lexicographic paging).
func (k *keys) tenantList() string { return k.prefix + "tenants" }

// tokenByHash is a STRING "<tenant id> <token id>" under the hex SHA-256 of a token.
func (k *keys) tokenByHash(hash [32]byte) string {
	return k.prefix + "token:" + hex.EncodeToString(hash[:])
}

// portalSession is a STRING: a portal session's JSON with its hash; portalByHash a STRING "<tenant> <session>".
func (k *keys) portalSession(tenantID, id string) string { return k.tenantTag(tenantID) + "ps:" + id }
func (k *keys) portalByHash(hash [32]byte) string {
	return k.prefix + "portal:" + hex.EncodeToString(hash[:])
}

// eventTypes is a HASH name → event type JSON; eventNames a ZSET of the names (scores 0) in the same slot.
func (k *keys) eventTypes() string { return k.prefix + "{catalogue}:types" }
func (k *keys) eventNames() string { return k.prefix + "{catalogue}:names" }

// tenantTag is the prefix of every key of one tenant.
func (k *keys) tenantTag(tenantID string) string { return k.prefix + "{t:" + tenantID + "}:" }

// tenant is a STRING: the tenant's JSON.
func (k *keys) tenant(tenantID string) string { return k.tenantTag(tenantID) + "tenant" }

// tokens is a HASH token id → stored token JSON.
func (k *keys) tokens(tenantID string) string { return k.tenantTag(tenantID) + "tokens" }

// endpoint is a STRING: the stored endpoint JSON (with its secrets).
func (k *keys) endpoint(tenantID, endpointID string) string {
	return k.tenantTag(tenantID) + "ep:" + endpointID
}

// endpointList is a ZSET of the tenant's endpoint ids, scores 0.
func (k *keys) endpointList(tenantID string) string { return k.tenantTag(tenantID) + "eps" }

// tenantDeliveries is a ZSET of "<delivery id> <endpoint id>", scores 0: the tenant's delivery log index; the
// deliveries a publish script enqueues itself are also listed there for their endpoints' logs (endpointMember), and
// their messages are kept there inline (inline.go).
func (k *keys) tenantDeliveries(tenantID string) string { return k.tenantTag(tenantID) + "dlvs" }

// tenantDeliveriesParts returns the two parts around a tenant id in its delivery index's key: a script that reads an
// inline message of a tenant it found in a delivery record builds the key from them.
func (k *keys) tenantDeliveriesParts() (before, after string) { return k.prefix + "{t:", "}:dlvs" }

// publishers is a SET of the tenants that published inline messages (inline.go): Prune walks their indexes.
func (k *keys) publishers() string { return k.prefix + "publishers" }

// idempotency is a STRING "<message id> <created ns, 20 digits>" with a TTL. The producer's key is hashed so that
// any text is safe in a key name (and cannot form a hash tag).
func (k *keys) idempotency(tenantID, key string) string {
	sum := sha256.Sum256([]byte(key))
	return k.tenantTag(tenantID) + "idem:" + hex.EncodeToString(sum[:])
}

// shardKeys are the keys of one queue shard; every name carries the shard's hash tag.
type shardKeys struct {
	num    int
	tag    string
	ready  string // ZSET endpoint → ms when it is next eligible (waiting for a time)
	turns  string // ZSET endpoint → turn number: endpoints due now, served lowest turn first
	lanes  string // ZSET, scores 0: "<endpoint>|<due ms, 15 digits>|<delivery>"
	leases string // ZSET "<delivery> <fence>" → lease expiry ms
	busy   string // HASH endpoint → in-flight count, with flags (gate.go)
	parked string // ZSET endpoint → busy count when it was taken out of ready at its in-flight cap
	dead   string // ZSET delivery → ms when it was dead-lettered
	done   string // no longer written: older versions listed terminal deliveries here; Prune deletes it
	rates  string // HASH endpoint → "<deliveries per second>,<burst>"; holdField(endpoint) → ms until held (HoldSlow)
	gcra   string // HASH endpoint → GCRA theoretical arrival time, ms
}

// record is a HASH: one delivery's log record (fields in codec.go), which also holds its lease's fence.
func (s *shardKeys) record(deliveryID string) string { return s.recordPrefix() + deliveryID }

// recordPrefix is what record puts before a delivery id: the claim script builds record keys with it.
func (s *shardKeys) recordPrefix() string { return s.tag + "d:" }

// line is a LIST: the pending deliveries of ordering key okey at an endpoint, in publish order, head first. The
// finish and reclaim scripts build it from a record key as the record's tag + "o:" + endpoint + "|" + key (luaLine);
// the key may hold any printable bytes: only the first {…} of a name is its hash tag.
func (s *shardKeys) line(endpointID, okey string) string {
	return s.tag + "o:" + endpointID + "|" + okey
}

// okeys is a HASH endpoint → how many of its ordering keys have a delivery waiting behind the head.
func (s *shardKeys) okeys() string { return s.tag + "okeys" }

// oblock is a HASH endpoint → "1" of the endpoints whose ordering_on_failure is block (ordering.go).
func (s *shardKeys) oblock() string { return s.tag + "oblock" }

// blockedKeys is a SET of the ordering keys an endpoint holds behind a blocked delivery (ordering.go).
func (s *shardKeys) blockedKeys(endpointID string) string { return s.tag + "oblk:" + endpointID }

// attempts is a LIST of attempt JSON, oldest first, where versions before 2026-12 kept a delivery's attempts
// (they are fields of its record now). ListAttempts reads it first; Prune and tenant deletion delete it.
func (s *shardKeys) attempts(deliveryID string) string { return s.tag + "a:" + deliveryID }

// endpointDeliveries is a ZSET of the endpoint's delivery ids, scores 0.
func (s *shardKeys) endpointDeliveries(endpointID string) string { return s.tag + "e:" + endpointID }

// queue lists KEYS[1] to KEYS[6] of every queue script, in order.
func (s *shardKeys) queue(extra ...string) []string {
	return append([]string{s.ready, s.turns, s.lanes, s.leases, s.busy, s.parked}, extra...)
}

// msgKeys are the keys of one message shard.
type msgKeys struct {
	tag   string
	index string // ZSET message id → created ms: what Prune walks
}

// message is a HASH: "m" → message JSON without its data, "data" → the data bytes exactly as published, "plan" →
// the deliveries Publish made (encodePlan), "cns" → created ns (20 digits), "tenant" → tenant id.
func (m *msgKeys) message(msgID string) string { return m.tag + "m:" + msgID }

// messageKeyParts returns the two parts around a message shard's number (3 digits) in every message key:
// message(id) is before + %03d(fnv32a(id) % N) + after + id. A script that reads a message it found in a delivery
// record (luaMessageKey) builds its key from them.
func (k *keys) messageKeyParts() (before, after string) {
	return k.prefix + "{wh:m:", "}:m:"
}

// messageDeliveries is a ZSET of "<delivery id> <endpoint id>", scores 0: a message's delivery index, but for the
// deliveries a one-script publish enqueued with it, which are fields of the message (messageIndexField). Readers
// take both.
func (m *msgKeys) messageDeliveries(msgID string) string { return m.tag + "md:" + msgID }

// holdField is the field of an endpoint's hold in its shard's rates hash, beside its rate limit, so that a claim reads
// both in one HMGET. Ids never contain '~'.
func holdField(endpointID string) string { return "~" + endpointID }
