package jsonscan

import (
	"strings"
	"time"
	"unicode/utf8"
)

// The readers below take the fields of records that webhookd's own encoders wrote as json.Marshal writes them
// (store/internal/msgjson, store/internal/recjson): each reads only the form that needs no decoding and reports
// false for anything else, which the caller hands to encoding/json.

// CutField reads `<name><JSON string>` at the start of s (CutString), unless ok is false already.
func CutField(s, name string, ok bool) (val, rest string, _ bool) {
	if !ok {
		return "", "", false
	}
	if s, ok = strings.CutPrefix(s, name); !ok {
		return "", "", false
	}
	return CutString(s)
}

// CutString reads a JSON string at the start of s that needs no unescaping: valid UTF-8 (json.Unmarshal would
// replace invalid bytes) without backslashes or control characters, so its text is its value.
func CutString(s string) (val, rest string, ok bool) {
	if len(s) == 0 || s[0] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", false
	}
	val = s[1 : 1+end]
	for i := 0; i < len(val); i++ {
		if c := val[i]; c < 0x20 || c == '\\' {
			return "", "", false
		}
	}
	if !utf8.ValidString(val) {
		return "", "", false
	}
	return val, s[2+end:], true
}

// CanonicalTime parses a time that is exactly as time.Time's MarshalJSON writes it (RFC 3339 with nanoseconds,
// trailing zeros dropped), and reports false for any other form.
func CanonicalTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	var buf [40]byte
	if string(t.AppendFormat(buf[:0], time.RFC3339Nano)) != s {
		return time.Time{}, false
	}
	return t, true
}
