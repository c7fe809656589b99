package redisstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/webhookd/webhookd/internal/testredis"
)

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

// TestRequireFsync: Open checks the server's persistence. With RequireFsync it refuses anything but appendonly yes
// with appendfsync always; without, it logs what a host crash would lose (a warning when nothing is appended).
func TestRequireFsync(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		refused bool
		log     string // what the log says without RequireFsync ("" nothing)
	}{
		{"always", []string{"--appendonly", "yes", "--appendfsync", "always"}, false, ""},
		{"everysec", []string{"--appendonly", "yes", "--appendfsync", "everysec"}, true, "level=INFO msg=\"redis: a crash of the server's host can lose accepted events\""},
		{"no", []string{"--appendonly", "yes", "--appendfsync", "no"}, true, "appendfsync no"},
		{"appendonly no", []string{"--appendonly", "no"}, true, "level=WARN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := testredis.StartServer(t, c.args...)
			_, err := Open(context.Background(), redisURL(srv), Options{Prefix: srv.Prefix, RequireFsync: true,
				Logger: slog.New(slog.DiscardHandler)})
			if c.refused != errors.Is(err, ErrNotDurable) || (!c.refused && err != nil) {
				t.Fatalf("Open with RequireFsync: %v, want refused %v", err, c.refused)
			}
			var buf syncBuffer
			s, err := Open(context.Background(), redisURL(srv), Options{Prefix: srv.Prefix, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			if err != nil {
				t.Fatalf("Open without RequireFsync: %v", err)
			}
			s.Close()
			switch out := buf.String(); {
			case c.log == "" && out != "":
				t.Errorf("logged %q, want nothing", out)
			case !strings.Contains(out, c.log):
				t.Errorf("logged %q, want it to contain %q", out, c.log)
			}
		})
	}
}
