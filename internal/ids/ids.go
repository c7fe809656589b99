// Package ids makes the gateway's object ids: a short prefix, an underscore and the 26 Crockford base32 digits of a
// UUIDv7, so ids sort in creation order and contain only [a-z0-9_] (safe in Redis keys, URLs and file names). It
// also holds that base32 encoding, which message ids (package signing) share.
package ids

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Digits is the length of the base32 form of 128 bits.
const Digits = 26

// ErrBase32 is returned by ParseBase32 for text that is not 26 Crockford base32 digits of at most 128 bits.
var ErrBase32 = errors.New("malformed base32 id")

// New returns prefix + "_" + 26 digits of a fresh UUIDv7. Ids made by one process sort in the order they were made.
func New(prefix string) string {
	b := make([]byte, 0, len(prefix)+1+Digits)
	b = append(append(b, prefix...), '_')
	return string(AppendBase32(b, NewUUID()))
}

// NewUUID returns a fresh UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, 12 bits of sub-millisecond sequence and
// 62 random bits. Successive calls in one process return strictly increasing values.
func NewUUID() [16]byte {
	// uuid.NewV7 fails only if crypto/rand does, which since Go 1.24 never returns an error.
	return uuid.Must(uuid.NewV7())
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

// AppendBase32 appends the 26 lower-case Crockford base32 digits of u (two zero bits, then its 128 bits, five at a
// time) to dst. The digits sort as u does and never contain '.'.
func AppendBase32(dst []byte, u [16]byte) []byte {
	hi := binary.BigEndian.Uint64(u[0:8])
	lo := binary.BigEndian.Uint64(u[8:16])
	var out [Digits]byte
	for i := Digits - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return append(dst, out[:]...)
}

// ParseBase32 parses the form AppendBase32 writes, digits in either case.
func ParseBase32(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != Digits {
		return u, fmt.Errorf("%w: want %d digits, got %d", ErrBase32, Digits, len(s))
	}
	if v := crockfordDec[s[0]]; v != 0xff && v > 7 { // only 3 bits fit in the first digit
		return u, fmt.Errorf("%w: overflows 128 bits", ErrBase32)
	}
	var hi, lo uint64
	for i := range Digits {
		v := crockfordDec[s[i]]
		if v == 0xff {
			return u, fmt.Errorf("%w: bad digit %q", ErrBase32, s[i])
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	binary.BigEndian.PutUint64(u[0:8], hi)
	binary.BigEndian.PutUint64(u[8:16], lo)
	return u, nil
}

// Valid reports whether s is usable as an id: 1 to 64 of [A-Za-z0-9_-]. It is on every store call's path, so it is
// a byte loop rather than a regexp.
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
