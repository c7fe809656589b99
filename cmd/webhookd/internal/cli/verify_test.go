package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

const (
	testSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testSecret2 = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	testPriv    = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbc="
	testPub     = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
)

// signed renders one message under profile p at time at, signed with keys, and writes its headers (curl -D style,
// with a status line and CRLF) and body to files. It returns the two paths and the message.
func signed(t *testing.T, p profiles.Profile, at time.Time, keys ...string) (headers, body string, m *signing.Message) {
	t.Helper()
	parsed := make([]signing.Key, len(keys))
	for i, s := range keys {
		k, err := p.ParseKey(s)
		if err != nil {
			t.Fatal(err)
		}
		parsed[i] = k
	}
	m = &signing.Message{ID: signing.NewMessageID(), Type: "device.enrolled", Timestamp: at, Data: json.RawMessage(`{"id":"d1"}`)}
	b := p.AppendBody(nil, m)
	h := http.Header{}
	p.SetHeaders(h, m, b, at, parsed)
	dir := t.TempDir()
	headers, body = filepath.Join(dir, "headers.txt"), filepath.Join(dir, "body.json")
	writeFile(t, headers, "HTTP/1.1 200 OK\r\n"+headerLines(h, "\r\n")+"\r\n")
	writeFile(t, body, string(b))
	return headers, body, m
}

func headerLines(h http.Header, eol string) string {
	var names []string
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		for _, v := range h[name] {
			b.WriteString(strings.ToLower(name) + ": " + v + eol)
		}
	}
	return b.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertNoKeys fails if any key's material appears in the output.
func assertNoKeys(t *testing.T, out string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		_, material, _ := strings.Cut(k, "_")
		if material == "" {
			material = k
		}
		if strings.Contains(out, material) {
			t.Fatalf("output %q contains a key", out)
		}
	}
}

func TestVerifyStandard(t *testing.T) {
	now := time.Now()
	headers, body, m := signed(t, profiles.Standard, now, testSecret2, testPriv)

	code, out, errOut := run(t, "", "verify", "--key", testSecret, "--key", testSecret2, "--headers", headers, "--body", body)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"verified: signature #1 (v1) matches --key #2", "message id: " + m.ID.String(), "timestamp: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	assertNoKeys(t, out+errOut, testSecret, testSecret2)

	// The ed25519 signature, second in the header, under the public key; body on standard input.
	code, out, _ = run(t, readFile(t, body), "verify", "--key", testPub, "--headers", headers, "--body", "-")
	if code != 0 || !strings.Contains(out, "signature #2 (v1a) matches --key #1") {
		t.Fatalf("v1a: exit %d, %q", code, out)
	}

	// A changed body: exit 1 and the reason.
	tampered := filepath.Join(t.TempDir(), "body")
	writeFile(t, tampered, readFile(t, body)+" ")
	code, out, _ = run(t, "", "verify", "--key", testSecret, "--headers", headers, "--body", tampered)
	if code != 1 || !strings.Contains(out, "not verified: webhook-signature: no matching signature") {
		t.Fatalf("tampered: exit %d, %q", code, out)
	}
	assertNoKeys(t, out, testSecret)
}

func TestVerifyTimestamps(t *testing.T) {
	headers, body, _ := signed(t, profiles.Standard, time.Now().Add(-10*time.Minute), testSecret)
	base := []string{"verify", "--key", testSecret, "--headers", headers, "--body", body}

	code, out, _ := run(t, "", base...)
	if code != 1 || !strings.Contains(out, "timestamp too old") {
		t.Fatalf("10 minutes old: exit %d, %q", code, out)
	}
	if code, out, _ := run(t, "", append(base, "--no-timestamp-check")...); code != 0 {
		t.Fatalf("--no-timestamp-check: exit %d, %q", code, out)
	}
	if code, out, _ := run(t, "", append(base, "--tolerance", "1h")...); code != 0 {
		t.Fatalf("--tolerance 1h: exit %d, %q", code, out)
	}
	if code, out, _ := run(t, "", append(base, "--tolerance", "9m")...); code != 1 || !strings.Contains(out, "tolerance 9m0s") {
		t.Fatalf("--tolerance 9m: exit %d, %q", code, out)
	}
}

func TestVerifyWholeRequest(t *testing.T) {
	at := time.Now()
	headers, body, _ := signed(t, profiles.Standard, at, testSecret)
	for name, eol := range map[string]string{"CRLF": "\r\n", "LF": "\n"} {
		// The headers file ends with a blank line; drop it, the request below adds its own.
		rawHeaders := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(readFile(t, headers), "HTTP/1.1 200 OK\r\n"), "\r\n"), "\r\n", eol)
		req := "POST /webhooks HTTP/1.1" + eol + "Host: example.com" + eol + rawHeaders + eol + readFile(t, body)
		code, out, errOut := run(t, req, "verify", "--key", testSecret)
		if code != 0 {
			t.Fatalf("%s: exit %d, %q %q", name, code, out, errOut)
		}
	}
}

func TestVerifyOpenMDMAndMender(t *testing.T) {
	const omSecret = "openmdm-secret-0123456789"
	old := time.Now().Add(-time.Hour)
	headers, body, m := signed(t, profiles.OpenMDM, old, omSecret)
	code, out, _ := run(t, "", "verify", "--profile", "openmdm", "--key", omSecret, "--headers", headers, "--body", body)
	if code != 0 || !strings.Contains(out, "(sha256) matches --key #1") || !strings.Contains(out, m.ID.UUID()) {
		t.Fatalf("openmdm: exit %d, %q", code, out)
	}
	// Setting --tolerance turns openmdm's (opt-in) timestamp check on.
	code, out, _ = run(t, "", "verify", "--profile", "openmdm", "--key", omSecret, "--headers", headers, "--body", body, "--tolerance", "5m")
	if code != 1 || !strings.Contains(out, "timestamp too old") {
		t.Fatalf("openmdm --tolerance: exit %d, %q", code, out)
	}
	assertNoKeys(t, out, omSecret)

	// profiles.md's Mender known answer, headers as written by hand (no status line, LF).
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "h"), "Content-Type: application/json\nX-Men-Signature: ccb874ef78c9126aace1edc0735e7c8b65ed01b1c47c5981ef68a351b53a4d75\n")
	writeFile(t, filepath.Join(dir, "b"), "{}")
	code, out, _ = run(t, "", "verify", "--profile", "mender", "--key", "00", "--key", "deadbeef", "--headers", filepath.Join(dir, "h"), "--body", filepath.Join(dir, "b"))
	if code != 0 || !strings.Contains(out, "matches --key #2") {
		t.Fatalf("mender: exit %d, %q", code, out)
	}
	writeFile(t, filepath.Join(dir, "b"), "{ }")
	code, out, _ = run(t, "", "verify", "--profile", "mender", "--key", "deadbeef", "--headers", filepath.Join(dir, "h"), "--body", filepath.Join(dir, "b"))
	if code != 1 || !strings.Contains(out, "X-Men-Signature: no matching signature") {
		t.Fatalf("mender, other body: exit %d, %q", code, out)
	}
}

func TestVerifyUsage(t *testing.T) {
	headers, body, _ := signed(t, profiles.Standard, time.Now(), testSecret)
	dir := t.TempDir()
	badHeaders := filepath.Join(dir, "bad")
	writeFile(t, badHeaders, "webhook-id msg_x\n")
	emptyHeaders := filepath.Join(dir, "empty")
	writeFile(t, emptyHeaders, "HTTP/1.1 200 OK\r\n\r\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--headers", headers, "--body", body}, "--key is required"},
		{[]string{"verify", "--key", "whsec_c2hvcnQ=", "--headers", headers, "--body", body}, "key 0"},
		{[]string{"verify", "--key", testPriv, "--headers", headers, "--body", body}, "whpk_"},
		{[]string{"verify", "--key", testSecret, "--profile", "svix", "--headers", headers, "--body", body}, "unknown profile"},
		{[]string{"verify", "--key", testSecret, "--headers", "-", "--body", "-"}, "both be standard input"},
		{[]string{"verify", "--key", testSecret, "--headers", filepath.Join(dir, "missing"), "--body", body}, "no such file"},
		{[]string{"verify", "--key", testSecret, "--headers", headers, "--body", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"verify", "--key", testSecret, "--headers", badHeaders, "--body", body}, "line 1"},
		{[]string{"verify", "--key", testSecret, "--headers", emptyHeaders, "--body", body}, "no headers"},
		{[]string{"verify", "--key", testSecret, "--body", body}, "no blank line"},
		{[]string{"verify", "--key", testSecret, "--headers", headers, "--body", body, "--tolerance", "1m", "--no-timestamp-check"}, "contradict"},
		{[]string{"verify", "--key", testSecret, "--headers", headers, "--body", body, "--tolerance", "-1m"}, "positive"},
		{[]string{"verify", "--profile", "mender", "--key", "deadbeef", "--headers", headers, "--body", body, "--tolerance", "1m"}, "no timestamp"},
		{[]string{"verify", "--key", testSecret, "--headers", headers, "--body", body, "extra"}, "unexpected argument"},
		{[]string{"verify", "--bogus"}, "unknown flag --bogus"},
	}
	for _, tt := range tests {
		code, out, errOut := run(t, "", tt.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, out %q, err %q; want 2 and %q", tt.args, code, out, errOut, tt.want)
		}
		assertNoKeys(t, errOut, testSecret, testPriv, "whsec_c2hvcnQ=")
	}
	if code, out, errOut := run(t, "", "verify", "-h"); code != 0 || !strings.Contains(out, "Exit status") || errOut != "" {
		t.Fatalf("verify -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestParseHeaders(t *testing.T) {
	raw := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nWebhook-Id: msg_1\r\nX-Long: a\r\n  b\r\nwebhook-signature: v1,x\r\nWebhook-Signature: v1,y\r\nEmpty:\r\n"
	h, err := parseHeaders([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Webhook-Id") != "msg_1" || h.Get("X-Long") != "a b" || len(h.Values("Webhook-Signature")) != 2 || h.Get("Empty") != "" {
		t.Fatalf("%v", h)
	}
	if _, ok := h["Empty"]; !ok {
		t.Fatal("an empty header was dropped")
	}
	// A second block (curl -D after a redirect) replaces the first.
	h, _ = parseHeaders([]byte("HTTP/1.1 301 Moved\nLocation: /x\n\nHTTP/1.1 200 OK\nA: 1\n"))
	if h.Get("Location") != "" || h.Get("A") != "1" {
		t.Fatalf("%v", h)
	}
	if _, err := parseHeaders([]byte("  folded: first\n")); err == nil {
		t.Fatal("continuation without a header accepted")
	}
}
