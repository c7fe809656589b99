package testredis

import (
	"context"
	"strings"
	"testing"
)

func TestStartServesAndIsolates(t *testing.T) {
	srv := Start(t)
	ctx := context.Background()
	key := srv.Prefix + "k"
	if err := srv.Client.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := srv.Client.Get(ctx, key).Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	if !strings.HasPrefix(srv.Prefix, "test:") || srv.Prefix == Start(t).Prefix {
		t.Fatalf("prefix %q is not unique per call", srv.Prefix)
	}
}

func TestStartServerExtraArgs(t *testing.T) {
	srv := StartServer(t, "--appendonly", "yes")
	got, err := srv.Client.ConfigGet(context.Background(), "appendonly").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["appendonly"] != "yes" {
		t.Fatalf("appendonly = %q; the extra argument did not reach redis-server", got["appendonly"])
	}
}

func TestStartServerCluster(t *testing.T) {
	srv := StartServer(t, "--cluster-enabled", "yes")
	info, err := srv.Client.ClusterInfo(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "cluster_state:") {
		t.Fatalf("CLUSTER INFO = %q", info)
	}
}
