package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClientCalls(t *testing.T) {
	a := newClAPI(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/checkin":
			io.WriteString(w, `{"_tag":"Idle","echo":`+string(b)+`}`)
		case "/locked":
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"_tag":"Locked"}`)
		default:
			io.WriteString(w, `{"_tag":"Surprise"}`)
		}
	}))
	defer backend.Close()

	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme")
	ep := strings.TrimSpace(a.ok(t, "endpoints", "create", "--tenant", "acme", "--kind", "calls", "--error-tag", "Locked",
		"--schema", `/strict={"type":"object","properties":{"_tag":{"const":"Idle"}}}`, "-q", backend.URL))
	wantFields(t, "endpoints show", a.ok(t, "endpoints", "show", "--tenant", "acme", ep), "kind", "calls")

	out := a.ok(t, "calls", "send", "--tenant", "acme", "--endpoint", ep, "--path", "/checkin", "--timeout", "2s", `{"udid":"d-1"}`)
	wantFields(t, "calls send", out, "outcome", "ok", "status", "200", "body", `{"_tag":"Idle","echo":{"udid":"d-1"}}`)
	if got := strings.TrimSpace(a.ok(t, "calls", "send", "--tenant", "acme", "--endpoint", ep, "--path", "/checkin", "-q", `[1]`)); got != `{"_tag":"Idle","echo":[1]}` {
		t.Fatalf("calls send -q: %q", got)
	}
	wantFields(t, "typed error", a.ok(t, "calls", "send", "--tenant", "acme", "--endpoint", ep, "--path", "/locked", `{}`),
		"outcome", "typed_error", "tag", "Locked", "status", "409")
	out = a.ok(t, "calls", "send", "--tenant", "acme", "--endpoint", ep, "--path", "/strict", `{}`)
	wantFields(t, "schema", out, "outcome", "bad_response")
	mustContain(t, "schema", out, "does not meet the schema of /strict")

	if code, _, errOut := a.wh(t, "calls", "send", "--tenant", "acme", "--endpoint", ep, "--path", "/x", `{nope`); code != 2 ||
		!strings.Contains(errOut, "not valid JSON") {
		t.Fatalf("invalid JSON: exit %d: %s", code, errOut)
	}
	if code, _, errOut := a.wh(t, "calls", "send", "--tenant", "acme", "--endpoint", "ep_none", "--path", "/x", `{}`); code != 1 ||
		!strings.Contains(errOut, "not_found") {
		t.Fatalf("unknown endpoint: exit %d: %s", code, errOut)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		ids := strings.Fields(a.ok(t, "calls", "list", "--tenant", "acme", ep, "-q"))
		if len(ids) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call log: %d entries, want 4", len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
	mustContain(t, "calls list", a.ok(t, "calls", "list", "--tenant", "acme", ep), "OUTCOME", "typed_error", "Locked", "/checkin")
}
