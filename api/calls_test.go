package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A call may outlast the server's write timeout (webhookd serves with 30s, and a call's budget may be 30s): the
// handler gives its answer room, so the console gets the outcome instead of a cut connection.
func TestCallOutlastsWriteTimeout(t *testing.T) {
	e := newEnv(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		time.Sleep(400 * time.Millisecond) // the backend's own pace, not synchronisation
		io.WriteString(w, `{"_tag":"Idle"}`)
	}))
	defer slow.Close()
	tok := e.tenant("ten_a")
	ep := e.endpoint("ten_a", tok, map[string]any{"url": slow.URL, "kind": "calls"})

	srv := httptest.NewUnstartedServer(e.s.handler())
	srv.Config.WriteTimeout = 150 * time.Millisecond
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/tenants/ten_a/calls",
		strings.NewReader(`{"endpoint_id":"`+ep+`","path":"/checkin","body":{},"timeout":"2s"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the answer was cut: %v", err)
	}
	defer resp.Body.Close()
	var out struct{ Outcome string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Outcome != "ok" {
		t.Fatalf("%d %+v %v", resp.StatusCode, out, err)
	}
}
