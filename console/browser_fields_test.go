package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/gateway"
)

// TestBrowserEndpointNewerFields: an endpoint's page shows its own retry schedule, its trace propagation choice and
// its failed URL re-checks; one without overrides says it follows the gateway's schedule.
func TestBrowserEndpointNewerFields(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) {
		c.Recheck = endpoints.RecheckConfig{Every: 50 * time.Millisecond, PerHost: time.Millisecond, DisableAfter: -1}
	})
	g.tenant("acme")
	rc := newReceiver(t)
	ep := g.do("POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{"url": rc.URL + "/a", "description": "Tuned",
		"retries": 3, "retry_initial": "10s", "retry_cap": "1h", "trace_propagate": true}, 201)
	g.do("POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{"url": rc.URL + "/b", "description": "Plain"}, 201)
	rc.optionsStatus.Store(405) // the re-check fails from now on
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := g.do("GET", "/v1/tenants/acme/endpoints/"+ep["id"].(string), g.token, nil, 200)
		if n, _ := got["handshake_failures"].(float64); n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed re-check: %v", got)
		}
		time.Sleep(20 * time.Millisecond) // polling an observable condition
	}
	url, _ := g.session("acme", nil)
	ctx := tab(t, newBrowser(t))
	do(t, ctx, "open the list", chromedp.Navigate(url), chromedp.WaitVisible(xp("h1", "Endpoints")))
	follow(t, ctx, "open the tuned endpoint", xp("a", "Tuned"), xp("h1", "Tuned"))
	do(t, ctx, "the tuned endpoint's re-checks", chromedp.WaitVisible(xp("dt", "URL re-check")))
	details := pageText(ctx)
	for _, want := range []string{"3 retries · first wait 10s · waits at most 1h0m0s", "on (traceparent sent)",
		"failed in a row", "405", "Last re-checked"} {
		if !strings.Contains(details, want) {
			t.Errorf("the tuned endpoint's page lacks %q:\n%s", want, details)
		}
	}
	do(t, ctx, "back to the list", chromedp.Navigate(strings.SplitN(url, "#", 2)[0]+"#/endpoints"),
		chromedp.WaitVisible(xp("h1", "Endpoints")))
	follow(t, ctx, "open the plain endpoint", xp("a", "Plain"), xp("h1", "Plain"))
	details = pageText(ctx)
	if !strings.Contains(details, "the gateway's") || strings.Contains(details, "Trace propagation") {
		t.Errorf("the plain endpoint's page:\n%s", details)
	}
}
