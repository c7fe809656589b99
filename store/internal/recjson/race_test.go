//go:build race

package recjson

// The race detector's instrumentation allocates on its own account.
func init() { raceEnabled = true }
