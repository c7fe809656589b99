package main_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/signing"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/wire"
)

// TestTenantDeleteKill9: a tenant with many endpoints and thousands of queued deliveries is deleted, the gateway is
// killed with SIGKILL as soon as the deletion is acknowledged, and restarted. The restarted gateway must finish the
// deletion (its log says so: the tenant was still there at the restart), after which nothing of the tenant is left
// in the store and another tenant's data is intact and still delivered.
func TestTenantDeleteKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, store := range []string{"bolt", "redis"} {
		t.Run(store, func(t *testing.T) {
			secret, _ := signing.GenerateSecret(0)
			keep := newReceiver(t, secret)
			// The doomed tenant's receiver refuses everything, so its deliveries stay queued with retries.
			down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodOptions {
					w.Header().Set("Allow", "OPTIONS, POST")
					w.WriteHeader(http.StatusNoContent)
					return
				}
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			t.Cleanup(down.Close)
			data := t.TempDir()
			extra := []string{"--allow-tenant-deletion", "--retry-initial", "1m", "--retry-cap", "1m"}
			var rdb *redis.Client
			if store == "redis" {
				srv, url := redisAOF(t, t.TempDir())
				extra = append([]string{"--store", url}, extra...)
				rdb = redis.NewClient(&redis.Options{Addr: srv.Addr})
				t.Cleanup(func() { rdb.Close() })
			}
			g := startGateway(t, data, extra...)
			ctx := context.Background()
			api := g.api()

			for _, id := range []string{"doomed", "keeper"} {
				if _, err := api.CreateTenant(ctx, wire.CreateTenant{ID: id, Name: id}); err != nil {
					t.Fatal(err)
				}
			}
			filters := []string{"device.*"}
			url := keep.srv.URL + "/hook"
			if _, err := api.CreateEndpoint(ctx, "keeper", wire.EndpointRequest{URL: &url, Events: &filters, Secret: &secret}); err != nil {
				t.Fatal(err)
			}
			var doomedEps []string
			for k := range 10 {
				u := fmt.Sprintf("%s/down/%d", down.URL, k)
				ep, err := api.CreateEndpoint(ctx, "doomed", wire.EndpointRequest{URL: &u, Events: &filters})
				if err != nil {
					t.Fatal(err)
				}
				doomedEps = append(doomedEps, ep.ID)
			}
			// 2,000 events × 10 endpoints: 20,000 deliveries, each with a message and an idempotency key.
			for b := range 20 {
				evs := make([]wire.Event, 100)
				for i := range evs {
					n := b*100 + i
					evs[i] = wire.Event{Type: "device.enrolled", ID: fmt.Sprintf("evt-%d", n), Data: fmt.Appendf(nil, `{"n":%d}`, n)}
				}
				if _, err := api.PublishBatch(ctx, "doomed", evs); err != nil {
					t.Fatal(err)
				}
			}
			for n := range 10 {
				if _, err := api.Publish(ctx, "keeper", wire.Event{Type: "device.enrolled", ID: fmt.Sprintf("k-%d", n), Data: []byte(`{}`)}); err != nil {
					t.Fatal(err)
				}
			}
			if !keep.waitFor(t, 30*time.Second, func() bool { return keep.distinct() >= 10 }) {
				t.Fatalf("the keeper's events did not arrive: %d", keep.distinct())
			}

			tn, err := api.DeleteTenant(ctx, "doomed")
			g.cmd.Process.Signal(syscall.SIGKILL)
			<-g.done
			if err != nil || tn.State != wire.TenantDeleting {
				t.Fatalf("DeleteTenant: %+v, %v", tn, err)
			}
			if strings.Contains(g.logs.String(), "tenant deleted") {
				t.Fatal("the deletion finished before the kill: the test proves nothing; give it more data")
			}

			g = startGateway(t, data, extra...)
			api = g.api()
			gone := func() bool {
				l, err := api.ListTenants(ctx, client.Page{})
				if err != nil {
					return false
				}
				for _, tn := range l.Data {
					if tn.ID == "doomed" {
						return false
					}
				}
				return true
			}
			// The reaper commits the purge before it logs it, so the list can lose the tenant a moment before the
			// log line is written: wait for both.
			logged := func() bool { return strings.Contains(g.logs.String(), "tenant deleted") }
			deadline := time.Now().Add(60 * time.Second)
			for !gone() || !logged() {
				if time.Now().After(deadline) {
					t.Fatalf("the restarted gateway did not finish the deletion (gone from the list: %v)\n%s", gone(), g.logs)
				}
				time.Sleep(50 * time.Millisecond) // polling an observable condition
			}
			if _, err := api.GetTenant(ctx, "doomed"); !client.IsNotFound(err) {
				t.Fatalf("GetTenant after the deletion: %v", err)
			}

			// The keeper is intact and still served.
			l, err := api.ListDeliveries(ctx, "keeper", client.DeliveryFilter{})
			if err != nil || len(l.Data) != 10 {
				t.Fatalf("the keeper's deliveries: %v, %v", l, err)
			}
			for n := 10; n < 20; n++ {
				if _, err := api.Publish(ctx, "keeper", wire.Event{Type: "device.enrolled", ID: fmt.Sprintf("k-%d", n), Data: []byte(`{}`)}); err != nil {
					t.Fatal(err)
				}
			}
			if !keep.waitFor(t, 30*time.Second, func() bool { return keep.distinct() >= 20 }) {
				t.Fatalf("the keeper's events after the deletion did not arrive: %d", keep.distinct())
			}

			// Nothing in the store names the tenant or its endpoints.
			names := append([]string{"doomed"}, doomedEps...)
			var left []string
			switch store {
			case "bolt":
				g.stop(t)
				left = boltKeysNaming(t, data, names)
			case "redis":
				left = redisKeysNaming(t, rdb, names)
			}
			if len(left) > 0 {
				t.Fatalf("%d keys still name the deleted tenant, e.g. %q", len(left), left[:min(5, len(left))])
			}
		})
	}
}

// boltKeysNaming lists the keys of the embedded store under data that contain one of names.
func boltKeysNaming(t *testing.T, data string, names []string) []string {
	t.Helper()
	db, err := bolt.Open(data+"/"+boltstore.FileName, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(bucket []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, _ []byte) error {
				for _, n := range names {
					if strings.Contains(string(k), n) {
						out = append(out, string(bucket)+" "+string(k))
						break
					}
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// redisKeysNaming lists the keys of the Redis server that contain one of names, and the members of its sorted sets
// and fields of its hashes that do.
func redisKeysNaming(t *testing.T, rdb *redis.Client, names []string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	has := func(s string) bool {
		for _, n := range names {
			if strings.Contains(s, n) {
				return true
			}
		}
		return false
	}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if has(k) {
			out = append(out, k)
			continue
		}
		var vals []string
		switch rdb.Type(ctx, k).Val() {
		case "zset":
			vals = rdb.ZRange(ctx, k, 0, -1).Val()
		case "hash":
			vals = rdb.HKeys(ctx, k).Val()
		}
		for _, v := range vals {
			if has(v) {
				out = append(out, k+" → "+v)
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
