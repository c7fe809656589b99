// Package ids makes the gateway's object ids: a short prefix, an underscore and 26 time-sortable base32 digits, so
// ids sort in creation order and contain only [a-z0-9_] (safe in Redis keys, URLs and file names).
package ids

import (
	"regexp"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// New returns prefix + "_" + 26 digits, sortable by creation time.
func New(prefix string) string {
	return prefix + "_" + signing.NewMessageID(time.Now()).String()[len(signing.MessageIDPrefix):]
}

var valid = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Valid reports whether s is usable as an id: 1 to 64 of [A-Za-z0-9_-].
func Valid(s string) bool { return valid.MatchString(s) }
