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
// store.go opens the client and checks the shard count; keys.go builds every key name and tables the layout;
// scripts.go holds every Lua script, each with its KEYS/ARGV/reply contract; queue.go is delivery.Queue; wake.go is
// the shard hints and the wake-ups between replicas (delivery.WakeSource); publish.go is Publish, and ride.go lets
// an ack share its round trip; gate.go keeps the flags of an endpoint's busy value (parked, work queued, rate limit,
// hold) that let a publish and an ack decide from one HINCRBY; combo.go runs a pipeline's script calls as one
// script; log.go is delivery.Log and Prune; registry.go is tenants, tokens, endpoints and the catalogue; codec.go
// encodes records.
//
// Deliveries are queued in Options.Shards shards by endpoint id, each one Redis Cluster slot, so every queue script
// touches one slot and replicas share the queue, its in-flight caps and its rate limits. docs/architecture.md,
// section store/redisstore, has the design: shards, the queue scripts, the order of a publish's writes and what a
// crash between them leaves, the Redis settings the store needs, and the caveats.
//
// Endpoint signing secrets reach the store sealed by package secrets when an operator key is set, and in plaintext
// otherwise (the gateway must read them to sign): secure Redis with ACLs, rediss:// and a private network.
package redisstore
