package main_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/internal/procs"
	"github.com/webhookd/webhookd/wire"
)

// TestServeRunsWithPollingMonitor: serve executes itself again, in the process it was started as, with the runtime's
// monitor kept polling (GODEBUG schedtrace set), and serves; --polling-monitor=false leaves GODEBUG alone.
func TestServeRunsWithPollingMonitor(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the exec is Linux's only")
	}
	if strings.Contains(os.Getenv("GODEBUG"), "schedtrace=") {
		t.Skip("GODEBUG sets schedtrace here, which serve then leaves alone")
	}
	godebug := func(g *gateway) string {
		t.Helper()
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", g.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		v := ""
		for kv := range bytes.SplitSeq(b, []byte{0}) {
			if s, ok := strings.CutPrefix(string(kv), "GODEBUG="); ok {
				v = s
			}
		}
		return v
	}
	g := startGateway(t, t.TempDir())
	if got := godebug(g); !strings.Contains(got, procs.MonitorSetting) {
		t.Fatalf("the serving process's GODEBUG is %q, want %s in it", got, procs.MonitorSetting)
	}
	if _, err := g.api().CreateTenant(t.Context(), wire.CreateTenant{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatalf("the process that executed itself again does not serve: %v", err)
	}
	off := startGateway(t, t.TempDir(), "--polling-monitor=false")
	if got := godebug(off); strings.Contains(got, "schedtrace") {
		t.Fatalf("with --polling-monitor=false GODEBUG is %q, want no schedtrace", got)
	}
}
