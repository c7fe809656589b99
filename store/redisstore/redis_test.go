package redisstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/store/storetest"
)

var _ storetest.Store = (*Store)(nil)

// prefixes makes each store of a test unique inside the server's own prefix.
var prefixes atomic.Int64

// openOn opens a fresh store on url whose keys start with a prefix nobody else uses.
func openOn(tb testing.TB, url, prefix string, opts Options) *Store {
	tb.Helper()
	opts.Prefix = fmt.Sprintf("%sp%d:", prefix, prefixes.Add(1))
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		tb.Fatalf("Open %s: %v", url, err)
	}
	return s
}

func redisURL(srv *testredis.Server) string { return "redis://" + srv.Addr }

func TestConformance(t *testing.T) {
	srv := testredis.Start(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return openOn(t, redisURL(srv), srv.Prefix, Options{})
	})
}

// TestConformanceThreeStepPublish runs the suite with the publish a Cluster uses (three ordered steps, publish.go)
// on a single server, where Publish is otherwise one script.
func TestConformanceThreeStepPublish(t *testing.T) {
	srv := testredis.Start(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s := openOn(t, redisURL(srv), srv.Prefix, Options{})
		if !s.onePublish {
			t.Fatal("a single server should publish in one script")
		}
		s.onePublish = false
		return s
	})
}

func BenchmarkStore(b *testing.B) {
	srv := testredis.Start(b)
	storetest.Bench(b, func(b *testing.B) storetest.Store {
		return openOn(b, redisURL(srv), srv.Prefix, Options{})
	})
}
