package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	xssDescription = `<img src=x onerror="window.__xss='description'"><script>window.__xss='description script'</script>`
	xssResponse    = `<img src=x onerror="window.__xss='response'"><script>window.__xss='response script'</script>`
)

// noScriptRan fails the test if any payload ran or became an element.
func noScriptRan(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if ran := eval[string](t, ctx, `String(window.__xss)`); ran != "undefined" {
		t.Errorf("%s: a payload ran: window.__xss = %s", where, ran)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('img, main script').length`); n != 0 {
		t.Errorf("%s: %d img or script elements in the page", where, n)
	}
}

// waitStatus polls the API until the tenant has a delivery of status, or fails after 10 s.
func (g *gw) waitStatus(tenant, status string) {
	g.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list := g.do("GET", "/v1/tenants/"+tenant+"/deliveries?status="+status, g.token, nil, 200)["data"].([]any)
		if len(list) > 0 {
			return
		}
		if time.Now().After(deadline) {
			g.tb.Fatalf("no %s delivery after 10s", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserFailingReceiver makes a receiver fail and follows it in the console: the dead delivery and its
// attempts, a retry, then recovery once the receiver is fixed. The endpoint's description and the receiver's answer
// carry HTML and script payloads, which must show as text and never run.
func TestBrowserFailingReceiver(t *testing.T) {
	g := startGateway(t)
	g.tenant("acme")
	rc := newReceiver(t)
	rc.postStatus.Store(500)
	rc.postBody.Store(xssResponse)
	ep := g.do("POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{
		"url": rc.URL, "description": xssDescription, "metadata": map[string]string{"note": "<b>bold</b>"},
	}, 201)["id"].(string)
	g.do("POST", "/v1/tenants/acme/events", g.token, map[string]any{"type": "device.enrolled", "data": map[string]any{"device_id": "d-42"}}, 202)
	g.waitStatus("acme", "dead")

	url, _ := g.session("acme", nil)
	ctx := tab(t, newBrowser(t))
	do(t, ctx, "open the list",
		chromedp.Navigate(url),
		chromedp.WaitVisible(xp("p", "1 of 1 endpoints")))
	// Read the link once it holds text: a read that races the list's render can find an element just replaced.
	got, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelector('a.ep-link')?.textContent`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		t.Fatalf("the endpoint's link has no text: %v\n%s", err, where(ctx))
	}
	if got != xssDescription {
		t.Errorf("description shows as %q, want the text %q", got, xssDescription)
	}
	if got := text(t, ctx, chromedp.Search(`//tbody/tr/td[5]`)); !strings.Contains(got, "0 % of 1") {
		t.Errorf("success rate %q", got)
	}
	noScriptRan(t, ctx, "endpoint list")

	do(t, ctx, "the tenant's delivery log",
		chromedp.Click(xp("a", "Deliveries")),
		chromedp.WaitVisible(xp("h1", "Deliveries")),
		chromedp.WaitVisible(xp("span", "dead")))
	noScriptRan(t, ctx, "delivery log")
	if got := text(t, ctx, chromedp.Search(`//tbody/tr[1]/td[3]`)); !strings.Contains(got, "<script>") {
		t.Errorf("the log names the endpoint %q, want its description as text", got)
	}
	shot(t, ctx, "deliveries")
	do(t, ctx, "one delivery's attempts",
		chromedp.Click(chromedp.Search(`//tbody/tr[1]/td[1]/a`)),
		chromedp.WaitVisible(xp("h2", "Attempts")),
		chromedp.WaitVisible(chromedp.CSS("pre.body")))
	if n := eval[int](t, ctx, `document.querySelectorAll("li.attempt").length`); n != 2 {
		t.Errorf("%d attempts shown, want 2", n)
	}
	if got := text(t, ctx, chromedp.CSS("pre.body")); got != xssResponse {
		t.Errorf("response body shows as %q, want the text %q", got, xssResponse)
	}
	if got := text(t, ctx, chromedp.CSS("li.attempt")); !strings.Contains(got, "HTTP 500") {
		t.Errorf("attempt shows %q", got)
	}
	do(t, ctx, "the request headers", chromedp.Click(xp("summary", "Request headers")), chromedp.WaitVisible(chromedp.CSS("pre.headers")))
	if got := text(t, ctx, chromedp.CSS("pre.headers")); !strings.Contains(got, "Webhook-Signature: v1,") || !strings.Contains(got, "Webhook-Id: msg_") {
		t.Errorf("request headers shown: %q", got)
	}
	noScriptRan(t, ctx, "delivery attempts")
	shot(t, ctx, "delivery-attempts")

	before := len(rc.received())
	do(t, ctx, "retry",
		chromedp.Click(xp("button", "Retry")),
		chromedp.WaitVisible(xp("div", "Sent again as a new delivery")))
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.received()) <= before {
		if time.Now().After(deadline) {
			t.Fatal("the retry never reached the receiver")
		}
		time.Sleep(10 * time.Millisecond)
	}

	rc.postStatus.Store(200)
	rc.postBody.Store("fixed")
	do(t, ctx, "recover on the endpoint's page",
		chromedp.Navigate(g.base+"/console/#/endpoints/"+ep),
		chromedp.WaitVisible(xp("h2", "Deliveries")),
		chromedp.Click(xp("button", "Recover")),
		chromedp.WaitVisible(xp("div", "sent again")),
		chromedp.WaitVisible(xp("span", "succeeded"))) // the list polls: the recovered delivery appears
	if got := text(t, ctx, xp("div", "sent again")); !strings.Contains(got, "failed message") {
		t.Errorf("recover said %q", got)
	}
	noScriptRan(t, ctx, "endpoint page")
	shot(t, ctx, "recovered")
}

// TestBrowserSessionEnds: a revoked, an expired and a malformed session each say so plainly and offer nothing else.
func TestBrowserSessionEnds(t *testing.T) {
	g := startGateway(t)
	g.tenant("acme")
	browser := newBrowser(t)

	url, id := g.session("acme", nil)
	ctx := tab(t, browser)
	do(t, ctx, "open", chromedp.Navigate(url), chromedp.WaitVisible(xp("h1", "Endpoints")))
	g.do("DELETE", "/v1/tenants/acme/portal-sessions/"+id, g.token, nil, 204)
	do(t, ctx, "the next request after revocation",
		chromedp.Click(xp("a", "Deliveries")),
		chromedp.WaitVisible(xp("h1", "This session was revoked.")))
	ended(t, ctx)
	shot(t, ctx, "session-revoked")

	url, _ = g.session("acme", map[string]any{"ttl": "1ms"})
	token := strings.SplitN(url, "token=", 2)[1]
	if code := g.do("GET", "/v1/tenants/acme/endpoints", token, nil, http.StatusUnauthorized)["code"]; code != "session_expired" {
		t.Fatalf("the 1 ms session answers %v", code)
	}
	ctx = tab(t, browser)
	do(t, ctx, "open an expired session", chromedp.Navigate(url), chromedp.WaitVisible(xp("h1", "This session has expired.")))
	ended(t, ctx)

	ctx = tab(t, browser)
	do(t, ctx, "open without a session", chromedp.Navigate(g.base+"/console/"), chromedp.WaitVisible(xp("h1", "This link is not valid.")))
	ended(t, ctx)
}

// ended checks that the page offers nothing but the message.
func ended(t *testing.T, ctx context.Context) {
	t.Helper()
	if n := eval[int](t, ctx, `document.querySelectorAll("nav a, main a, main button, main input").length`); n != 0 {
		t.Errorf("an ended session still offers %d links or controls", n)
	}
}

// TestBrowserReadOnly: a read-only session sees endpoints, keys and deliveries, offers no change, and the API
// refuses a change even when the page is bypassed.
func TestBrowserReadOnly(t *testing.T) {
	g, ep, url, ctx := oneEndpoint(t, "Audit feed", map[string]any{"read_only": true})
	do(t, ctx, "open read-only",
		chromedp.Navigate(url),
		chromedp.WaitVisible(xp("p", "1 of 1 endpoints")),
		chromedp.WaitVisible(xp("span", "read-only")))
	if n := eval[int](t, ctx, `[...document.querySelectorAll("main a")].filter(a => a.textContent.includes("Add endpoint")).length`); n != 0 {
		t.Error("a read-only session offers Add endpoint")
	}
	do(t, ctx, "the endpoint, read-only",
		chromedp.Click(xp("a", "Audit feed")),
		chromedp.WaitVisible(xp("h1", "Audit feed")),
		chromedp.Click(xp("button", "Reveal secret")),
		chromedp.WaitVisible(chromedp.CSS("code.secret")))
	offered := eval[[]string](t, ctx, `[...document.querySelectorAll("main button, main a.button")].map(b => b.textContent)`)
	for _, b := range offered {
		for _, change := range []string{"Edit", "Disable", "Delete", "Rotate", "Send test", "Recover", "Retry"} {
			if strings.Contains(b, change) {
				t.Errorf("a read-only session offers %q", b)
			}
		}
	}
	shot(t, ctx, "read-only")
	do(t, ctx, "the create form, read-only",
		chromedp.Navigate(g.base+"/console/#/endpoints/new"),
		chromedp.WaitVisible(xp("div", "This session is read-only.")))
	status := eval[int](t, ctx, `(async () => {
		const s = JSON.parse(sessionStorage.getItem("webhookd-console-session"));
		const r = await fetch("/v1/tenants/acme/endpoints/`+ep+`/disable", {method: "POST", headers: {Authorization: "Bearer " + s.token}});
		return r.status;
	})()`)
	if status != 403 {
		t.Errorf("a read-only session's POST from the page: %d, want 403", status)
	}
	if g.do("GET", "/v1/tenants/acme/endpoints/"+ep, g.token, nil, 200)["disabled"] != false {
		t.Error("the read-only session disabled the endpoint")
	}
}

// TestBrowserCSP: the page's policy is enforced: no eval, no inline script.
func TestBrowserCSP(t *testing.T) {
	g := startGateway(t)
	g.tenant("acme")
	url, _ := g.session("acme", nil)
	ctx := tab(t, newBrowser(t))
	do(t, ctx, "open", chromedp.Navigate(url), chromedp.WaitVisible(xp("h1", "Endpoints")))
	// From a task of the page's own (DevTools' evaluation itself is exempt from the policy).
	if got := eval[string](t, ctx, `new Promise((resolve) => setTimeout(() => {
		try { resolve(String(eval("1+1"))); } catch (e) { resolve(e.name); }
	}))`); got != "EvalError" {
		t.Errorf("eval in the page: %s, want EvalError (CSP)", got)
	}
	got := eval[string](t, ctx, `new Promise((resolve) => {
		document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective), {once: true});
		const s = document.createElement("script");
		s.textContent = "window.__inline = 1";
		document.body.append(s);
		setTimeout(() => resolve(String(window.__inline)), 1000);
	})`)
	if !strings.HasPrefix(got, "script-src") {
		t.Errorf("inline script: %s, want a script-src violation", got)
	}
}

// TestBrowserBlockedKey follows an ordering key held behind a dead delivery (ordering_on_failure block): the log and
// the delivery show it blocked, the later delivery names what it waits on, "Skip delivery" lets it go, and "Retry
// first" sends a blocked delivery again once the receiver is fixed.
func TestBrowserBlockedKey(t *testing.T) {
	g := startGateway(t)
	g.tenant("acme")
	rc := newReceiver(t)
	rc.postStatus.Store(500)
	rc.postBody.Store("down")
	ep := g.do("POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{
		"url": rc.URL, "description": "device hooks", "ordering_on_failure": "block", "retries": 0,
	}, 201)["id"].(string)
	for range 2 {
		g.do("POST", "/v1/tenants/acme/events", g.token, map[string]any{"type": "device.enrolled",
			"data": map[string]any{"device_id": "d-42"}, "ordering_key": "d-42"}, 202)
	}
	g.waitStatus("acme", "dead")
	list := func(status string) []map[string]any {
		var out []map[string]any
		for _, d := range g.do("GET", "/v1/tenants/acme/endpoints/"+ep+"/deliveries?status="+status, g.token, nil, 200)["data"].([]any) {
			out = append(out, d.(map[string]any))
		}
		return out
	}
	dead, waiting := list("dead")[0]["id"].(string), list("pending")[0]["id"].(string)

	url, _ := g.session("acme", nil)
	ctx := tab(t, newBrowser(t))
	do(t, ctx, "the log shows the block",
		chromedp.Navigate(url),
		chromedp.WaitVisible(xp("h1", "Endpoints")),
		chromedp.Click(xp("a", "Deliveries")),
		chromedp.WaitVisible(xp("span", "blocked")))
	do(t, ctx, "the waiting delivery",
		chromedp.Navigate(g.base+"/console/#/deliveries/"+waiting),
		chromedp.WaitVisible(xp("dt", "Waiting on")))
	if got := text(t, ctx, xp("dd", dead)); got != dead {
		t.Errorf("waiting on %q, want %s", got, dead)
	}
	do(t, ctx, "the blocked delivery",
		chromedp.Click(xp("a", dead)),
		chromedp.WaitVisible(xp("h2", "Blocked")))
	if got := text(t, ctx, xp("div", "wait on this one")); !strings.Contains(got, "d-42") {
		t.Errorf("blocked box says %q", got)
	}
	shot(t, ctx, "blocked-key")
	do(t, ctx, "skip", chromedp.Click(xp("button", "Skip delivery")))
	deadline := time.Now().Add(10 * time.Second)
	for len(list("dead")) < 2 { // the next one went, and died: the receiver still fails
		if time.Now().After(deadline) {
			t.Fatal("the delivery behind the skipped one never went")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := g.do("GET", "/v1/tenants/acme/deliveries/"+dead, g.token, nil, 200); d["blocked"] != nil {
		t.Errorf("skipped delivery still blocked: %v", d)
	}

	rc.postStatus.Store(200)
	do(t, ctx, "retry the next blocked one",
		chromedp.Navigate(g.base+"/console/#/deliveries/"+waiting),
		chromedp.WaitVisible(xp("h2", "Blocked")),
		chromedp.Click(xp("button", "Retry first")),
		chromedp.WaitVisible(xp("span", "succeeded")))
}
