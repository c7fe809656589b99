package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPublishSendsDataAsTyped: events publish sends the DATA bytes the user typed, whitespace and <, >, & included,
// inside the event envelope; the server sees exactly them.
func TestPublishSendsDataAsTyped(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.Path + " " + string(b)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"id":"msg_1","fanout":1,"duplicate":false}`)
	}))
	defer srv.Close()
	const data = `{"html":"<b>&</b>",  "sp" : 1}`
	code, out, errOut := run(t, "", "events", "publish", "--url", srv.URL, "--token", "t", "--tenant", "acme",
		"--type", "device.enrolled", "--id", "e-1", "-q", "  "+data+"\n")
	if code != 0 || out != "msg_1\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := `POST /v1/tenants/acme/events {"type":"device.enrolled","id":"e-1","data":` + data + `}`
	if g := <-got; g != want {
		t.Errorf("the server got\n%s\nwant\n%s", g, want)
	}
}
