package procs

import "strings"

// The Go runtime's monitor thread (sysmon) goes to sleep whenever every processor is idle, and the next system call
// wakes it; awake, it polls every 20 µs for a while before it backs off towards 10 ms. A service at a light, steady
// load is idle between most requests, so each request pays that cycle again: at a steady 1,000 events/s more than
// half of webhookd's context switches were the monitor's sleeps and wake-ups. The runtime keeps the monitor from that
// sleep while GODEBUG schedtrace is set (so that the trace prints on time), and set to its largest value the trace
// prints once each time the monotonic clock passes another 24.8 days. The monitor then polls at its backed-off pace instead, still retaking processors
// from long system calls and preempting long-running goroutines. The setting is read only at start, hence an exec.

// MonitorSetting is what ExecPollingMonitor adds to GODEBUG.
const MonitorSetting = "schedtrace=2147483647"

// monitorEnv returns env (KEY=value entries) with MonitorSetting added to GODEBUG, and false when GODEBUG sets
// schedtrace already (the operator's choice, or this process after its exec).
func monitorEnv(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	godebug, seen := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if !seen {
				godebug, seen = v, true // the first one is what the runtime reads
			}
			continue
		}
		out = append(out, kv)
	}
	for f := range strings.SplitSeq(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(f), "schedtrace=") {
			return env, false
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+MonitorSetting), true
}
