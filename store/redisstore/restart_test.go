package redisstore

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
)

// TestRestartWithAOF: everything Publish returned for survives a Redis restart with AOF (appendfsync always), and
// the same Store carries on once Redis is back: it reconnects, and its scripts are reloaded into the new server.
func TestRestartWithAOF(t *testing.T) {
	srv := testredis.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := t.Context()
	dir, err := srv.Client.ConfigGet(ctx, "dir").Result()
	if err != nil {
		t.Fatal(err)
	}
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 16})
	defer s.Close()

	var ds []*delivery.Delivery
	for range 20 {
		m := newMessage("ten_a", base)
		pair := []*delivery.Delivery{newDelivery(m, "ep_1", base), newDelivery(m, "ep_2", base)}
		if _, _, _, err := s.Publish(ctx, m, pair, time.Time{}); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, pair...)
	}
	// One delivery has an attempt behind it (a nack), so the restart must keep queue state, not just records.
	tk := mustClaim(t, s, base, delivery.ClaimOptions{Max: 1, Lease: time.Minute}, 1)[0]
	if err := s.Nack(ctx, tk, delivery.Attempt{At: base, StatusCode: 503, Outcome: "retry"}, base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}

	_, port, _ := net.SplitHostPort(srv.Addr)
	_ = srv.Client.Shutdown(ctx).Err() // the connection drops as the server exits: no reply to check
	restart(t, port, dir["dir"])

	// The Store's client reconnects by itself; wait until the new server answers (another process: a poll).
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Store did not reconnect within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, d := range ds {
		got, err := s.GetDelivery(ctx, "ten_a", d.ID)
		if err != nil {
			t.Fatalf("GetDelivery %s after restart: %v", d.ID, err)
		}
		if _, err := s.GetMessage(ctx, "ten_a", d.MessageID); err != nil {
			t.Fatalf("GetMessage %s after restart: %v", d.MessageID, err)
		}
		if d.ID == tk.DeliveryID && (got.Attempts != 1 || got.LastCode != 503) {
			t.Fatalf("nacked delivery after restart: %+v", got)
		}
	}
	if next, err := s.NextDue(ctx); err != nil || !next.Equal(base) {
		t.Fatalf("NextDue after restart = %v, %v; want base", next, err)
	}
	ts := mustClaim(t, s, base.Add(time.Second), delivery.ClaimOptions{Max: 100, Lease: time.Minute}, len(ds))
	for _, task := range ts {
		want := 1
		if task.DeliveryID == tk.DeliveryID {
			want = 2
		}
		if task.Attempt != want {
			t.Fatalf("task %s attempt %d after restart, want %d", task.DeliveryID, task.Attempt, want)
		}
		if task.DeliveryID == tk.DeliveryID && task.Fence <= tk.Fence {
			t.Fatalf("fence went back across the restart: %d after %d", task.Fence, tk.Fence)
		}
		if err := s.Ack(ctx, task, delivery.Attempt{At: base.Add(time.Second), StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	assertQueueEmpty(t, s)
}

// restart starts redis-server again on port and dir, with AOF on, once the old process has let go of the port.
func restart(t *testing.T, port, dir string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err) // testredis found it a moment ago
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes",
			"--appendfsync", "always", "--save", "", "--protected-mode", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited: // the port was still taken by the old server: try again
			if time.Now().After(deadline) {
				t.Fatalf("redis-server would not start again on port %s", port)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		case <-time.After(300 * time.Millisecond): // it is up (or loading the AOF)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		return
	}
}
