package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/gateway"
)

// The browser tests drive a real headless Chromium against a real gateway (embedded store on a temp dir) and real
// httptest receivers. In CI (CI=true) they run or fail; elsewhere they skip when no Chromium is installed.

// chromium finds the browser, or skips (fails in CI).
func chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("CI=true but no chromium on PATH: .ci/run installs Debian's chromium")
	}
	tb.Skip("no chromium on PATH (apt-get install chromium); the browser tests run in CI")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a context for its first tab.
func newBrowser(tb testing.TB) context.Context {
	tb.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(tb)),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	if err := open(ctx); err != nil { // starts the browser
		cancelTab()
		cancelAlloc()
		tb.Fatalf("start chromium: %v", err)
	}
	tb.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// tab opens a new tab of the browser, bounded by a timeout. The tab is opened here, on the untimed context:
// chromedp closes a tab when the context of the call that opened it ends, and a tab closed by a step's timeout
// could no longer be read for the failure message.
func tab(tb testing.TB, browser context.Context) context.Context {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	tb.Cleanup(cancel)
	if err := open(ctx); err != nil {
		tb.Fatalf("open a tab: %v", err)
	}
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	tb.Cleanup(cancelT)
	return ctx
}

// gw is one running gateway.
type gw struct {
	tb    testing.TB
	base  string
	token string
}

// startGateway runs a gateway on 127.0.0.1 with the embedded store on a temp dir; deliveries retry fast (twice).
func startGateway(tb testing.TB, mutate ...func(*gateway.Config)) *gw {
	tb.Helper()
	cfg := gateway.Config{
		Listen: "127.0.0.1:0",
		Data:   tb.TempDir(),
		Egress: egress.Policy{AllowHTTP: true, AllowPrivate: true},
		Delivery: delivery.Config{
			Retry: delivery.Retry{Initial: 20 * time.Millisecond, Cap: 50 * time.Millisecond, Count: 1, Jitter: -1},
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	g, err := gateway.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := g.Run(ctx)
		g.Close()
		done <- err
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("gateway: %v", err)
		}
	})
	return &gw{tb: tb, base: "http://" + g.Addr(), token: g.OperatorToken()}
}

// do calls the API with token; want is the status required (0: any). It returns the decoded JSON answer.
func (g *gw) do(method, path, token string, body any, want int) map[string]any {
	g.tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if want != 0 && resp.StatusCode != want {
		g.tb.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	m := map[string]any{}
	json.Unmarshal(out, &m)
	return m
}

// tenant creates a tenant and a few catalogue entries.
func (g *gw) tenant(id string) {
	g.tb.Helper()
	g.do("POST", "/v1/tenants", g.token, map[string]any{"id": id, "name": id}, 201)
	for _, t := range []map[string]any{
		{"name": "device.enrolled", "description": "A device finished enrolment.",
			"schema": map[string]any{"type": "object", "examples": []any{map[string]any{"device_id": "d-42"}}}},
		{"name": "device.wiped", "description": "A device was wiped."},
	} {
		g.do("POST", "/v1/event-types", g.token, t, 0)
	}
}

// session opens a portal session and returns its URL and id.
func (g *gw) session(tenant string, body map[string]any) (url, id string) {
	g.tb.Helper()
	s := g.do("POST", "/v1/tenants/"+tenant+"/portal-sessions", g.token, body, 201)
	return s["url"].(string), s["id"].(string)
}

// oneEndpoint starts a gateway whose tenant acme has one endpoint, described as description, to a fresh receiver,
// and opens a tab. It returns them with the endpoint's id and the URL of a console session made with session (nil:
// a full session).
func oneEndpoint(t *testing.T, description string, session map[string]any) (g *gw, ep, url string, ctx context.Context) {
	t.Helper()
	g = startGateway(t)
	g.tenant("acme")
	rc := newReceiver(t)
	ep = g.do("POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{"url": rc.URL, "description": description}, 201)["id"].(string)
	url, _ = g.session("acme", session)
	return g, ep, url, tab(t, newBrowser(t))
}

// receiver is an httptest receiver whose answers the test changes as it goes.
type receiver struct {
	*httptest.Server
	optionsStatus atomic.Int64 // the OPTIONS answer
	postStatus    atomic.Int64 // the POST answer
	postBody      atomic.Value // string: the POST answer's body
	mu            sync.Mutex
	got           []string // bodies of POSTs received
}

func newReceiver(tb testing.TB) *receiver {
	r := &receiver{}
	r.optionsStatus.Store(204)
	r.postStatus.Store(200)
	r.postBody.Store("ok")
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodOptions:
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(int(r.optionsStatus.Load()))
		case http.MethodPost:
			b, _ := io.ReadAll(req.Body)
			r.mu.Lock()
			r.got = append(r.got, string(b))
			r.mu.Unlock()
			w.WriteHeader(int(r.postStatus.Load()))
			io.WriteString(w, r.postBody.Load().(string))
		}
	}))
	tb.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// shot saves a PNG screenshot of the page into docs/console/ when WEBHOOKD_SCREENSHOTS=1.
func shot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	if os.Getenv("WEBHOOKD_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "console", name+".png"), png, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// xp is an XPath selector for an element of tag whose text contains text.
func xp(tag, text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//%s[contains(normalize-space(.), %q)]`, tag, text))
}

// labelled is an XPath selector for the control labelled label.
func labelled(label string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//label[normalize-space(.)=%q]/following-sibling::*[1]`, label))
}

// open starts the browser or opens the tab of a chromedp context that has none, on that context itself (see tab),
// giving up after stepTimeout; the context's own cancel then stops what was started.
func open(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	t := time.NewTimer(stepTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("no answer from chromium in %v", stepTimeout)
	}
}

// stepTimeout bounds each step of do, so that a step that never ends names itself while the tab can still be read.
const stepTimeout = 30 * time.Second

// do runs steps one at a time, failing the test with what it was doing, the step that failed and the page.
func do(tb testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	for i, step := range steps {
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		err := chromedp.Do(sctx, step)
		cancel()
		if err != nil {
			tb.Fatalf("%s: step %d of %d: %v\n%s", what, i+1, len(steps), err, where(ctx))
		}
	}
}

// follow clicks link until the page it leads to shows want, as a person clicks again when a click went nowhere: on a
// loaded machine a click can land before the page under the pointer is in place. A click that did change the location
// is waited for without another.
func follow(tb testing.TB, ctx context.Context, what string, link, want chromedp.Search) {
	tb.Helper()
	for try := 1; ; try++ {
		before, _ := peek(ctx, "location.href")
		do(tb, ctx, what, chromedp.Click(link))
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := chromedp.Do(wctx, chromedp.WaitVisible(want))
		cancel()
		if err == nil {
			return
		}
		if now, _ := peek(ctx, "location.href"); now != before || try == 3 {
			do(tb, ctx, what, chromedp.WaitVisible(want))
			return
		}
	}
}

// pageText is the main element's text.
func pageText(ctx context.Context) string {
	s, _ := peek(ctx, `document.querySelector("main") ? document.querySelector("main").innerText : ""`)
	return strings.TrimSpace(s)
}

// where is where the tab is and what its main element says, for failure messages.
func where(ctx context.Context) string {
	s, err := peek(ctx, `"at " + location.href + " (" + document.readyState + ")\npage: " +
		(document.querySelector("main") ? document.querySelector("main").innerText.trim() : "(no main element)")`)
	if err != nil {
		return "page unreadable: " + err.Error()
	}
	return s
}

// peek evaluates expr in the tab within 2 s, even when ctx has ended (a failed step's).
func peek(ctx context.Context, expr string) (string, error) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Evaluate[string](expr))
}

// eval evaluates a JavaScript expression in the page (awaiting a promise).
func eval[T any](tb testing.TB, ctx context.Context, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("evaluate %s: %v\n%s", expr, err, where(ctx))
	}
	return v
}

// text reads the text of the first element sel matches.
func text[S chromedp.Selectable](tb testing.TB, ctx context.Context, sel S) string {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		tb.Fatalf("text of %v: %v\n%s", sel, err, where(ctx))
	}
	return v
}

// grantClipboard lets pages of origin read and write the clipboard (headless Chromium asks otherwise).
func grantClipboard(tb testing.TB, ctx context.Context, origin string) {
	tb.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    browser.PermissionSettingGranted, Origin: origin,
		})
		if err != nil {
			tb.Fatalf("grant %s: %v", name, err)
		}
	}
}
