package signing

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is what a profile renders: one event, fixed at ingest. Rendering the same Message twice gives the same
// body bytes, so every retry sends (and signs) exactly what the first attempt did.
type Message struct {
	ID        MessageID
	Type      string          // full-stop-separated segments of [a-zA-Z0-9_]
	Timestamp time.Time       // when the event happened
	Data      json.RawMessage // valid JSON; nil renders as null
}

// Profile turns a message and an endpoint's keys into the headers and body a receiver family expects.
type Profile interface {
	// Name is "standard", "openmdm" or "mender".
	Name() string
	// AppendBody appends the request body for m to dst.
	AppendBody(dst []byte, m *Message) []byte
	// SetHeaders sets the content type, identity and signature headers for one attempt made at now, signing body
	// (which must be AppendBody's output) with every key. Existing values of those headers are replaced.
	SetHeaders(h http.Header, m *Message, body []byte, now time.Time, keys []Key)
	// ParseKey parses a secret in the profile's form.
	ParseKey(secret string) (Key, error)
	// GenerateKey returns a fresh secret for alg in the profile's form, and for ed25519 its public key.
	GenerateKey(alg Algorithm) (secret, public string, err error)
}

// ErrProfile is returned for an unknown profile name.
var ErrProfile = errors.New("unknown profile")

// Profiles returns every profile, standard first.
func Profiles() []Profile { return []Profile{Standard, OpenMDM, Mender} }

// ProfileByName returns the named profile; "" means standard.
func ProfileByName(name string) (Profile, error) {
	switch name {
	case "", "standard":
		return Standard, nil
	case "openmdm":
		return OpenMDM, nil
	case "mender":
		return Mender, nil
	}
	return nil, fmt.Errorf("%w: %q (want standard, openmdm or mender)", ErrProfile, name)
}

// Header names, in canonical form (Go writes these; HTTP header names are case-insensitive).
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"

	HeaderOpenMDMEvent     = "X-Openmdm-Event"
	HeaderOpenMDMDelivery  = "X-Openmdm-Delivery"
	HeaderOpenMDMTimestamp = "X-Openmdm-Timestamp"
	HeaderOpenMDMSignature = "X-Openmdm-Signature"

	HeaderMenderSignature       = "X-Men-Signature"
	HeaderMenderSignatureLegacy = "X-Men-Signature-Payload"
	HeaderMenderAlgorithm       = "X-Men-Algorithm"
	MenderAlgorithm             = "MEN-HMAC-SHA256-Payload"
)

var jsonContentType = []string{"application/json"}

// ---- standard ----

type standard struct{}

// Standard is Standard Webhooks 1.0: webhook-id, webhook-timestamp (per attempt), webhook-signature with v1 and v1a
// signatures over "<id>.<timestamp>.<body>"; body {"type","timestamp","data"}.
var Standard Profile = standard{}

func (standard) Name() string { return "standard" }

func (standard) AppendBody(dst []byte, m *Message) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, m.Type)
	dst = append(dst, `,"timestamp":"`...)
	dst = m.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","data":`...)
	dst = appendData(dst, m.Data)
	return append(dst, '}')
}

func (standard) SetHeaders(h http.Header, m *Message, body []byte, now time.Time, keys []Key) {
	var idb [30]byte
	id := string(m.ID.Append(idb[:0]))
	ts := now.Unix()
	var sig [512]byte
	h["Content-Type"] = jsonContentType
	h[HeaderID] = []string{id}
	h[HeaderTimestamp] = []string{strconv.FormatInt(ts, 10)}
	if len(keys) == 0 {
		delete(h, HeaderSignature) // no key: no header, rather than an empty one
		return
	}
	h[HeaderSignature] = []string{string(AppendHeader(sig[:0], id, ts, body, keys))}
}

func (standard) ParseKey(s string) (Key, error) { return ParseKey(s) }

func (standard) GenerateKey(alg Algorithm) (string, string, error) {
	switch alg {
	case HMAC:
		s, err := GenerateSecret(0)
		return s, "", err
	case Ed25519:
		return GenerateKeyPair()
	}
	return "", "", fmt.Errorf("%w: %v", ErrAlgorithm, alg)
}

// ---- openmdm ----

type openMDM struct{}

// OpenMDM reproduces @openmdm/core's sender: X-OpenMDM-* headers, "sha256=<hex>" HMAC of the body alone keyed with
// the secret's UTF-8 bytes; body {"id","event","timestamp","data"} with the message's UUID and event time, both fixed
// across endpoints and retries.
var OpenMDM Profile = openMDM{}

// OpenMDM secrets are used as UTF-8 bytes; these bounds keep them guessable-resistant and sane.
const (
	MinOpenMDMSecret = 16
	MaxOpenMDMSecret = 256
)

func (openMDM) Name() string { return "openmdm" }

const isoMillis = "2006-01-02T15:04:05.000Z" // JavaScript's Date.toISOString

func (openMDM) AppendBody(dst []byte, m *Message) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, m.ID.UUID()...)
	dst = append(dst, `","event":`...)
	dst = appendJSONString(dst, m.Type)
	dst = append(dst, `,"timestamp":"`...)
	dst = m.Timestamp.UTC().AppendFormat(dst, isoMillis)
	dst = append(dst, `","data":`...)
	dst = appendData(dst, m.Data)
	return append(dst, '}')
}

func (openMDM) SetHeaders(h http.Header, m *Message, body []byte, _ time.Time, keys []Key) {
	h["Content-Type"] = jsonContentType
	h[HeaderOpenMDMEvent] = []string{m.Type}
	h[HeaderOpenMDMDelivery] = []string{m.ID.UUID()}
	h[HeaderOpenMDMTimestamp] = []string{m.Timestamp.UTC().Format(isoMillis)}
	delete(h, HeaderOpenMDMSignature)
	// OpenMDM sends one signature; during rotation the newest key (first) signs.
	if len(keys) > 0 && keys[0].alg == HMAC {
		var buf [7 + 64]byte
		var sum [32]byte
		out := append(buf[:0], "sha256="...)
		out = hex.AppendEncode(out, keys[0].HMACSum(sum[:0], body))
		h[HeaderOpenMDMSignature] = []string{string(out)}
	}
}

func (openMDM) ParseKey(s string) (Key, error) {
	switch {
	case s == "":
		return Key{}, ErrKeyEmpty
	case len(s) < MinOpenMDMSecret:
		return Key{}, fmt.Errorf("%w: %d bytes, need at least %d", ErrKeyTooShort, len(s), MinOpenMDMSecret)
	case len(s) > MaxOpenMDMSecret:
		return Key{}, fmt.Errorf("%w: %d bytes, at most %d", ErrKeyTooLong, len(s), MaxOpenMDMSecret)
	case !utf8.ValidString(s):
		return Key{}, fmt.Errorf("%w: not UTF-8", ErrKeyEncoding)
	}
	return NewHMACKey([]byte(s)), nil
}

func (openMDM) GenerateKey(alg Algorithm) (string, string, error) {
	if alg != HMAC {
		return "", "", fmt.Errorf("%w: openmdm signs with hmac only", ErrAlgorithm)
	}
	return randomHex(32), "", nil
}

// ---- mender ----

type mender struct{}

// Mender reproduces Mender's iot-manager webhook sender: X-Men-Signature (hex HMAC-SHA256 of the body alone, keyed
// with the hex-decoded secret), the same value under the older X-Men-Signature-Payload name, X-Men-Algorithm; body
// {"id","type","data","time"}. Full stops and underscores in the event type become hyphens
// (device.status_changed → device-status-changed), Mender's naming.
var Mender Profile = mender{}

func (mender) Name() string { return "mender" }

func (mender) AppendBody(dst []byte, m *Message) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, m.ID.UUID()...)
	dst = append(dst, `","type":`...)
	dst = appendJSONString(dst, MenderType(m.Type))
	dst = append(dst, `,"data":`...)
	dst = appendData(dst, m.Data)
	dst = append(dst, `,"time":"`...)
	dst = m.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `"}`...)
}

// MenderType maps a webhookd event type to Mender's hyphenated form.
func MenderType(t string) string {
	if !strings.ContainsAny(t, "._") {
		return t
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' {
			return '-'
		}
		return r
	}, t)
}

func (mender) SetHeaders(h http.Header, _ *Message, body []byte, _ time.Time, keys []Key) {
	h["Content-Type"] = jsonContentType
	delete(h, HeaderMenderSignature)
	delete(h, HeaderMenderSignatureLegacy)
	delete(h, HeaderMenderAlgorithm)
	if len(keys) == 0 || keys[0].alg != HMAC {
		return // Mender leaves the signature headers out when there is no secret
	}
	var sum [32]byte
	sig := []string{hex.EncodeToString(keys[0].HMACSum(sum[:0], body))}
	h[HeaderMenderSignature] = sig
	h[HeaderMenderSignatureLegacy] = sig
	h[HeaderMenderAlgorithm] = []string{MenderAlgorithm}
}

func (mender) ParseKey(s string) (Key, error) {
	switch {
	case s == "":
		return Key{}, ErrKeyEmpty
	case len(s) > 64:
		return Key{}, fmt.Errorf("%w: %d hex digits, at most 64", ErrKeyTooLong, len(s))
	case len(s)%2 != 0:
		return Key{}, fmt.Errorf("%w: odd number of hex digits", ErrKeyEncoding)
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return Key{}, fmt.Errorf("%w: Mender secrets are lower-case hex", ErrKeyEncoding)
		}
	}
	raw, _ := hex.DecodeString(s)
	return NewHMACKey(raw), nil
}

func (mender) GenerateKey(alg Algorithm) (string, string, error) {
	if alg != HMAC {
		return "", "", fmt.Errorf("%w: mender signs with hmac only", ErrAlgorithm)
	}
	return randomHex(32), "", nil
}

// ---- helpers ----

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
