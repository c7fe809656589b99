package events

import (
	"fmt"

	"github.com/webhookd/webhookd/internal/jsonscan"
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

// checkData refuses data that is not one JSON value, or that holds invalid UTF-8 or nests deeper than MaxDataDepth.
// encoding/json accepts the last two: it replaces invalid bytes when it decodes, but data is stored and delivered
// byte for byte, so a receiver would get something other than JSON. Of those two, the first in the data is reported.
func checkData(data []byte) error {
	r := jsonscan.Check(data, MaxDataDepth)
	switch {
	case !r.Valid:
		return &FieldError{Field: "data", Message: "is not valid JSON"}
	case r.BadUTF8 >= 0 && (r.TooDeep < 0 || r.BadUTF8 < r.TooDeep):
		return &DataError{Field: "data", Offset: r.BadUTF8, Message: "is not valid UTF-8"}
	case r.TooDeep >= 0:
		return &DataError{Field: "data", Offset: r.TooDeep,
			Message: fmt.Sprintf("nests objects and arrays deeper than %d", MaxDataDepth)}
	}
	return nil
}
