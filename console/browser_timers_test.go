package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// holdEndpoint is run in the page before the console's scripts: it holds the GET of one endpoint (the endpoint page's
// first fetch) until window.__release() is called, and counts the fetches of an endpoint's delivery list in
// window.__lists.
const holdEndpoint = `(() => {
  const real = window.fetch;
  let release;
  const held = new Promise((r) => { release = r; });
  window.__release = release;
  window.__holding = 0;
  window.__lists = 0;
  window.fetch = async (url, init) => {
    const u = String(url);
    if (/\/endpoints\/[^/?]+$/.test(u) && (!init || !init.method || init.method === 'GET')) {
      window.__holding++;
      await held;
    }
    if (/\/endpoints\/[^/?]+\/deliveries\?/.test(u)) window.__lists++;
    return real(url, init);
  };
})()`

// TestBrowserLeftViewStopsPolling: a reader who leaves an endpoint's page before it has loaded must not leave its
// delivery list polling behind. The page is held at its first fetch, the reader moves to the event types, then the
// fetch is let go: the abandoned view builds its list (one fetch), but its 2-second refresh never runs.
func TestBrowserLeftViewStopsPolling(t *testing.T) {
	_, ep, url, ctx := oneEndpoint(t, "Slow to load", nil)
	if err := open(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: holdEndpoint}); err != nil {
		t.Fatalf("hold the endpoint's fetch: %v", err)
	}
	do(t, ctx, "open the list", chromedp.Navigate(url), chromedp.WaitVisible(xp("h1", "Endpoints")))
	eval[string](t, ctx, `location.hash = '#/endpoints/`+ep+`'`)
	poll(t, ctx, "the endpoint's fetch is held", `window.__holding === 1`)
	eval[string](t, ctx, `location.hash = '#/event-types'`)
	do(t, ctx, "leave for the event types", chromedp.WaitVisible(xp("h1", "Event types")))
	eval[any](t, ctx, `window.__release()`)
	poll(t, ctx, "the abandoned view lists its deliveries", `window.__lists === 1`)

	// The list refreshes every 2 s while it is shown: two periods and a half without a fetch show it stopped.
	time.Sleep(5 * time.Second) // the behaviour under test is a timer that must not fire
	if n := eval[int](t, ctx, `window.__lists`); n != 1 {
		t.Errorf("the abandoned view fetched its delivery list %d times, want once (when it was built)", n)
	}
	if h := text(t, ctx, xp("h1", "Event types")); h != "Event types" {
		t.Errorf("the page shows %q, want the event types", h)
	}
}

// TestBrowserShownListPolls: the same list, shown, says when it is empty, refreshes itself to show a delivery
// published after it loaded (the timers of TestBrowserLeftViewStopsPolling stop only for views that are gone), and
// empties when a filter matches nothing.
func TestBrowserShownListPolls(t *testing.T) {
	g, ep, url, ctx := oneEndpoint(t, "Shown", nil)
	do(t, ctx, "open the list", chromedp.Navigate(url), chromedp.WaitVisible(xp("h1", "Endpoints")))
	eval[string](t, ctx, `location.hash = '#/endpoints/`+ep+`'`)
	do(t, ctx, "open the endpoint", chromedp.WaitVisible(xp("h1", "Shown")), chromedp.WaitVisible(xp("p", "No deliveries match.")))
	g.do("POST", "/v1/tenants/acme/events", g.token, map[string]any{"type": "device.enrolled", "data": map[string]any{"device_id": "d-1"}}, 202)
	do(t, ctx, "the new delivery appears by itself", chromedp.WaitVisible(xp("code", "device.enrolled")))

	// A filter that matches nothing empties the table; it used to keep the rows of the filter before.
	do(t, ctx, "filter on dead deliveries", chromedp.SetValue(labelled("Status"), "dead"))
	eval[bool](t, ctx, `document.querySelector('.log select').dispatchEvent(new Event('change'))`)
	do(t, ctx, "no dead delivery", chromedp.WaitVisible(xp("p", "No deliveries match.")))
	if n := eval[int](t, ctx, `document.querySelectorAll('.log tbody tr').length`); n != 0 {
		t.Errorf("%d rows shown for a filter that matches none", n)
	}
}

// poll waits up to 10 s for expr to be true in the page.
func poll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, where(ctx))
	}
}
