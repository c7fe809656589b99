package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// startReceive runs webhookd receive with args until the test ends and returns its URL and its stdout and stderr
// lines as they come.
func startReceive(t *testing.T, args ...string) (url string, out, errs <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"receive", "--listen", "127.0.0.1:0"}, args...), IO{Out: outW, Err: errW})
		outW.Close()
		errW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("receive exited %d", code)
		}
	})
	lines := func(r io.Reader) <-chan string {
		c := make(chan string, 100)
		go func() {
			defer close(c)
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				c <- sc.Text()
			}
		}()
		return c
	}
	out, errs = lines(outR), lines(errR)
	first := next(t, errs)
	addr, ok := strings.CutPrefix(first, "webhookd receive: listening on ")
	if !ok {
		t.Fatalf("receive's first line: %q", first)
	}
	return strings.Fields(addr)[0], out, errs
}

func next(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-c:
		if !ok {
			t.Fatal("the output ended")
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no line in 10s")
	}
	return ""
}

// post sends one message signed with key (at time at) to url and returns the status.
func post(t *testing.T, url, key string, at time.Time, id signing.MessageID) int {
	t.Helper()
	p := profiles.Standard
	k, err := p.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	m := &signing.Message{ID: id, Type: "device.enrolled", Timestamp: at, Data: json.RawMessage(`{"d":1}`)}
	b := p.AppendBody(nil, m)
	req, err := http.NewRequest(http.MethodPost, url+"hooks", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	p.SetHeaders(req.Header, m, b, at, []signing.Key{k})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReceivePrintsEveryRequest: a verified message is one JSON line on stdout naming the key (numbered from 1, as
// endpoints show and verify number them); the handshake, a duplicate and each rejection are one line on stderr with
// the verifier's code.
func TestReceivePrintsEveryRequest(t *testing.T) {
	other, _ := signing.GenerateSecret(0)
	url, out, errs := startReceive(t, "--key", other, "--key", testSecret)

	req, _ := http.NewRequest(http.MethodOptions, url+"hooks", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if l := next(t, errs); l != "webhookd receive: OPTIONS /hooks: handshake answered 204" {
		t.Errorf("handshake line %q", l)
	}

	id := signing.NewMessageID()
	if code := post(t, url, testSecret, time.Now(), id); code != http.StatusNoContent {
		t.Fatalf("verified message: %d", code)
	}
	var m struct {
		ID           string    `json:"id"`
		Timestamp    time.Time `json:"timestamp"`
		VerifiedWith string    `json:"verified_with"`
	}
	if l := next(t, out); json.Unmarshal([]byte(l), &m) != nil || m.ID != id.String() || m.VerifiedWith != "v1 (key 2)" ||
		m.Timestamp.IsZero() {
		t.Errorf("verified line %q", l)
	}
	if code := post(t, url, testSecret, time.Now(), id); code != http.StatusOK {
		t.Fatalf("duplicate: %d", code)
	}
	if l := next(t, errs); l != "webhookd receive: POST /hooks "+id.String()+": duplicate, answered 200, not printed again" {
		t.Errorf("duplicate line %q", l)
	}

	wrong, _ := signing.GenerateSecret(0)
	for _, tt := range []struct {
		key  string
		at   time.Time
		want string
	}{
		{wrong, time.Now(), "rejected 401 no_matching_signature: "},
		{testSecret, time.Now().Add(-time.Hour), "rejected 401 timestamp_too_old: "},
	} {
		id := signing.NewMessageID()
		if code := post(t, url, tt.key, tt.at, id); code != http.StatusUnauthorized {
			t.Errorf("%s: status %d", tt.want, code)
		}
		if l := next(t, errs); !strings.HasPrefix(l, "webhookd receive: POST /hooks "+id.String()+": "+tt.want) {
			t.Errorf("line %q, want %q", l, tt.want)
		}
	}
	select {
	case l := <-out:
		t.Errorf("stdout has more than the verified message: %q", l)
	default:
	}
}

// TestReceiveFailsFast: a taken port exits 1 at once, naming the address; a bad environment value exits 2 naming
// the variable; receive does not read serve's WEBHOOKD_LISTEN.
func TestReceiveFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, out, errOut := run(t, "", "receive", "--listen", ln.Addr().String(), "--key", testSecret)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "webhookd receive: cannot listen on "+ln.Addr().String()+": ") {
		t.Errorf("port taken: exit %d, stderr %q", code, errOut)
	}

	t.Setenv("WEBHOOKD_RECEIVE_STATUS", "lots")
	code, _, errOut = run(t, "", "receive", "--key", testSecret)
	if code != 2 || !strings.Contains(errOut, `WEBHOOKD_RECEIVE_STATUS="lots" (for --status)`) {
		t.Errorf("bad WEBHOOKD_RECEIVE_STATUS: exit %d, stderr %q", code, errOut)
	}
	os.Unsetenv("WEBHOOKD_RECEIVE_STATUS") // t.Setenv puts it back as it was
	code, _, errOut = run(t, "", "receive")
	if code != 2 || !strings.Contains(errOut, "pass --key, or set WEBHOOKD_RECEIVE_KEY") {
		t.Errorf("no key: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, "", "receive", "--key", testSecret, "--lisen", "x")
	if code != 2 || !strings.Contains(errOut, "unknown flag --lisen (did you mean --listen?)") {
		t.Errorf("mistyped flag: exit %d, stderr %q", code, errOut)
	}

	// serve's variable is not receive's: with WEBHOOKD_LISTEN naming the taken port, receive still listens on its own.
	t.Setenv("WEBHOOKD_LISTEN", ln.Addr().String())
	startReceive(t, "--key", testSecret)
	code, out, errOut = run(t, "", "receive", "-h")
	if code != 0 || errOut != "" || !strings.Contains(out, "env WEBHOOKD_RECEIVE_LISTEN") {
		t.Errorf("receive -h: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}
