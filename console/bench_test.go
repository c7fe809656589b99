package console_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkEndpointList1000 measures how long the console takes to show a tenant's 1,000 endpoints in headless
// Chromium: from navigating to the session URL until the list says "1000 of 1000 endpoints" (the page, its modules,
// five API pages of 200 endpoints, the recent deliveries, and the table). ms-in-page is the page's own clock: from
// navigation start to the first frame painted after the table was built (the "endpoints-shown" mark).
func BenchmarkEndpointList1000(b *testing.B) {
	g := startGateway(b)
	g.tenant("acme")
	rc := newReceiver(b)
	for i := range 1000 {
		g.do("POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{
			"url": fmt.Sprintf("%s/hooks/%d", rc.URL, i), "description": fmt.Sprintf("Endpoint %04d", i),
			"events": []string{"device.*"},
		}, 201)
	}
	url, _ := g.session("acme", map[string]any{"ttl": "24h"})
	ctx := tab(b, newBrowser(b))
	done := xp("p", "1000 of 1000 endpoints")
	var inPage float64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(done, chromedp.RetryInterval(time.Millisecond))); err != nil {
			b.Fatalf("%v\n%s", err, where(ctx))
		}
		b.StopTimer()
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`new Promise((resolve) => {
			const seen = () => performance.getEntriesByName("endpoints-shown");
			const wait = () => seen().length ? resolve(seen()[0].startTime) : setTimeout(wait, 5);
			wait();
		})`, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatal(err)
		}
		inPage += ms
		b.StartTimer()
	}
	b.ReportMetric(inPage/float64(b.N), "ms-in-page/op")
	if testing.Verbose() {
		// Re-render the full list and force layout, with the grid rows and then with plain table rows.
		cmp, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const q = document.querySelector("input[type=search]");
			const time = () => {
				const ts = [];
				for (let i = 0; i < 5; i++) {
					const t0 = performance.now();
					q.value = i % 2 ? "" : " "; q.dispatchEvent(new Event("input"));
					document.body.offsetHeight;
					ts.push(performance.now() - t0);
				}
				ts.sort((a, b) => a - b);
				return Math.round(ts[2]);
			};
			const grid = time();
			const ss = document.styleSheets[0];
			ss.insertRule("table.list, table.list thead, table.list tbody { display: revert !important; }", ss.cssRules.length);
			ss.insertRule("table.list tr { display: table-row !important; content-visibility: visible !important; }", ss.cssRules.length);
			return "render+layout of 1000 rows, median of 5: grid rows " + grid + " ms, table rows " + time() + " ms";
		})()`))
		b.Log(cmp, err)
	}
}
