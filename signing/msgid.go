package signing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/webhookd/webhookd/internal/ids"
)

// MessageIDPrefix starts every message id.
const MessageIDPrefix = "msg_"

// ErrMessageID is returned for a malformed message id.
var ErrMessageID = errors.New("malformed message id")

// MessageID is a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, a sub-millisecond sequence, random bits. Its text
// form is "msg_" plus 26 Crockford base32 digits, which sort in time order and never contain '.'. Profiles that
// carry a UUID (OpenMDM, Mender) use UUID() of the same id, so one message has one identity on every profile.
type MessageID [16]byte

// NewMessageID returns a fresh id from uuid.NewV7. Ids made by one process sort in the order they were made, also
// within one millisecond.
func NewMessageID() MessageID {
	return ids.NewUUID()
}

// String returns "msg_" plus 26 lower-case Crockford base32 digits.
func (id MessageID) String() string {
	return string(id.Append(make([]byte, 0, len(MessageIDPrefix)+ids.Digits)))
}

// Append appends the text form to dst.
func (id MessageID) Append(dst []byte) []byte {
	return ids.AppendBase32(append(dst, MessageIDPrefix...), id)
}

// UUID returns the canonical 8-4-4-4-12 lower-case hex form.
func (id MessageID) UUID() string {
	return uuid.UUID(id).String()
}

// Time returns the millisecond timestamp embedded in the id.
func (id MessageID) Time() time.Time {
	ms := int64(binary.BigEndian.Uint16(id[0:2]))<<32 | int64(binary.BigEndian.Uint32(id[2:6]))
	return time.UnixMilli(ms).UTC()
}

// ParseMessageID parses the text form produced by String (digits in either case).
func ParseMessageID(s string) (MessageID, error) {
	if len(s) != len(MessageIDPrefix)+ids.Digits || s[:len(MessageIDPrefix)] != MessageIDPrefix {
		return MessageID{}, fmt.Errorf("%w: %q", ErrMessageID, s)
	}
	u, err := ids.ParseBase32(s[len(MessageIDPrefix):])
	if err != nil {
		return MessageID{}, fmt.Errorf("%w: %q: %w", ErrMessageID, s, err)
	}
	return u, nil
}
