package profiles

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/webhookd/webhookd/signing"
)

// Helpers the profiles share: JSON rendering, key generation and the pieces of verification.

var jsonContentType = []string{"application/json"}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func appendData(dst []byte, data json.RawMessage) []byte {
	if len(data) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, data...)
}

// appendJSONString appends s as a JSON string literal, escaping what JSON requires.
func appendJSONString(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// trusted is one key of a trust list, with its index in the list.
type trusted struct {
	index int
	mac   signing.Key       // HMAC keys
	pub   ed25519.PublicKey // ed25519 keys
}

// trustHMAC parses every key with p.ParseKey, for profiles whose receivers hold the shared secret.
func trustHMAC(p Profile, keys []string) ([]trusted, error) {
	out := make([]trusted, 0, len(keys))
	for i, s := range keys {
		k, err := p.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		out = append(out, trusted{index: i, mac: k})
	}
	return out, nil
}

// matchBodyHMAC compares each signature value, decoded by decode, with the body-only HMAC under every trusted key.
// It returns the matching signature's position and key index. want describes the expected form, for errors.
func matchBodyHMAC(keys []trusted, header, want string, values []string, body []byte, decode func(string) ([]byte, bool)) (int, int, error) {
	sums := make([][]byte, len(keys))
	for j, k := range keys {
		sums[j] = k.mac.HMACSum(nil, body)
	}
	checked := 0
	for i, s := range values {
		raw, ok := decode(strings.TrimSpace(s))
		if !ok {
			continue
		}
		checked++
		for j, sum := range sums {
			if hmac.Equal(sum, raw) {
				return i, keys[j].index, nil
			}
		}
	}
	if checked == 0 {
		return 0, 0, fmt.Errorf("%s: %w: want %s", header, ErrMalformedHeader, want)
	}
	return 0, 0, fmt.Errorf("%s: %w: %d signature(s) checked against %d key(s)", header, ErrNoMatchingSignature, checked, len(keys))
}

func missing(header string) error { return fmt.Errorf("%s: %w", header, ErrMissingHeader) }

func joinValues(vs []string) string {
	if len(vs) == 1 {
		return strings.TrimSpace(vs[0])
	}
	return strings.TrimSpace(strings.Join(vs, " "))
}

func nonEmpty(vs []string) []string {
	out := vs[:0:0]
	for _, s := range vs {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

func decodeSig(s string, size int) ([]byte, bool) {
	if base64.StdEncoding.DecodedLen(len(s)) < size || len(s) > base64.StdEncoding.EncodedLen(size) {
		return nil, false
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	return raw, err == nil && len(raw) == size
}

func decodeHex(s string) ([]byte, bool) {
	if len(s) != 64 {
		return nil, false
	}
	raw, err := hex.DecodeString(s)
	return raw, err == nil
}
