//go:build !unix

package procs

import "time"

// CPUTime is the user and system CPU time the process has used; ErrUnsupported here.
func CPUTime() (time.Duration, error) { return 0, ErrUnsupported }
