package redisstore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/store/storetest"
)

// startCluster builds a 3-master Redis Cluster of private redis-servers on loopback and returns its
// redis+cluster:// URL. Under CI=true a missing redis-cli fails the test instead of skipping it.
func startCluster(t testing.TB) string {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-cli is not on PATH; CI=true, so this is a failure, not a skip")
		}
		t.Skip("redis-cli is not on PATH")
	}
	var nodes []*testredis.Server
	var addrs []string
	for range 3 {
		// Each server gets its own directory, so each writes its own nodes.conf there.
		srv := testredis.StartServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
		nodes = append(nodes, srv)
		addrs = append(addrs, srv.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Wait until every node sees the whole cluster: the state is another process's, so this is a poll.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for {
			info, err := n.Client.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster on %v not ok after 20s: %q, %v", addrs, info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// TestCluster runs the conformance suite and the concurrent-claimers test on one local 3-master cluster.
func TestCluster(t *testing.T) {
	url := startCluster(t)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Store { return openOn(t, url, "", Options{}) })
	})
	t.Run("Ordering", func(t *testing.T) {
		storetest.RunOrdering(t, func(t *testing.T) storetest.Store { return openOn(t, url, "", Options{}) })
	})
	t.Run("ConcurrentClaimers", func(t *testing.T) {
		testConcurrentClaimers(t, func() *Store { return openOn(t, url, "", Options{}) })
	})
	t.Run("Chaos", func(t *testing.T) { testChaos(t, url, "") })
	t.Run("AckNextMessage", func(t *testing.T) {
		testAckNextMessage(t, url, "", false)
	})
	t.Run("OrderingRestart", func(t *testing.T) {
		storetest.RunOrderingRestart(t, func(t *testing.T) (storetest.Store, func() storetest.Store) {
			first := openOn(t, url, "", Options{})
			t.Cleanup(func() { first.Close() })
			return first, func() storetest.Store {
				s, err := Open(t.Context(), url, first.opt)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		})
	})
	t.Run("OrderingSlots", func(t *testing.T) { testOrderingSlots(t, url) })
	t.Run("SlotsSpread", func(t *testing.T) {
		// Every shard is one slot, and the shards spread over the three masters.
		s := openOn(t, url, "", Options{})
		defer s.Close()
		masters := map[string]bool{}
		for i := range s.k.shards {
			slot := s.rdb.ClusterKeySlot(t.Context(), s.k.shards[i].ready).Val()
			for _, key := range s.k.shards[i].queue(s.k.shards[i].rates, s.k.shards[i].record("dlv_x")) {
				if got := s.rdb.ClusterKeySlot(t.Context(), key).Val(); got != slot {
					t.Fatalf("%s is in slot %d, %s in %d", key, got, s.k.shards[i].ready, slot)
				}
			}
			masters[shardOwner(t, s, slot)] = true
		}
		if len(masters) != 3 {
			t.Fatalf("64 shards live on %d masters, want 3", len(masters))
		}
	})
}

func shardOwner(t *testing.T, s *Store, slot int64) string {
	t.Helper()
	ranges, err := s.rdb.ClusterSlots(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		if int64(r.Start) <= slot && slot <= int64(r.End) {
			return r.Nodes[0].Addr
		}
	}
	t.Fatalf("slot %d has no owner", slot)
	return ""
}

func BenchmarkStoreCluster(b *testing.B) {
	url := startCluster(b)
	storetest.Bench(b, func(b *testing.B) storetest.Store { return openOn(b, url, "", Options{}) })
}

// testOrderingSlots checks where ordering-key lines live on a Cluster: each line in its endpoint's slot (the slot of
// the endpoint's delivery records, so every ordering script stays in one slot), and the lines of keys of different
// endpoints spread over several slots and masters, not piled on one.
func testOrderingSlots(t *testing.T, url string) {
	ctx := t.Context()
	s := openOn(t, url, "", Options{})
	defer s.Close()
	now := time.Now().UTC()
	slots, masters := map[int64]bool{}, map[string]bool{}
	for e := range 16 {
		ep := fmt.Sprintf("ep_%d", e)
		for k := range 3 {
			okey := fmt.Sprintf("dev-%d", k)
			m := &delivery.Message{ID: ids.New("msg"), TenantID: "ten_a", Type: "device.x", Timestamp: now,
				Data: []byte(`{}`), CreatedAt: now, OrderingKey: okey}
			d := &delivery.Delivery{ID: ids.New("dlv"), TenantID: "ten_a", MessageID: m.ID, EndpointID: ep,
				EventType: m.Type, Status: delivery.StatusPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
				OrderingKey: okey}
			if _, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{d}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			sk := s.k.shardOf(ep)
			ln := sk.line(ep, okey)
			if n := s.rdb.LLen(ctx, ln).Val(); n != 1 {
				t.Fatalf("line %s has %d deliveries, want 1", ln, n)
			}
			slot := s.rdb.ClusterKeySlot(ctx, ln).Val()
			if rs := s.rdb.ClusterKeySlot(ctx, sk.record(d.ID)).Val(); rs != slot {
				t.Fatalf("line %s in slot %d, its delivery's record in %d", ln, slot, rs)
			}
			slots[slot] = true
			masters[shardOwner(t, s, slot)] = true
		}
	}
	if len(slots) < 4 || len(masters) < 2 {
		t.Fatalf("the lines of 16 endpoints' keys live in %d slots on %d masters", len(slots), len(masters))
	}
}
