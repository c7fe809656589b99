package procs

import (
	"os"
	"syscall"
)

// ExecPollingMonitor executes the running program again in this process (same pid, arguments, open descriptors
// without close-on-exec, environment) with MonitorSetting added to GODEBUG, so that the runtime's monitor polls
// instead of sleeping through idle moments (monitor.go). It returns nil at once when GODEBUG sets schedtrace
// already, and otherwise returns only when the exec failed. Call it first thing in main, before any goroutine or
// file of the program's own: everything of the process is replaced.
func ExecPollingMonitor() error {
	env, ok := monitorEnv(os.Environ())
	if !ok {
		return nil
	}
	// /proc/self/exe is this program's file even when its path now names another (an upgrade in place).
	return syscall.Exec("/proc/self/exe", os.Args, env)
}
