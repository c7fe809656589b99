package redisstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/store/internal/msgcache"
	"github.com/webhookd/webhookd/tenants"
)

// Compile-time checks: the Store is every store the gateway consumes.
var (
	_ tenants.Store   = (*Store)(nil)
	_ endpoints.Store = (*Store)(nil)
	_ events.Store    = (*Store)(nil)
	_ delivery.Queue  = (*Store)(nil)
	_ delivery.Log    = (*Store)(nil)

	// The optional capabilities it has (it does not count its queue cheaply: no delivery.QueueStatsReporter).
	_ delivery.Chainer     = (*Store)(nil)
	_ delivery.SlowHolder  = (*Store)(nil)
	_ delivery.WakeSource  = (*Store)(nil)
	_ events.ManyPublisher = (*Store)(nil)
)

// ErrShardMismatch is returned by Open when Redis was set up with another shard count than Options.Shards.
var ErrShardMismatch = errors.New("redisstore: shard count mismatch")

// Options configure a Store. The zero value is usable.
type Options struct {
	// Shards is the number of queue shards N (shard = fnv32a(endpoint id) % N). It is written to Redis at the first
	// start and can never change afterwards: Open refuses a different value. Defaults to 64.
	Shards int
	// Prefix starts every key name, so that several gateways (or tests) can share one Redis. Defaults to "wh:".
	Prefix string
	// IdempotencyTTL is how long an idempotency key is remembered (at least as long as the window Publish is asked
	// to honour). Defaults to 24h.
	IdempotencyTTL time.Duration
	// RateBurst is how many deliveries an endpoint with a rate limit may receive back to back; 0 means one second's
	// worth, as the delivery engine's own limiter allows. Defaults to max(1, ceil(rate)) per endpoint.
	RateBurst int
	// Clock stamps UpdatedAt on delivery records where the caller passes no time. Defaults to time.Now.
	Clock func() time.Time
	// PoolSize is the connection pool size per Redis node. Defaults to go-redis's default (10 per CPU).
	PoolSize int
	// RescanEvery is how long Claim and NextDue may rely on the shard hints (wake.go) before reading every shard
	// again; it bounds how late a replica notices work that no wake message announced (a retry nacked by a replica
	// that then died). Hints are only used while Wakeups runs. Defaults to 15s.
	RescanEvery time.Duration
	// PurgeBatch is how many records one step of a tenant's deletion removes at most (tenantdelete.go). Defaults to
	// 500.
	PurgeBatch int
	// RequireFsync makes Open refuse (ErrNotDurable) a server, or a Cluster master, that does not fsync every write
	// before answering (appendonly yes, appendfsync always), or whose configuration CONFIG GET cannot read: for
	// operators who need no accepted event lost on a crash of Redis's host. Without it Open logs what such a crash
	// would lose (durability.go).
	RequireFsync bool
	// Logger receives Open's durability notice. Defaults to slog.Default().
	Logger *slog.Logger
	// LeaseOnPublish has a publish on a single server lease a due delivery to an idle endpoint in its own script, for
	// this Store's next Claim to hand out (prelease.go): for a Store whose Claim a delivery engine calls, as the
	// gateway's does. It spares that engine a claim's round trip per delivery at a steady, moderate load.
	LeaseOnPublish bool
	// RideWait lets an ack (or a final fail) at a steady, moderate load on a single server wait up to this long for
	// the next publish, to share its round trip (ride.go): the gateway's is 10ms. 0 sends every ack at
	// once.
	RideWait time.Duration
}

// Store is the Redis backend: tenants, endpoints, messages, the delivery queue and the delivery log. It is safe for
// concurrent use, and any number of Stores (gateway replicas) may share one Redis.
type Store struct {
	rdb    redis.UniversalClient
	k      *keys
	opt    Options
	closed func() error

	inst     string         // this Store's name in wake messages
	hints    *shardHints    // when each shard next has work, as far as this Store knows (wake.go)
	horizons *leaseHorizons // which shards Reclaim may skip (horizon.go)
	live     atomic.Int32   // confirmed Wakeups subscriptions
	ann      announcer      // wake messages waiting to be published
	recent   msgcache.Cache // messages published here in the last seconds, for GetMessage
	claimed  msgcache.Cache // messages of tasks Claim handed out in the last seconds, prefetched
	fetches  chainFetch     // whether finish calls read the messages of the tasks they chain (queue.go)
	finishes shardBatcher   // acks and fails of concurrent workers, grouped by shard (batch.go)
	enqueues shardBatcher   // enqueues of concurrent publishes, grouped by shard (batch.go)
	// orderedEnqueues is enqueues for deliveries with an ordering key. A key's next event is published only after its
	// previous one's Publish returned, so a batch never holds two deliveries of a key out of order.
	orderedEnqueues shardBatcher
	pre             preLeases           // tasks publishes leased, for the next Claim (prelease.go)
	queued          laneMarks           // when each endpoint's work was last seen queued (lanemarks.go)
	publishes       coalescer[*pubItem] // publishOne calls of concurrent publishes, one pipeline a batch (publish.go)
	ride            rides               // acks waiting to go with the next publish (ride.go)
	// onePublish: Publish runs as one script (publishOne), which only a single server allows (not a Cluster).
	onePublish bool
	pubs       publisherSet // the tenants this Store added to the publishers set, and when (inline.go)
	combos     combos       // the combo scripts of pipelines on a single server (combo.go)
	close      sync.Once
}

// Open connects to Redis and checks (or, on first start, records) the shard count. url is one of
//
//	redis://[user:password@]host:port[/db][?options]           one server
//	rediss://…                                                 one server over TLS
//	redis+cluster://[user:password@]host1:port1,host2:port2,…[?options]   Redis Cluster, seed nodes (any subset)
//	rediss+cluster://…                                         Redis Cluster over TLS
//
// Options in the query string are go-redis's (dial_timeout, read_timeout, pool_size, …).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts.Shards = cmp.Or(opts.Shards, 64)
	opts.Prefix = cmp.Or(opts.Prefix, "wh:")
	opts.IdempotencyTTL = cmp.Or(opts.IdempotencyTTL, 24*time.Hour)
	opts.RescanEvery = cmp.Or(opts.RescanEvery, defaultRescanEvery)
	if opts.PurgeBatch <= 0 {
		opts.PurgeBatch = 500
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch {
	case opts.Shards < 1 || opts.Shards > 999:
		return nil, fmt.Errorf("redisstore: Shards = %d: want 1 to 999", opts.Shards)
	case opts.RescanEvery < 0:
		return nil, fmt.Errorf("redisstore: RescanEvery = %v: must not be negative", opts.RescanEvery)
	case opts.RateBurst < 0:
		return nil, fmt.Errorf("redisstore: RateBurst = %d: want 0 (the default) or more", opts.RateBurst)
	case strings.ContainsAny(opts.Prefix, "{}"):
		return nil, fmt.Errorf("redisstore: Prefix %q: must not contain braces (they would form a hash tag)", opts.Prefix)
	}
	rdb, err := newClient(url, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{rdb: rdb, k: newKeys(opts.Prefix, opts.Shards), opt: opts, closed: rdb.Close,
		inst: instanceName(), hints: newShardHints(opts.Shards), horizons: newLeaseHorizons(opts.Shards),
		finishes: shardBatcher{script: finishScript, nkeys: 1, nargs: 14,
			prefix: func(sk *shardKeys) []string { return sk.queue(sk.dead, sk.rates) },
			settle: settleChained},
		enqueues: shardBatcher{script: enqueueScript, nkeys: 2, nargs: 10,
			prefix: func(sk *shardKeys) []string { return sk.queue() }},
		orderedEnqueues: shardBatcher{script: enqueueOrderedScript, nkeys: 3, nargs: 11,
			prefix: func(sk *shardKeys) []string { return sk.queue(sk.okeys()) }}}
	_, s.onePublish = rdb.(*redis.Client)
	s.pre.on = opts.LeaseOnPublish && s.onePublish
	s.finishes.tail = finishTail(s)
	for _, b := range []*shardBatcher{&s.finishes, &s.enqueues, &s.orderedEnqueues} {
		b.bind(s)
	}
	s.publishes.max, s.publishes.do = maxPerCall, s.runPublishes
	if s.onePublish && opts.RideWait > 0 {
		s.ride.init(opts.RideWait, func(items []*batchItem) { s.finishes.q.add(items...) })
	}
	if err := s.checkShards(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	if err := s.checkDurability(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	if err := s.reconcileFlags(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	s.ann.init()
	go s.announceLoop()
	return s, nil
}

// instanceName names a Store in wake messages: random, so that a Store can tell its own messages apart.
func instanceName() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// resp2 is the protocol the store speaks unless the URL asks for another (?protocol=3): it needs nothing of RESP3,
// and go-redis checks a RESP3 connection for push notifications before every reply it reads, a cost that shows in
// CPU profiles of a backlog's delivery.
const resp2 = 2

func newClient(raw string, opts Options) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("redisstore: URL %q: want redis://, rediss://, redis+cluster:// or rediss+cluster://", redact(raw))
	}
	switch scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("redisstore: URL %q: %w", redact(raw), err)
		}
		if opts.PoolSize > 0 {
			o.PoolSize = opts.PoolSize
		}
		o.Protocol = cmp.Or(o.Protocol, resp2)
		return redis.NewClient(o), nil
	case "redis+cluster", "rediss+cluster":
		o, err := parseClusterURL(strings.TrimSuffix(scheme, "+cluster"), rest)
		if err != nil {
			return nil, fmt.Errorf("redisstore: URL %q: %w", redact(raw), err)
		}
		if opts.PoolSize > 0 {
			o.PoolSize = opts.PoolSize
		}
		o.Protocol = cmp.Or(o.Protocol, resp2)
		return redis.NewClusterClient(o), nil
	}
	return nil, fmt.Errorf("redisstore: URL scheme %q: want redis, rediss, redis+cluster or rediss+cluster", scheme)
}

// parseClusterURL turns "[userinfo@]h1:p1,h2:p2[/][?query]" into go-redis cluster options: the first host becomes
// the URL's host and the others "addr" parameters, the form redis.ParseClusterURL reads.
func parseClusterURL(scheme, rest string) (*redis.ClusterOptions, error) {
	hostEnd := strings.IndexAny(rest, "/?")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	authority, tail := rest[:hostEnd], rest[hostEnd:]
	userinfo := ""
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	hosts := strings.Split(authority, ",")
	for _, h := range hosts {
		if h == "" {
			return nil, errors.New("empty seed address")
		}
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" {
		return nil, errors.New("a Redis Cluster URL takes no database: drop the path")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	u := scheme + "://" + userinfo + hosts[0]
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	return redis.ParseClusterURL(u)
}

// redact hides a password in a URL for error messages.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			return scheme + "://" + user + ":xxxxx@" + rest[at+1:]
		}
	}
	return raw
}

// checkShards records N at the first start and refuses a mismatch afterwards.
func (s *Store) checkShards(ctx context.Context) error {
	key := s.k.config()
	if err := s.rdb.HSetNX(ctx, key, "shards", s.opt.Shards).Err(); err != nil {
		return fmt.Errorf("redisstore: record shard count: %w", err)
	}
	got, err := s.rdb.HGet(ctx, key, "shards").Result()
	if err != nil {
		return fmt.Errorf("redisstore: read shard count: %w", err)
	}
	n, err := strconv.Atoi(got)
	if err != nil {
		return fmt.Errorf("redisstore: %s shards = %q: %w", key, got, err)
	}
	if n != s.opt.Shards {
		return fmt.Errorf("%w: Redis holds data laid out in %d shards (%s) but Options.Shards is %d; the count cannot "+
			"change once data is written: start with Shards = %d", ErrShardMismatch, n, key, s.opt.Shards, n)
	}
	return nil
}

// Close publishes the wake messages still pending (a release at shutdown must reach the other replicas) and closes
// the connections.
func (s *Store) Close() error {
	s.close.Do(func() {
		if items := s.ride.take(); len(items) > 0 {
			s.finishes.q.add(items...) // sent before the connections close
		}
		if ts := s.pre.drain(); len(ts) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			s.releaseAll(ctx, ts, s.now())
			cancel()
		}
		close(s.ann.quit)
		<-s.ann.done
	})
	return s.closed()
}

// Ping checks that Redis answers (every master, on a cluster).
func (s *Store) Ping(ctx context.Context) error {
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() })
	}
	return s.rdb.Ping(ctx).Err()
}

// Client returns the underlying client (for tools and tests).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// scriptCall is one script run for runScripts.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// runScripts runs calls in one pipeline (one round trip per node), by EVALSHA, together with any plain commands
// extra adds; calls that find their script missing from a node's cache (a restarted or new node) are re-run one by
// one with EVAL. A script that answers NOSCRIPT did not run, so re-running it is safe. The results are in the order
// of calls; the error is the first failure (of a call or of an extra command).
func (s *Store) runScripts(ctx context.Context, calls []scriptCall, extra ...func(redis.Pipeliner)) ([]*redis.Cmd, error) {
	if len(calls) == 0 && len(extra) == 0 {
		return nil, nil
	}
	if combo, ok := s.combine(calls); ok {
		cmds, err := s.runScripts(ctx, []scriptCall{combo}, extra...)
		out := split(ctx, cmds[0], len(calls))
		for _, c := range out {
			if cerr := c.Err(); cerr != nil && !errors.Is(cerr, redis.Nil) {
				return out, cerr
			}
		}
		return out, err
	}
	cmds := make([]*redis.Cmd, len(calls))
	if len(calls) == 1 && len(extra) == 0 {
		c := calls[0]
		cmds[0] = c.script.Run(ctx, s.rdb, c.keys, c.args...)
		return cmds, cmds[0].Err()
	}
	pipe := s.rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	for _, fn := range extra {
		fn(pipe)
	}
	others, _ := pipe.Exec(ctx) // errors are per command, below
	var first error
	for i, c := range calls {
		if err := cmds[i].Err(); err != nil && isNoScript(err) {
			cmds[i] = c.script.Run(ctx, s.rdb, c.keys, c.args...)
		}
		if err := cmds[i].Err(); err != nil && !errors.Is(err, redis.Nil) && first == nil {
			first = err
		}
	}
	for _, c := range others[min(len(calls), len(others)):] {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) && first == nil {
			first = err
		}
	}
	return cmds, first
}

func isNoScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}

// now is the store's clock.
func (s *Store) now() time.Time { return s.opt.Clock() }
