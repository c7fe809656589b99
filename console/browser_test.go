package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserEndpointLifecycle follows a tenant's developer: open the session URL, add an endpoint whose receiver
// fails the handshake (and read why), fix it, reveal and copy the secret, send a test event and see it delivered,
// rotate and see two keys.
func TestBrowserEndpointLifecycle(t *testing.T) {
	g := startGateway(t)
	g.tenant("acme")
	rc := newReceiver(t)
	rc.optionsStatus.Store(405) // a receiver that does not answer the handshake yet
	url, _ := g.session("acme", nil)
	if !strings.Contains(url, "/console/#") || strings.Contains(url, "?") {
		t.Fatalf("session URL %s", url)
	}
	ctx := tab(t, newBrowser(t))

	do(t, ctx, "open the session URL",
		chromedp.Navigate(url),
		chromedp.WaitVisible(xp("h1", "Endpoints")),
		chromedp.WaitVisible(xp("p", "No endpoints yet")))
	if hash := eval[string](t, ctx, `location.hash`); strings.Contains(hash, "token") {
		t.Errorf("the token stays in the address bar: %s", hash)
	}
	shot(t, ctx, "endpoints-empty")

	do(t, ctx, "fill the create form",
		chromedp.Click(xp("a", "Add endpoint")),
		chromedp.WaitVisible(xp("h1", "Add an endpoint")),
		chromedp.SendKeys(labelled("URL"), rc.URL+"/hooks"),
		chromedp.SendKeys(labelled("Description"), "Fleet alerts"),
		chromedp.Click(chromedp.Search(`//label[code[text()="device.enrolled"]]/input`)),
		chromedp.Click(xp("button", "Create endpoint")),
		chromedp.WaitVisible(xp("h2", "The URL did not pass the handshake")))
	explained := text(t, ctx, chromedp.CSS(".alert.error"))
	for _, want := range []string{"405", "Allow header", "To fix", "2xx"} {
		if !strings.Contains(explained, want) {
			t.Errorf("the handshake explanation lacks %q: %s", want, explained)
		}
	}
	shot(t, ctx, "handshake-failed")

	rc.optionsStatus.Store(204) // fixed
	do(t, ctx, "create the endpoint once the receiver answers",
		chromedp.Click(xp("button", "Create endpoint")),
		chromedp.WaitVisible(xp("h1", "Fleet alerts")),
		chromedp.WaitVisible(xp("span", "enabled")))

	do(t, ctx, "reveal the secret",
		chromedp.Click(xp("button", "Reveal secret")),
		chromedp.WaitVisible(chromedp.CSS("code.secret")))
	secret := text(t, ctx, chromedp.CSS("code.secret"))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("revealed %q", secret)
	}
	if snippet := text(t, ctx, chromedp.CSS("pre.code")); !strings.Contains(snippet, secret) || !strings.Contains(snippet, "verifier.New") {
		t.Errorf("snippet without the key: %s", snippet)
	}
	grantClipboard(t, ctx, g.base)
	do(t, ctx, "copy the secret",
		chromedp.Click(chromedp.CSS("li.key button.copy")),
		chromedp.WaitVisible(xp("button", "Copied")))
	if copied := eval[string](t, ctx, `navigator.clipboard.readText()`); copied != secret {
		t.Errorf("clipboard %q, want the secret", copied)
	}
	shot(t, ctx, "endpoint-secret")

	do(t, ctx, "send a test event",
		chromedp.Click(xp("button", "Send test event")),
		chromedp.WaitVisible(xp("div", "Delivered: HTTP 200")))
	if got := rc.received(); len(got) != 1 || !strings.Contains(got[0], `"webhookd.test"`) {
		t.Errorf("receiver got %q", got)
	}
	shot(t, ctx, "test-delivered")

	do(t, ctx, "rotate",
		chromedp.Click(xp("button", "Rotate key")),
		chromedp.WaitVisible(xp("div", "Rotation in progress")))
	if keys := eval[int](t, ctx, `document.querySelectorAll("li.key").length`); keys != 2 {
		t.Errorf("%d keys after rotation, want 2", keys)
	}
	shot(t, ctx, "rotation")

	do(t, ctx, "edit", chromedp.Click(xp("a", "Edit")), chromedp.WaitVisible(xp("h1", "Edit endpoint")))
	eval[bool](t, ctx, `(() => {
		const e = document.evaluate('`+string(labelled("Description"))+`', document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		e.value = "";
		return true;
	})()`)
	do(t, ctx, "edit the description and headers",
		chromedp.SendKeys(labelled("Description"), "Fleet alerts (EU)"),
		chromedp.SendKeys(labelled("Custom headers"), "X-Fleet: eu"),
		chromedp.Click(xp("button", "Save")),
		chromedp.WaitVisible(xp("h1", "Fleet alerts (EU)")),
		chromedp.WaitVisible(xp("code", "X-Fleet: eu")))
	if h1 := text(t, ctx, chromedp.CSS("h1")); h1 != "Fleet alerts (EU)" {
		t.Errorf("after the edit the heading is %q", h1)
	}
	do(t, ctx, "disable and enable",
		chromedp.Click(xp("button", "Disable")),
		chromedp.WaitVisible(xp("span", "disabled by hand")),
		chromedp.Click(xp("button", "Enable")),
		chromedp.WaitVisible(xp("span", "enabled")))

	do(t, ctx, "back to the list",
		chromedp.Click(xp("a", "Endpoints")),
		chromedp.WaitVisible(xp("p", "1 of 1 endpoints")),
		chromedp.WaitVisible(xp("td", "100 % of 1")))
	shot(t, ctx, "endpoints")

	do(t, ctx, "delete, after a confirmation",
		chromedp.Click(xp("a", "Fleet alerts (EU)")),
		chromedp.WaitVisible(xp("h1", "Fleet alerts (EU)")),
		chromedp.Click(xp("button", "Delete…")),
		chromedp.WaitVisible(xp("p", "Delete this endpoint?")))
	if got := eval[string](t, ctx, `document.activeElement.textContent`); got != "Delete endpoint" {
		t.Errorf("the confirmation focuses %q", got)
	}
	do(t, ctx, "confirm",
		chromedp.Click(xp("button", "Delete endpoint")),
		chromedp.WaitVisible(xp("p", "No endpoints yet")))
	if n := len(g.do("GET", "/v1/tenants/acme/endpoints", g.token, nil, 200)["data"].([]any)); n != 0 {
		t.Errorf("%d endpoints after delete", n)
	}
}
