package cli

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// stderrRecorder is serve's stderr: it counts write calls, as the process's stderr would see them.
type stderrRecorder struct {
	mu     sync.Mutex
	writes []string
	wrote  chan struct{} // a signal after each write (not queued)
}

func (r *stderrRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, string(p))
	r.mu.Unlock()
	select {
	case r.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (r *stderrRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

// runServeLogged runs `webhookd serve` through Main with stderr recorded and the extra flags, makes one API request
// once it answers, and calls during(rec) before ending it. It returns what stderr received.
func runServeLogged(t *testing.T, during func(*stderrRecorder), extra ...string) []string {
	t.Helper()
	t.Setenv(envSecretKey, "")
	t.Setenv(envSecretKeys, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const token = "operator-token-0123456789abcdef"
	args := append([]string{"serve", "--listen", addr, "--data", t.TempDir(), "--operator-token", token,
		"--metrics=false", "--adaptive-procs=false"}, extra...)
	rec := &stderrRecorder{wrote: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, args, IO{In: strings.NewReader(""), Out: rec, Err: rec}) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	var resp *http.Response
	for deadline := time.Now().Add(20 * time.Second); ; {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/tenants", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %q", code, rec.snapshot())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the listener is not up yet: try again
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/tenants: %d", resp.StatusCode)
	}
	during(rec)
	cancel()
	code := <-done
	stopped = true
	if code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
	return rec.snapshot()
}

// TestServeLogBuffered: with --log-buffer, serve's info lines wait for their batch (an hour here) and are all
// written, in one write, when serve stops. A warning goes out at once.
func TestServeLogBuffered(t *testing.T) {
	writes := runServeLogged(t, func(rec *stderrRecorder) {
		for _, w := range rec.snapshot() {
			if strings.Contains(w, "level=INFO") {
				t.Errorf("info lines written before their batch was due: %q", w)
			}
		}
	}, "--log-buffer", "1h")
	var info []string
	for _, w := range writes {
		if strings.Contains(w, "level=INFO") {
			info = append(info, w)
		}
	}
	if len(info) != 1 {
		t.Fatalf("info lines in %d writes, want the whole batch in one: %q", len(info), writes)
	}
	for _, want := range []string{`msg="webhookd serving"`, `msg="http request"`, `path=/v1/tenants`, `msg="webhookd stopped"`} {
		if !strings.Contains(info[0], want) {
			t.Errorf("stderr lacks %s: %q", want, info[0])
		}
	}
	// Without an operator key, serve warns at start: that line is written before the info lines.
	if !strings.Contains(writes[0], "level=WARN") || !strings.Contains(writes[0], "no operator key") {
		t.Errorf("the start-up warning was not written first, at once: %q", writes)
	}
}

// TestServeLogUnbuffered: --log-buffer=0 writes each line as it is logged, the request's before serve stops.
func TestServeLogUnbuffered(t *testing.T) {
	writes := runServeLogged(t, func(rec *stderrRecorder) {
		for deadline := time.Now().Add(10 * time.Second); ; {
			w := strings.Join(rec.snapshot(), "")
			if strings.Contains(w, `msg="webhookd serving"`) && strings.Contains(w, `path=/v1/tenants`) {
				return
			}
			select {
			case <-rec.wrote: // the access line is logged after the response is sent
			case <-time.After(time.Until(deadline)):
				t.Fatalf("lines not written while serving: %q", w)
			}
		}
	}, "--log-buffer", "0")
	for _, w := range writes {
		if strings.Count(w, "\n") != 1 {
			t.Fatalf("a write of %d lines without a buffer: %q", strings.Count(w, "\n"), w)
		}
	}
}

// TestServeLogBufferNegative: a negative --log-buffer is refused at start with a message that names the flag.
func TestServeLogBufferNegative(t *testing.T) {
	rec := &stderrRecorder{wrote: make(chan struct{}, 1)}
	code := Main(context.Background(), []string{"serve", "--data", t.TempDir(), "--log-buffer", "-1s"},
		IO{In: strings.NewReader(""), Out: rec, Err: rec})
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if out := strings.Join(rec.snapshot(), ""); !strings.Contains(out, "--log-buffer -1s") {
		t.Errorf("stderr %q does not name the flag", out)
	}
}
