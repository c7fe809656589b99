// Package testredis gives tests a Redis server: a throwaway redis-server on a free loopback port, or the server
// named by WEBHOOKD_TEST_REDIS_URL.
//
// Without redis-server on PATH (and no WEBHOOKD_TEST_REDIS_URL) the test is skipped, unless CI=true, where it fails:
// CI must not pass by skipping the Redis tests.
package testredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points the tests at an existing server (a redis:// URL). Tests that
// use it must stay inside Server.Prefix and never flush.
const EnvURL = "WEBHOOKD_TEST_REDIS_URL"

// Server is a Redis server for one test.
type Server struct {
	// Addr is host:port.
	Addr string
	// Client is connected to Addr and closed in the test's cleanup.
	Client *redis.Client
	// Prefix is unique to this test ("test:<random>:"): use it for every key, so that tests sharing a server
	// (WEBHOOKD_TEST_REDIS_URL) cannot see each other's keys.
	Prefix string
	// Shared reports whether the server came from WEBHOOKD_TEST_REDIS_URL (and so holds other data).
	Shared bool
}

// Start returns a Redis server for t: the one at WEBHOOKD_TEST_REDIS_URL if set, else a fresh redis-server started
// with --save ” --appendonly no plus args (later arguments win, so args may say "--appendonly", "yes"), killed when
// the test ends. A server that needs a special mode (args such as --cluster-enabled yes) should use StartServer,
// which never falls back to the shared URL.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if url := os.Getenv(EnvURL); url != "" && len(args) == 0 {
		return connectShared(t, url)
	}
	return StartServer(t, args...)
}

// StartServer always starts a private redis-server, whatever WEBHOOKD_TEST_REDIS_URL says.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server is not on PATH (apt-get install redis-server)")
	}
	dir := t.TempDir()
	var lastErr error
	for range 3 { // a free port can be taken between closing our listener and redis binding it
		port, err := freePort()
		if err != nil {
			t.Fatalf("testredis: find a free port: %v", err)
		}
		srv, err := startOnce(t, bin, dir, port, args)
		if err == nil {
			return srv
		}
		lastErr = err
	}
	t.Fatalf("testredis: %v", lastErr)
	return nil
}

func startOnce(t testing.TB, bin, dir string, port int, args []string) (*Server, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	argv := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--protected-mode", "no",
	}, args...)
	cmd := exec.Command(bin, argv...)
	var log tailBuffer // the server's last output, for the failure message
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	client := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			client.Close()
			return nil, fmt.Errorf("redis-server on %s exited (%v): %s", addr, werr, log.String())
		case <-time.After(20 * time.Millisecond): // poll interval while the server boots, not synchronisation
		}
		if time.Now().After(deadline) {
			client.Close()
			stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s: %v", addr, err)
		}
	}
	client.Close()
	srv := &Server{
		Addr:   addr,
		Client: redis.NewClient(&redis.Options{Addr: addr}),
		Prefix: uniquePrefix(),
	}
	t.Cleanup(func() {
		srv.Client.Close()
		stop()
	})
	return srv, nil
}

func connectShared(t testing.TB, url string) *Server {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("testredis: %s: %v", EnvURL, err)
	}
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("testredis: %s=%s: PING: %v", EnvURL, url, err)
	}
	t.Cleanup(func() { client.Close() })
	return &Server{Addr: opt.Addr, Client: client, Prefix: uniquePrefix(), Shared: true}
}

// unavailable skips the test, or fails it under CI=true.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("testredis: %s; CI=true, so this is a failure, not a skip", why)
	}
	t.Skipf("testredis: %s", why)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("listener has no TCP address")
	}
	return addr.Port, nil
}

// tailBuffer keeps the last 4 KiB written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 4096; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}

func uniquePrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "test:" + hex.EncodeToString(b[:]) + ":"
}
