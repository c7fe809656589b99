package events

import (
	"fmt"
	"unicode/utf8"
)

// MaxDataDepth is how deeply event data may nest objects and arrays: {"a": [1]} is 2 deep. Receivers parse what
// webhookd delivers, often with recursive parsers, so the gateway refuses what it would be unwise to forward.
const MaxDataDepth = 64

// DataError is event data that is JSON by grammar but that webhookd refuses: invalid UTF-8 or nesting deeper than
// MaxDataDepth. It matches ErrInvalid with errors.Is; the API answers it with 400.
type DataError struct {
	Field   string // the input field, "data" or "events[i].data"
	Offset  int    // the byte offset in the data of the first byte at fault
	Message string
}

func (e *DataError) Error() string {
	return fmt.Sprintf("invalid event: %s: %s (byte %d)", e.Field, e.Message, e.Offset)
}

// Unwrap returns ErrInvalid.
func (e *DataError) Unwrap() error { return ErrInvalid }

// checkData refuses data (already valid JSON by grammar) holding invalid UTF-8 or nested deeper than MaxDataDepth.
// encoding/json accepts both: it replaces invalid bytes when it decodes, but data is stored and delivered byte for
// byte, so a receiver would get something other than JSON.
func checkData(data []byte) error {
	depth := 0
	inString, escaped := false, false
	for i := 0; i < len(data); {
		c := data[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return &DataError{Field: "data", Offset: i, Message: "is not valid UTF-8"}
			}
			i += size
			escaped = false
			continue
		}
		i++
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > MaxDataDepth {
				return &DataError{Field: "data", Offset: i - 1,
					Message: fmt.Sprintf("nests objects and arrays deeper than %d", MaxDataDepth)}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}
