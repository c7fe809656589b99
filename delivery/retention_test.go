package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// pruner records the cutoffs it is asked for and answers with its results in turn.
type pruner struct {
	cutoffs chan time.Time
	results []error
	n       int
}

func (p *pruner) Prune(_ context.Context, cutoff time.Time) (int, error) {
	var err error
	if len(p.results) > 0 {
		err, p.results = p.results[0], p.results[1:]
	}
	p.cutoffs <- cutoff
	if err != nil {
		return 0, err
	}
	return p.n, nil
}

// storeErrors counts StoreError calls by op.
type storeErrors struct {
	mu  sync.Mutex
	ops []string
}

func (o *storeErrors) AttemptDone(string, delivery.Outcome, time.Duration, bool) {}
func (o *storeErrors) EndpointDisabled(string)                                   {}
func (o *storeErrors) StoreError(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops = append(o.ops, op)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRetentionRun(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &pruner{cutoffs: make(chan time.Time), results: []error{errors.New("store down")}, n: 3}
	obs := &storeErrors{}
	var logs syncBuffer
	r := delivery.NewRetention(p, delivery.RetentionConfig{
		Keep: time.Hour, Every: time.Millisecond, Now: func() time.Time { return now }, Observer: obs,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	// The first prune runs at once and fails; the next round prunes again.
	for i := range 2 {
		select {
		case c := <-p.cutoffs:
			if want := now.Add(-time.Hour); !c.Equal(want) {
				t.Fatalf("prune %d: cutoff %v, want %v", i, c, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no prune %d", i)
		}
	}
	cancel()
	// A round under way may still call Prune once more; then Run returns.
	go func() {
		for range p.cutoffs {
		}
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(p.cutoffs)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.ops) != 1 || obs.ops[0] != "prune" {
		t.Fatalf("store errors %q, want one prune", obs.ops)
	}
	if s := logs.String(); !strings.Contains(s, "retention prune failed") || !strings.Contains(s, "retention pruned deliveries") {
		t.Fatalf("logs:\n%s", s)
	}
}

func TestRetentionDefaults(t *testing.T) {
	p := &pruner{cutoffs: make(chan time.Time)}
	cfg := delivery.NewRetention(p, delivery.RetentionConfig{}).Config()
	if cfg.Keep != delivery.DefaultRetention || cfg.Every != time.Hour {
		t.Fatalf("defaults %+v", cfg)
	}
	if got := delivery.NewRetention(p, delivery.RetentionConfig{Keep: 2 * time.Second}).Config().Every; got != time.Second {
		t.Fatalf("every of a 2s retention: %v, want 1s", got)
	}
	// Negative keeps everything: Run returns at once without pruning (an unbuffered channel nobody reads would block).
	if err := delivery.NewRetention(p, delivery.RetentionConfig{Keep: -1}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
