// Package ids makes the gateway's object ids: a short prefix, an underscore and 26 time-sortable base32 digits, so
// ids sort in creation order and contain only [a-z0-9_] (safe in Redis keys, URLs and file names).
package ids

import (
	"time"

	"github.com/webhookd/webhookd/signing"
)

// New returns prefix + "_" + 26 digits, sortable by creation time.
func New(prefix string) string {
	return prefix + "_" + signing.NewMessageID(time.Now()).String()[len(signing.MessageIDPrefix):]
}

// Valid reports whether s is usable as an id: 1 to 64 of [A-Za-z0-9_-]. It is on every store call's path, so it is
// a byte loop rather than a regexp (which cost 6% of the gateway's CPU in a fan-out profile).
func Valid(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
