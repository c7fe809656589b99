package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	redisstore "github.com/webhookd/webhookd/store/redisstore"
	"github.com/webhookd/webhookd/tenants"
)

// Store is what the gateway needs of a backend: every domain's store, the queue and the log, a ping for /readyz.
type Store interface {
	tenants.Store
	endpoints.Store
	events.Store
	delivery.Queue
	delivery.Log
	calls.Log
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ Store = (*boltstore.Store)(nil)
	_ Store = (*redisstore.Store)(nil)
)

// OpenStore opens the backend spec names: empty (or "bolt", "embedded") for the embedded store under dataDir;
// redis://, rediss://, or redis+cluster://host:port,host:port (rediss+cluster:// with TLS) for Redis. The
// description it returns, for logs, never holds a password.
func OpenStore(ctx context.Context, spec, dataDir string) (Store, string, error) {
	return OpenStoreWith(ctx, spec, dataDir, StoreOptions{})
}

// StoreOptions tune OpenStoreWith.
type StoreOptions struct {
	// RedisRequireFsync refuses a Redis that does not fsync every write (redisstore.Options.RequireFsync).
	RedisRequireFsync bool
	// Logger receives the store's notices at open (Redis's durability). Defaults to slog.Default().
	Logger *slog.Logger
}

// OpenStoreWith is OpenStore with options.
func OpenStoreWith(ctx context.Context, spec, dataDir string, o StoreOptions) (Store, string, error) {
	switch {
	case spec == "" || spec == "bolt" || spec == "embedded":
		s, err := boltstore.Open(dataDir, boltstore.Options{})
		if err != nil {
			return nil, "", err
		}
		return s, "embedded:" + dataDir, nil
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"),
		strings.HasPrefix(spec, "redis+cluster://"), strings.HasPrefix(spec, "rediss+cluster://"):
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := redisstore.Open(octx, spec, redisstore.Options{RequireFsync: o.RedisRequireFsync, Logger: o.Logger,
			LeaseOnPublish: true, RideWait: ackRideWait})
		if err != nil {
			return nil, "", err
		}
		return s, redactURL(spec), nil
	}
	return nil, "", fmt.Errorf("store %q: want empty (embedded), redis://, rediss:// or redis+cluster://", redactURL(spec))
}

// ackRideWait is how long an ack may wait for a publish to share its Redis round trip (redisstore.Options.RideWait):
// long enough for publishes about 200 a second, the moderate steady load a console sends, short beside a delivery
// log's reader.
const ackRideWait = 10 * time.Millisecond

// redactURL hides the password of a store URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable store URL)"
	}
	return u.Redacted()
}
