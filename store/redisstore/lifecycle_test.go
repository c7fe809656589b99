package redisstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/store/storetest"
)

func TestLifecycleConformance(t *testing.T) {
	srv := testredis.Start(t)
	url := redisURL(srv)
	storetest.RunLifecycle(t, func(t *testing.T) storetest.LifecycleStore {
		return openOn(t, url, srv.Prefix, Options{PurgeBatch: 7}) // small steps, so a purge can stop half-way
	}, lifecycleHooks(url))
}

func TestLifecycleConformanceCluster(t *testing.T) {
	url := startCluster(t)
	storetest.RunLifecycle(t, func(t *testing.T) storetest.LifecycleStore {
		return openOn(t, url, "", Options{PurgeBatch: 7})
	}, lifecycleHooks(url))
}

func lifecycleHooks(url string) storetest.LifecycleHooks {
	return storetest.LifecycleHooks{
		Reopen: func(t *testing.T, s storetest.LifecycleStore) storetest.LifecycleStore {
			// A new Store on the same data, as after a restart; the old one is closed by the suite.
			opts := s.(*Store).opt
			n, err := Open(context.Background(), url, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n.Close() })
			return n
		},
		Dump: dumpRedis,
	}
}

// dumpRedis lists every key under the store's prefix with its members, fields and values.
func dumpRedis(t *testing.T, st storetest.LifecycleStore) []string {
	s := st.(*Store)
	ctx := t.Context()
	var out []string
	err := s.scanKeys(ctx, globEscape(s.opt.Prefix)+"*", func(keys []string) error {
		for _, k := range keys {
			out = append(out, k)
			typ, err := s.rdb.Type(ctx, k).Result()
			if err != nil {
				return err
			}
			var vals []string
			switch typ {
			case "string":
				v, err := s.rdb.Get(ctx, k).Result()
				if err != nil && err != redis.Nil {
					return err
				}
				vals = []string{v}
			case "zset":
				vals, err = s.rdb.ZRange(ctx, k, 0, -1).Result()
			case "list":
				vals, err = s.rdb.LRange(ctx, k, 0, -1).Result()
			case "set":
				vals, err = s.rdb.SMembers(ctx, k).Result()
			case "hash":
				var m map[string]string
				m, err = s.rdb.HGetAll(ctx, k).Result()
				for f, v := range m {
					vals = append(vals, f, v)
				}
			}
			if err != nil {
				return err
			}
			for _, v := range vals {
				out = append(out, fmt.Sprintf("%s → %s", k, v))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
