package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text, ünïcödé", "plain text, ünïcödé"},
		{"\x1b[2J", `\x1b[2J`},
		{"\x1b]0;owned\x07", `\x1b]0;owned\x07`},
		{"a\nb\tc\rd", `a\nb\tc\rd`},
		{"del\x7f", `del\x7f`},
		{"csi \u009b2J, osc \u009d0;x", `csi \u009b2J, osc \u009d0;x`},
		{"not utf-8 \x9b2J \xff", `not utf-8 \x9b2J \xff`},
		{"", ""},
	} {
		if got := printable(c.in); got != c.want {
			t.Errorf("printable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestClientEscapesControls: text from a tenant (description, metadata) and from a receiver (its response body) is
// printed escaped by the table and field printers, so it cannot clear the operator's screen (ESC[2J) or retitle the
// window (ESC]0;); --json gives the API's answer exactly.
func TestClientEscapesControls(t *testing.T) {
	const clear, title = "\x1b[2J", "\x1b]0;owned\x07"
	a := newClAPI(t)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("down " + clear + title))
	}))
	t.Cleanup(evil.Close)

	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme"+clear)
	ep := strings.TrimSpace(a.ok(t, "endpoints", "create", "--tenant", "acme", evil.URL+"/hooks", "-q",
		"--description", "sync"+clear, "--metadata", "team=ops"+title))
	a.ok(t, "events", "publish", "--tenant", "acme", "--type", "device.enrolled", `{"device_id": "d-1"}`)
	a.waitSettled(t, "acme")
	dlv := strings.TrimSpace(a.ok(t, "deliveries", "list", "--tenant", "acme", "-q"))

	for _, args := range [][]string{
		{"tenants", "show", "acme"},
		{"tenants", "list"},
		{"endpoints", "show", "--tenant", "acme", ep},
		{"deliveries", "show", "--tenant", "acme", dlv},
	} {
		out := a.ok(t, args...)
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("webhookd %s printed a raw control character:\n%q", strings.Join(args, " "), out)
		}
		if !strings.Contains(out, `\x1b[2J`) && !strings.Contains(out, `\x1b]0;owned\x07`) {
			t.Errorf("webhookd %s: the escaped text is missing:\n%s", strings.Join(args, " "), out)
		}
	}
	out := a.ok(t, "endpoints", "show", "--tenant", "acme", ep)
	mustContain(t, "endpoints show", out, `sync\x1b[2J`, `team=ops\x1b]0;owned\x07`)
	mustContain(t, "deliveries show", a.ok(t, "deliveries", "show", "--tenant", "acme", dlv), `down \x1b[2J\x1b]0;owned\x07`)

	// --json stays exact: the same strings come back.
	e := a.okJSON(t, "endpoints", "show", "--tenant", "acme", ep)
	if e["description"] != "sync"+clear || e["metadata"].(map[string]any)["team"] != "ops"+title {
		t.Errorf("endpoints show --json: %v", e)
	}
	d := a.okJSON(t, "deliveries", "show", "--tenant", "acme", dlv)
	if r := d["attempt_log"].([]any)[0].(map[string]any)["response"]; r != "down "+clear+title {
		t.Errorf("deliveries show --json: response %q", r)
	}
}

// TestClientEscapesControlsInErrors: an error line on stderr echoes what it was given (here the --url, and an id in a
// not-found answer) and must not pass control characters through either.
func TestClientEscapesControlsInErrors(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme")
	for _, args := range [][]string{
		{"tenants", "list", "--url", "http://127.0.0.1:1/\x1b[2J", "--token", clOperatorToken},
		{"endpoints", "show", "--tenant", "acme", "ep_x\x1b[2J", "--url", a.url, "--token", clOperatorToken},
	} {
		code, _, errOut := run(t, "", args...)
		if code == 0 {
			t.Fatalf("webhookd %s succeeded", strings.Join(args, " "))
		}
		if strings.ContainsAny(errOut, "\x1b") {
			t.Errorf("webhookd %s: the error line carries a raw escape: %q", args[0], errOut)
		}
		mustContain(t, args[0], errOut, `\x1b[2J`)
	}
}
