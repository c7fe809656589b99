package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/store/storetest"
)

// publishOne stores a message of tenant with one pending delivery to endpoint.
func publishOne(ctx context.Context, s *Store, tenant, endpoint string, now time.Time) error {
	m := &delivery.Message{
		ID: ids.New("msg"), TenantID: tenant, Type: "device.enrolled", Timestamp: now,
		Data: json.RawMessage(`{"device":"d-000123","serial":"ABCDEF012345","model":"Pixel 8"}`), CreatedAt: now,
	}
	d := &delivery.Delivery{
		ID: ids.New("dlv"), TenantID: tenant, MessageID: m.ID, EndpointID: endpoint, EventType: m.Type,
		Status: delivery.StatusPending, NextAttemptAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
	}
	_, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{d}, time.Time{})
	return err
}

// publishMany publishes n messages from 32 goroutines, so that their commits are shared.
func publishMany(tb testing.TB, s *Store, n int, now time.Time) {
	tb.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := publishOne(context.Background(), s, "ten_a", "ep_a", now); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("Publish: %v", err)
	}
}

// TestAppendedBucketsFillTheirPages publishes messages whose ids ascend and checks that the buckets they are appended
// to keep their leaf pages nearly full: at bbolt's default FillPercent every page behind the append is left half
// empty.
func TestAppendedBucketsFillTheirPages(t *testing.T) {
	s := open(t)
	defer s.Close()
	publishMany(t, s, 3000, time.Now())
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range appended {
			st := tx.Bucket(name).Stats()
			if st.KeyN == 0 {
				continue // attempts, terminal: nothing finished yet
			}
			if st.LeafPageN < 4 {
				return fmt.Errorf("bucket %s: %d leaf pages hold %d keys; the test needs more", name, st.LeafPageN, st.KeyN)
			}
			fill := float64(st.LeafInuse) / float64(st.LeafPageN*s.db.Info().PageSize)
			t.Logf("bucket %s: %d keys on %d leaf pages, %.0f%% in use", name, st.KeyN, st.LeafPageN, 100*fill)
			if fill < 0.8 {
				return fmt.Errorf("bucket %s: leaf pages %.0f%% in use, want at least 80%%", name, 100*fill)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var filled struct {
	once sync.Once
	dir  string // removed by TestMain
	file string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if filled.dir != "" {
		os.RemoveAll(filled.dir)
	}
	os.Exit(code)
}

// filledFile returns a store file holding 30,000 published messages, made once per test binary.
func filledFile(b *testing.B) string {
	filled.once.Do(func() {
		dir, err := os.MkdirTemp("", "boltstore-filled-")
		if err != nil {
			filled.err = err
			return
		}
		filled.dir = dir
		s, err := Open(dir, Options{})
		if err != nil {
			filled.err = err
			return
		}
		publishMany(b, s, 30000, time.Now())
		filled.err = s.Close()
		filled.file = filepath.Join(dir, FileName)
	})
	if filled.err != nil {
		b.Fatal(filled.err)
	}
	return filled.file
}

// BenchmarkPublishFilled publishes one message at a time (a commit each, as at a light steady load) into a store
// that already holds 30,000, so that its buckets are trees several pages deep, as in a gateway that has run a while.
func BenchmarkPublishFilled(b *testing.B) {
	src := filledFile(b)
	dir := b.TempDir()
	if err := copyFile(filepath.Join(dir, FileName), src); err != nil {
		b.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	b.ResetTimer()
	stop := storetest.CPUPerOp(b)
	st0 := s.db.Stats()
	for range b.N {
		if err := publishOne(ctx, s, "ten_a", "ep_a", now); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	stop()
	st1 := s.db.Stats()
	st := st1.Sub(&st0)
	b.ReportMetric(float64(st.TxStats.GetWrite())/float64(b.N), "pages/op")
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
