package main_test

// TestReadmeWalkthrough runs the README's "Five minutes with webhookd" shell blocks, as written, with bash against a
// freshly started gateway, so that the walkthrough cannot rot.

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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

func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary and bash")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on PATH")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the walkthrough uses curl, which is not on PATH")
	}
	script := walkthrough(t, filepath.Join("..", "..", "README.md"))

	// The walkthrough runs at the repository root after make run: bin/webhookd is the binary and
	// data/operator-token holds the operator token. Build that in a temp dir.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binPath, filepath.Join(dir, "bin", "webhookd")); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "operator-token"), []byte(operatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, data)

	// The gateway and the receiver listen where this test can, not on 8080 and 9000, which may be taken: the curl
	// lines name them, and the client commands take the gateway from WEBHOOKD_URL.
	script = strings.NewReplacer("127.0.0.1:8080", g.addr, "127.0.0.1:9000", freePort(t)).Replace(script)
	prelude := "set -ex\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-c", prelude+script)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEBHOOKD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "WEBHOOKD_URL=http://"+g.addr)
	cmd.WaitDelay = 5 * time.Second // the receiver runs in the background and shares the output
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README walkthrough failed: %v\n--- script ---\n%s\n--- output ---\n%s\n--- gateway log ---\n%s",
			err, script, out, g.logs)
	}

	// What the receiver printed: one JSON object per verified message. The receiver runs in the background and
	// shares the output with the commands, so its object may start mid-line (each is one write, so it is whole):
	// decode every object wherever it starts.
	byType := map[string]int{}
	const start = `{"id":"msg_`
	text := out.String()
	for i := strings.Index(text, start); i >= 0; {
		var m struct {
			ID           string `json:"id"`
			VerifiedWith string `json:"verified_with"`
			Body         struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			} `json:"body"`
		}
		obj := text[i:]
		if err := json.NewDecoder(strings.NewReader(obj)).Decode(&m); err != nil {
			t.Errorf("receiver output at %q: %v", obj[:min(len(obj), 200)], err)
		} else {
			if m.VerifiedWith != "v1 (key 0)" {
				t.Errorf("receiver message %s: verified with %q, want v1 (key 0)", m.ID, m.VerifiedWith)
			}
			if m.Body.Type == "device.enrolled" && !bytes.Contains(m.Body.Data, []byte(`"device_id":"d-42"`)) {
				t.Errorf("receiver message %s: not the published data: %s", m.ID, m.Body.Data)
			}
			byType[m.Body.Type]++
		}
		next := strings.Index(text[i+1:], start)
		if next < 0 {
			break
		}
		i += 1 + next
	}
	// The retry repeats the webhook-id: the receiver's deduplication answers it without printing it again.
	if byType["device.enrolled"] != 1 || byType["webhookd.test"] != 1 {
		t.Errorf("the receiver printed %v; want device.enrolled once (the retry is deduplicated) and webhookd.test once\n%s",
			byType, out)
	}
}
