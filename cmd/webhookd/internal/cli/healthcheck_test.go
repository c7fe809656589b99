package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready {
			http.Error(w, `{"code":"not_ready"}`, http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if code, _, errOut := run(t, "", "healthcheck", "--url", srv.URL+"/readyz"); code != 0 {
		t.Fatalf("ready gateway: exit %d: %s", code, errOut)
	}
	ready = false
	if code, _, errOut := run(t, "", "healthcheck", "--url", srv.URL+"/readyz"); code != 1 || !strings.Contains(errOut, "503") {
		t.Fatalf("unready gateway: exit %d: %s", code, errOut)
	}
	srv.Close()
	if code, _, _ := run(t, "", "healthcheck", "--url", srv.URL+"/readyz", "--timeout", "1s"); code != 1 {
		t.Fatalf("no gateway: exit %d, want 1", code)
	}
}

func TestProbeURL(t *testing.T) {
	for listen, want := range map[string]string{
		"":               "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		":9000":          "http://127.0.0.1:9000/readyz",
		"[::]:8080":      "http://[::1]:8080/readyz",
		"10.0.0.5:8443":  "http://10.0.0.5:8443/readyz",
		"127.0.0.1:8080": "http://127.0.0.1:8080/readyz",
	} {
		if got := probeURL(listen); got != want {
			t.Errorf("probeURL(%q) = %q, want %q", listen, got, want)
		}
	}
}
