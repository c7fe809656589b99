package main_test

// TestReadmeWalkthrough runs the README's "Five minutes with webhookd" shell blocks, as written, with bash against a
// freshly started gateway, so that the walkthrough cannot rot; twice, for it must be safe to run again; and with its
// receiver's port taken, for it must then stop at once.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/client"
)

const walkthroughHeading = "## Five minutes with webhookd"

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// walkthrough returns the shell blocks of the README's walkthrough section, joined in order.
func walkthrough(t *testing.T, readme string) string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), walkthroughHeading+"\n")
	if !ok {
		t.Fatalf("%s has no %q section", readme, walkthroughHeading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for _, m := range shBlock.FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) == 0 {
		t.Fatalf("%s: no ```sh block under %q", readme, walkthroughHeading)
	}
	return strings.Join(blocks, "\n")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// walkthroughDir is a working directory laid out as the repository root after make run: bin/webhookd is the binary
// and data/operator-token holds the operator token. It returns the directory and the data directory.
func walkthroughDir(t *testing.T) (dir, data string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binPath, filepath.Join(dir, "bin", "webhookd")); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "operator-token"), []byte(operatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, data
}

// runWalkthrough runs script with bash in dir, as a reader would paste it into a fresh shell, with API and HOOKS
// set (the walkthrough reads them, so that it runs as written wherever the ports are free). It returns the output
// and bash's error.
func runWalkthrough(t *testing.T, bash, script, dir, api, hooks string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "--norc", "-c", script)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEBHOOKD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "API="+api, "HOOKS="+hooks)
	cmd.WaitDelay = 5 * time.Second // the receiver runs in the background and shares the output
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	return out.String(), err
}

func walkthroughTools(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the binary and bash")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on PATH")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the walkthrough uses curl, which is not on PATH")
		}
		t.Skip("the walkthrough uses curl, which is not on PATH")
	}
	return bash
}

// TestReadmeWalkthrough runs the walkthrough twice in a row against one gateway, as written: a second run in the
// same place must work as the first did.
func TestReadmeWalkthrough(t *testing.T) {
	bash := walkthroughTools(t)
	script := walkthrough(t, filepath.Join("..", "..", "README.md"))
	dir, data := walkthroughDir(t)
	g := startGateway(t, data)
	hooks := freePort(t)
	for run := 1; run <= 2; run++ {
		out, err := runWalkthrough(t, bash, script, dir, g.addr, hooks)
		if err != nil {
			t.Fatalf("run %d of the README walkthrough failed: %v\n--- output ---\n%s\n--- gateway log ---\n%s",
				run, err, out, g.logs)
		}
		checkReceiverOutput(t, run, out)
	}
}

// TestReadmeWalkthroughPortTaken: with the receiver's port held by another listener, the walkthrough stops at once
// with a message that says so, and never reports a delivery: whether the listener speaks HTTP (and would take the
// deliveries) or not.
func TestReadmeWalkthroughPortTaken(t *testing.T) {
	bash := walkthroughTools(t)
	script := walkthrough(t, filepath.Join("..", "..", "README.md"))
	dir, data := walkthroughDir(t)
	g := startGateway(t, data)

	var posts atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer other.Close()

	raw, err := net.Listen("tcp", "127.0.0.1:0") // accepts and says nothing
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	go func() {
		for {
			c, err := raw.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	for _, tt := range []struct {
		name, addr, want string
	}{
		{"an HTTP server", other.Listener.Addr().String(), "something already listens on " + other.Listener.Addr().String()},
		{"a TCP listener", raw.Addr().String(), "webhookd receive: cannot listen on " + raw.Addr().String()},
	} {
		start := time.Now()
		out, err := runWalkthrough(t, bash, script, dir, g.addr, tt.addr)
		took := time.Since(start)
		switch {
		case err == nil:
			t.Errorf("%s on the receiver's port: the walkthrough went on\n%s", tt.name, out)
		case !strings.Contains(out, tt.want):
			t.Errorf("%s on the receiver's port: the output does not say %q\n%s", tt.name, tt.want, out)
		case took > 10*time.Second:
			t.Errorf("%s on the receiver's port: the walkthrough took %v to stop", tt.name, took)
		}
		if strings.Contains(out, "dlv_") || strings.Contains(out, "succeeded") {
			t.Errorf("%s on the receiver's port: the walkthrough reported a delivery\n%s", tt.name, out)
		}
	}
	if n := posts.Load(); n != 0 {
		t.Errorf("the other listener got %d deliveries", n)
	}
	if eps, err := g.api().ListEndpoints(context.Background(), "acme", client.Page{}); err == nil && len(eps.Data) > 0 {
		t.Errorf("the walkthrough registered %d endpoints on someone else's port", len(eps.Data))
	}
}

// checkReceiverOutput checks what the receiver printed: one JSON object per verified message, device.enrolled once
// (the retry is deduplicated) and webhookd.test once, each verified with the first key.
func checkReceiverOutput(t *testing.T, run int, text string) {
	t.Helper()
	// The receiver runs in the background and shares the output with the commands, so its object may start
	// mid-line (each is one write, so it is whole): decode every object wherever it starts.
	byType := map[string]int{}
	const start = `{"id":"msg_`
	for i := strings.Index(text, start); i >= 0; {
		var m struct {
			ID           string    `json:"id"`
			Timestamp    time.Time `json:"timestamp"`
			VerifiedWith string    `json:"verified_with"`
			Body         struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			} `json:"body"`
		}
		obj := text[i:]
		if err := json.NewDecoder(strings.NewReader(obj)).Decode(&m); err != nil {
			t.Errorf("run %d: receiver output at %q: %v", run, obj[:min(len(obj), 200)], err)
		} else {
			if m.VerifiedWith != "v1 (key 1)" || m.Timestamp.IsZero() {
				t.Errorf("run %d: receiver message %s: verified with %q at %v, want v1 (key 1) and a timestamp",
					run, m.ID, m.VerifiedWith, m.Timestamp)
			}
			if m.Body.Type == "device.enrolled" && !bytes.Contains(m.Body.Data, []byte(`"device_id": "d-42"`)) {
				t.Errorf("run %d: receiver message %s: not the published data, as typed: %s", run, m.ID, m.Body.Data)
			}
			byType[m.Body.Type]++
		}
		next := strings.Index(text[i+1:], start)
		if next < 0 {
			break
		}
		i += 1 + next
	}
	if byType["device.enrolled"] != 1 || byType["webhookd.test"] != 1 {
		t.Errorf("run %d: the receiver printed %v; want device.enrolled once (the retry is deduplicated) and webhookd.test once\n%s",
			run, byType, text)
	}
	if !strings.Contains(text, ": duplicate, answered 200, not printed again") {
		t.Errorf("run %d: the receiver did not report the retry as a duplicate\n%s", run, text)
	}
}
