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
// Scheduling state (lanes, leases, fences, in-flight counts) lives in memory, rebuilt at Open from the pending
// deliveries: the file lock makes this process the only user of the file. Every write is durable before it
// returns: a publish in the journal beside the file (webhookd.db.journal, journal.go) and in a bbolt transaction
// that is committed within Options.CheckpointEvery, any other write committed and fsync'd; a delivery's result is
// committed with that transaction, and a crash before then sends the delivery again (commit.go). Open applies the
// journal's records past the last commit. docs/architecture.md, section store/boltstore, has the design, what is
// written when, and the caveats.
package boltstore
