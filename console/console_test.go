package console_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/console"
)

func TestHeaders(t *testing.T) {
	h, err := console.New(console.Config{Title: `Acme <EMM> "Hooks"`, Accent: "#AB12ef", FrameAncestors: "https://emm.example.com 'self'"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, p := range []string{"/console/", "/console/js/app.js", "/console/style.css", "/console/theme.css", "/console/nope.js"} {
		resp, _ := get(p)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self';",
			"frame-ancestors https://emm.example.com 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP allows something unsafe: %s", p, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", p, resp.Header)
		}
		if resp.Header.Get("X-Frame-Options") != "" {
			t.Errorf("%s: X-Frame-Options with frame ancestors allowed", p)
		}
	}
	resp, page := get("/console/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page, "<title>Acme &lt;EMM&gt; &#34;Hooks&#34;</title>") || strings.Contains(page, "<script>") {
		t.Errorf("page: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	if resp, js := get("/console/js/app.js"); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(js, "import") {
		t.Errorf("app.js: %v", resp.Header)
	}
	if _, css := get("/console/theme.css"); css != ":root { --accent: #ab12ef; }\n" {
		t.Errorf("theme.css %q", css)
	}
	for _, p := range []string{"/console/js/", "/console/nope.js", "/console/index.html/"} {
		if resp, _ := get(p); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404 (no listings)", p, resp.StatusCode)
		}
	}
	resp, _ = get("/console")
	if resp.Request.URL.Path != "/console/" {
		t.Errorf("/console lands on %s", resp.Request.URL.Path)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/console/", nil)
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST: %v %v", resp, err)
	}
}

func TestDefaultsNeverFramed(t *testing.T) {
	h, err := console.New(console.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/console/", nil))
	if csp := w.Header().Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") ||
		w.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("default framing: %v", w.Header())
	}
	if !strings.Contains(w.Body.String(), "<title>Webhooks</title>") {
		t.Errorf("default title: %s", w.Body.String())
	}
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []console.Config{
		{Accent: "red; } body { display: none"},
		{Accent: "#12345"},
		{FrameAncestors: "'none' https://a.example"},
		{FrameAncestors: "*"},
		{FrameAncestors: "https://a.example; script-src *"},
		{FrameAncestors: "'unsafe-inline'"},
		{FrameAncestors: "javascript:alert(1)"},
		{Title: strings.Repeat("t", 101)},
	} {
		if _, err := console.New(c); !errors.Is(err, console.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
	for _, ok := range []string{"'self'", "https://emm.example.com", "https://*.example.com:8443 'self'", "http://localhost:3000"} {
		if err := console.CheckFrameAncestors(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// TestAssetBudget keeps the page small: its JavaScript and CSS under 150 KiB uncompressed.
func TestAssetBudget(t *testing.T) {
	total := console.AssetBytes()
	t.Logf("console JavaScript and CSS: %d bytes", total)
	if total == 0 || total >= 150<<10 {
		t.Errorf("JavaScript and CSS total %d bytes, the budget is 150 KiB", total)
	}
}
