package cli

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/calls"
)

func TestServeCallBreakerFlags(t *testing.T) {
	g, err := gatewayConfig(testServeConfig(t), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if g.Calls.BreakerAfter != calls.DefaultBreakerAfter || g.Calls.BreakerCooldown != calls.DefaultBreakerCool {
		t.Fatalf("defaults: %+v", g.Calls)
	}
	g, err = gatewayConfig(testServeConfig(t, "--call-breaker-failures", "2", "--call-breaker-cooldown", "5s"), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if g.Calls.BreakerAfter != 2 || g.Calls.BreakerCooldown != 5*time.Second {
		t.Fatalf("flags: %+v", g.Calls)
	}
}
