// Package boltstore is webhookd's embedded store: tenants, tokens, endpoints, the event catalogue, messages,
// deliveries, attempts and the delivery queue in one bbolt file (go.etcd.io/bbolt: pure Go, a frozen file format, no
// recovery step after a crash). One *Store implements tenants.Store, endpoints.Store, events.Store, delivery.Queue
// and delivery.Log, and passes the same conformance suite (store/storetest) as the Redis backend.
//
// # Tour
//
//	s, err := boltstore.Open("/var/lib/webhookd", boltstore.Options{}) // → /var/lib/webhookd/webhookd.db, 0600
//	defer s.Close()
//
// Open takes bbolt's process-exclusive file lock; a second process (or a second Open in this one) fails after
// Options.LockTimeout with ErrLocked instead of hanging. Ping reports readiness.
//
// # Design
//
// Durable facts live in buckets (keys.go lists them): tenants, tokens by hash, endpoints, the catalogue, messages,
// deliveries, attempts and idempotency keys, with indexes of deliveries by endpoint and by message (so the delivery
// log filters without a scan), of pending deliveries (to rebuild the queue) and of terminal deliveries and messages
// by creation time (for Prune). Keys start with the tenant id and a 0x00 byte, so tenant scoping is structural and
// ids (time-sortable, internal/ids) list in creation order. Values are JSON (codec.go).
//
// Scheduling state that changes at a high rate lives in memory (sched.go): per-endpoint lanes ordered by due time,
// a ready index of endpoints ordered by when each is next eligible, leases, fences and per-endpoint in-flight counts.
// bbolt's file lock makes this process the only one using the file, so nothing else can need that state; Open
// rebuilds it from the pending deliveries (status, next attempt time, attempts spent). The semantics are the Redis
// design's: Claim pops the endpoint that is eligible first, skips (parks) one at MaxInFlight, leases its earliest
// due delivery and moves the endpoint behind every endpoint already due, so each due endpoint gets one task per
// round however deep its backlog; rounds repeat within one Claim until Max tasks are taken. Fences strictly increase
// and are never stored: Open starts them above the wall clock in nanoseconds, above any fence handed out before.
//
// What is written, and when: Claim and Extend write nothing (no fsync per claim). Publish, Enqueue, Ack, Nack, Fail,
// Release, Reclaim and every tenant, token, endpoint and catalogue write are committed and fsync'd before they
// return; a result is applied to the in-memory lanes only after its commit, and the delivery is held (neither
// reclaimable nor ackable) while the commit runs. Its endpoint's in-flight slot, though, is freed when the result is
// handed in: the request is over, so the next one to that endpoint may go out while the result waits for its fsync,
// and the results of many workers share one commit (sched.go, begin). A crash before the commit redelivers it with
// the same webhook-id, as for any attempt in flight. Publish is one transaction: message, deliveries, indexes and
// idempotency key, all or nothing.
//
// Concurrent small writes share commits by group commit (commit.go) rather than bbolt's Batch: one committer
// goroutine commits whatever writes are queued, up to Options.MaxGroup, in one transaction and one fsync. A lone
// writer never waits, and the group grows with the load by itself. Batch instead waits MaxBatchDelay unless
// MaxBatchSize writes are queued, so it is fast only when MaxBatchSize matches the number of writers. On the 2-core
// development machine, 16 writers: Batch tuned as redis-design.md suggests (1 ms, 64) gave 7,500 publishes/s and
// 6,900 acks/s, Batch with size 16 15,500 and 13,100, group commit 15,200 and 12,600 with no tuning; one writer:
// 2,300 publishes/s either way (an fsync each) where Batch's 1 ms delay alone caps it below 1,000.
//
// NoSync is never set. NoFreelistSync is: the freelist is rebuilt at Open instead of written on every commit, which
// leaves data durability as it is.
//
// Prune deletes in transactions of at most Options.PruneBatch records, outside the write batches, so writers wait
// for at most one of them.
//
// # Caveats
//
//   - One process per file. Replicas need the Redis backend; a second process fails at Open with ErrLocked.
//   - A restart invalidates every lease, which is correct since the attempts in flight died with the process. An
//     attempt in flight at a crash is not counted: the delivery runs again under the same attempt number (leases that
//     expire while the process lives are counted by Reclaim, as in Redis). The same holds after Close and Open.
//   - Open reads every pending delivery to rebuild the queue: after a long outage with millions pending, that takes
//     seconds, and the queue's memory is a few hundred bytes per pending delivery.
//   - MaxInFlight is a per-Claim option: lanes parked at one cap are re-examined when a Claim brings another.
//   - The store does not check that a record's tenant exists, and a deleted endpoint's pending deliveries stay queued
//     (the engine ends them when it finds the endpoint gone).
//   - bbolt never shrinks its file: space freed by Prune is reused, not returned. Compact offline (bbolt compact)
//     if the file must shrink.
//   - Times are stored as RFC 3339 with nanoseconds; a time.Time's monotonic reading and zone name are not kept.
package boltstore
