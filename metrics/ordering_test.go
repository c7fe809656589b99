package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/metrics"
)

type heldKeys map[string]int

func (h heldKeys) HeldKeys(context.Context) (map[string]int, error) { return h, nil }

// The held-keys gauge names the endpoints with the most held keys and sums the rest under "other".
func TestHeldKeys(t *testing.T) {
	h := heldKeys{}
	for i := range metrics.MaxHeldKeyEndpoints + 5 {
		h[fmt.Sprintf("ep_%02d", i)] = 100 - i
	}
	m := metrics.New(metrics.Config{})
	m.WatchHeldKeys(h)
	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_ordering_held_keys{endpoint="ep_00"} 100`,
		fmt.Sprintf(`webhookd_ordering_held_keys{endpoint="ep_%02d"} %d`, metrics.MaxHeldKeyEndpoints-1, 100-metrics.MaxHeldKeyEndpoints+1),
		`webhookd_ordering_held_keys{endpoint="other"} 390`, // 80 + 79 + 78 + 77 + 76
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if n := strings.Count(out, "webhookd_ordering_held_keys{"); n != metrics.MaxHeldKeyEndpoints+1 {
		t.Errorf("%d series, want %d", n, metrics.MaxHeldKeyEndpoints+1)
	}
}
