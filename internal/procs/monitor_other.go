//go:build !linux

package procs

// ExecPollingMonitor does nothing here: the monitor's sleep was measured on Linux only.
func ExecPollingMonitor() error { return nil }
