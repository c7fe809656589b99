package signing

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// MessageIDPrefix starts every message id.
const MessageIDPrefix = "msg_"

// ErrMessageID is returned for a malformed message id.
var ErrMessageID = errors.New("malformed message id")

// MessageID is a 128-bit, time-sortable unique id laid out as a UUIDv7 (48-bit Unix milliseconds, version, random).
// Its text form is "msg_" plus 26 Crockford base32 digits, which sort in time order and never contain '.'. Profiles
// that carry a UUID (OpenMDM, Mender) use UUID() of the same id, so one message has one identity on every profile.
type MessageID [16]byte

// NewMessageID returns a fresh id for time now.
func NewMessageID(now time.Time) MessageID {
	var id MessageID
	rand.Read(id[6:])
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint16(id[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(id[2:6], uint32(ms))
	id[6] = id[6]&0x0f | 0x70 // version 7
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id
}

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

var crockfordDec = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(crockford) {
		t[crockford[i]] = byte(i)
		if c := crockford[i]; c >= 'a' && c <= 'z' {
			t[c-'a'+'A'] = byte(i)
		}
	}
	return t
}()

// String returns "msg_" plus 26 lower-case Crockford base32 digits.
func (id MessageID) String() string {
	return string(id.Append(make([]byte, 0, len(MessageIDPrefix)+26)))
}

// Append appends the text form to dst.
func (id MessageID) Append(dst []byte) []byte {
	hi := binary.BigEndian.Uint64(id[0:8])
	lo := binary.BigEndian.Uint64(id[8:16])
	var out [26]byte
	// 130 bits: two leading zero bits, then the 128 bits, five at a time from the right.
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	dst = append(dst, MessageIDPrefix...)
	return append(dst, out[:]...)
}

// UUID returns the canonical 8-4-4-4-12 lower-case hex form.
func (id MessageID) UUID() string {
	const hexd = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexd[c>>4], hexd[c&15]
		j += 2
	}
	return string(b[:])
}

// Time returns the millisecond timestamp embedded in the id.
func (id MessageID) Time() time.Time {
	ms := int64(binary.BigEndian.Uint16(id[0:2]))<<32 | int64(binary.BigEndian.Uint32(id[2:6]))
	return time.UnixMilli(ms).UTC()
}

// ParseMessageID parses the text form produced by String (digits in either case).
func ParseMessageID(s string) (MessageID, error) {
	var id MessageID
	if len(s) != len(MessageIDPrefix)+26 || s[:len(MessageIDPrefix)] != MessageIDPrefix {
		return id, fmt.Errorf("%w: %q", ErrMessageID, s)
	}
	s = s[len(MessageIDPrefix):]
	if v := crockfordDec[s[0]]; v != 0xff && v > 7 { // only 3 bits fit in the first digit
		return id, fmt.Errorf("%w: %q overflows 128 bits", ErrMessageID, s)
	}
	var hi, lo uint64
	for i := range 26 {
		v := crockfordDec[s[i]]
		if v == 0xff {
			return id, fmt.Errorf("%w: bad digit %q", ErrMessageID, s[i])
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	binary.BigEndian.PutUint64(id[0:8], hi)
	binary.BigEndian.PutUint64(id[8:16], lo)
	return id, nil
}
