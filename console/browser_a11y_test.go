package console_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// unlabelled counts the page's form controls that have no label.
const unlabelled = `[...document.querySelectorAll("main input, main select, main textarea")]
	.filter(e => !e.labels.length && !e.getAttribute("aria-label")).length`

func checkLabels(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if n := eval[int](t, ctx, unlabelled); n != 0 {
		t.Errorf("%s: %d form controls without a label", where, n)
	}
}

// focused is the text or label of the focused element.
const focused = `(() => {
	const e = document.activeElement;
	return (e.labels && e.labels.length ? e.labels[0].textContent : e.textContent || e.tagName).trim();
})()`

// TestBrowserKeyboardAndNarrow uses the console with the keyboard alone, checks that every control has a label and a
// sane focus order, and that a phone-sized screen needs no sideways scrolling.
func TestBrowserKeyboardAndNarrow(t *testing.T) {
	g := startGateway(t)
	g.tenant("acme")
	rc := newReceiver(t)
	g.do("POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{"url": rc.URL + "/first", "description": "First"}, 201)
	url, _ := g.session("acme", nil)
	ctx := tab(t, newBrowser(t))
	do(t, ctx, "open", chromedp.Navigate(url), chromedp.WaitVisible(xp("p", "1 of 1 endpoints")))
	checkLabels(t, ctx, "endpoint list")

	// Tab through the page from the top: the skip button, the sections, then the list's controls.
	eval[any](t, ctx, `document.getElementById("skip").focus()`)
	order := []string{eval[string](t, ctx, focused)}
	for range 8 {
		do(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
		order = append(order, eval[string](t, ctx, focused))
	}
	want := []string{"Skip to content", "Endpoints", "Deliveries", "Event types", "Add endpoint", "Search", "Status", "Profile", "First"}
	last := -1
	for _, w := range want {
		i := slices.Index(order, w)
		if i <= last {
			t.Fatalf("focus order %q: %q missing or out of order (want %q in this order)", order, w, want)
		}
		last = i
	}

	do(t, ctx, "skip to content", chromedp.Focus(chromedp.ID("skip")), chromedp.KeyEvent(kb.Enter))
	if id := eval[string](t, ctx, `document.activeElement.id`); id != "main" {
		t.Errorf("Skip to content focused %q, want main", id)
	}

	// Add an endpoint with the keyboard alone: Enter on the link, type the URL, Enter submits.
	do(t, ctx, "reach Add endpoint", chromedp.Focus(xp("a", "Add endpoint")), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(xp("h1", "Add an endpoint")))
	if got := eval[string](t, ctx, `document.activeElement.tagName + " " + document.activeElement.textContent`); got != "H1 Add an endpoint" {
		t.Errorf("after navigation the focus is on %q, want the heading", got)
	}
	checkLabels(t, ctx, "create form")
	do(t, ctx, "type the URL and submit", chromedp.KeyEvent(kb.Tab))
	if f := eval[string](t, ctx, focused); f != "URL" {
		t.Fatalf("the first field after the heading is %q, want URL", f)
	}
	do(t, ctx, "submit with Enter",
		chromedp.KeyEvent(rc.URL+"/second"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(xp("h1", rc.URL+"/second")))
	checkLabels(t, ctx, "endpoint page")

	do(t, ctx, "the catalogue", chromedp.Click(xp("a", "Event types")), chromedp.WaitVisible(xp("h2", "device.enrolled")))
	shot(t, ctx, "event-types")
	do(t, ctx, "the delivery log", chromedp.Click(xp("a", "Deliveries")), chromedp.WaitVisible(xp("h1", "Deliveries")))
	checkLabels(t, ctx, "delivery log")

	// A phone: 375 px wide.
	do(t, ctx, "a narrow screen",
		chromedp.EmulateViewport(375, 812),
		chromedp.Navigate(g.base+"/console/#/endpoints"),
		chromedp.WaitVisible(xp("p", "2 of 2 endpoints")))
	if over := eval[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		t.Errorf("the list scrolls sideways by %d px on a 375 px screen", over)
	}
	if label := eval[string](t, ctx, `getComputedStyle(document.querySelector("tbody td"), "::before").content`); !strings.Contains(label, "Endpoint") {
		t.Errorf("narrow rows lack their column labels: %s", label)
	}
	shot(t, ctx, "narrow")
	do(t, ctx, "an endpoint, narrow", chromedp.Click(xp("a", "First")), chromedp.WaitVisible(xp("h1", "First")))
	if over := eval[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		t.Errorf("the endpoint page scrolls sideways by %d px on a 375 px screen", over)
	}
}
