package cli

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// printable returns s safe to write to a terminal: every control character (C0 but tab in a plain line, DEL, C1)
// and every byte that is not UTF-8 is shown as an escape (\n, \t, \x1b, \u009b, \xff) instead of being sent, so
// that text from tenants and receivers (descriptions, metadata, response bodies, headers) cannot move the cursor,
// clear the screen or retitle the window (ESC[2J, ESC]0;…). The table and field printers use it on every value;
// --json output is written as the API sent it and never goes through it.
func printable(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !needsEscape(r, size) {
			i += size
			continue
		}
		break
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case !needsEscape(r, size):
			b.WriteString(s[i : i+size])
		case size == 1 && r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

// needsEscape reports whether the rune r, decoded from size bytes, must not reach a terminal as it is.
func needsEscape(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size == 1: // not UTF-8: a lone 0x9b byte is CSI to an 8-bit terminal
		return true
	case r < 0x20, r == 0x7f: // C0 (ESC, BEL, CR, newline, tab ...) and DEL
		return true
	case r >= 0x80 && r <= 0x9f: // C1 (CSI, OSC, ...)
		return true
	}
	return false
}
