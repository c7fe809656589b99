//go:build !unix

package gateway

// fileLimit is the process's limit on open descriptors: unknown here.
func fileLimit() int { return 0 }
