package profiles

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/signing"
)

// OpenMDM header names, in canonical form.
const (
	HeaderOpenMDMEvent     = "X-Openmdm-Event"
	HeaderOpenMDMDelivery  = "X-Openmdm-Delivery"
	HeaderOpenMDMTimestamp = "X-Openmdm-Timestamp"
	HeaderOpenMDMSignature = "X-Openmdm-Signature"
)

// OpenMDM secrets are used as UTF-8 bytes; these bounds keep them guessable-resistant and sane.
const (
	MinOpenMDMSecret = 16
	MaxOpenMDMSecret = 256
)

type openMDM struct{}

// OpenMDM reproduces @openmdm/core's sender: X-OpenMDM-* headers, "sha256=<hex>" HMAC of the body alone keyed with
// the secret's UTF-8 bytes (16 to 256 bytes); body {"id","event","timestamp","data"} with the message's UUID and
// event time, both fixed across endpoints and retries. It signs with HMAC only, with the first (newest) key. Its
// policy follows @openmdm/core: 2xx succeeds; 410 is gone; any other 4xx but 429 fails for good; 429, 5xx, network
// errors and timeouts are retried (so are 1xx and 3xx, which OpenMDM's sender never sees).
var OpenMDM Profile = openMDM{}

func init() { mustRegister(OpenMDM) }

func (openMDM) Name() string                    { return "openmdm" }
func (openMDM) MetricLabel() string             { return "openmdm" }
func (openMDM) HeaderPrefix() string            { return "x-openmdm-" }
func (openMDM) Algorithms() []signing.Algorithm { return []signing.Algorithm{signing.HMAC} }
func (openMDM) Timestamp() Timestamp            { return EventTimestamp }

const isoMillis = "2006-01-02T15:04:05.000Z" // JavaScript's Date.toISOString

func (openMDM) AppendBody(dst []byte, m *signing.Message) []byte {
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

func (openMDM) SetHeaders(h http.Header, m *signing.Message, body []byte, _ time.Time, keys []signing.Key) error {
	h["Content-Type"] = jsonContentType
	h[HeaderOpenMDMEvent] = []string{m.Type}
	h[HeaderOpenMDMDelivery] = []string{m.ID.UUID()}
	h[HeaderOpenMDMTimestamp] = []string{m.Timestamp.UTC().Format(isoMillis)}
	delete(h, HeaderOpenMDMSignature)
	// OpenMDM sends one signature; during rotation the newest key (first) signs.
	if len(keys) > 0 && keys[0].Algorithm() == signing.HMAC {
		var buf [7 + 64]byte
		var sum [32]byte
		out := append(buf[:0], "sha256="...)
		out = hex.AppendEncode(out, keys[0].HMACSum(sum[:0], body))
		h[HeaderOpenMDMSignature] = []string{string(out)}
	}
	return nil
}

// ParseKey reads a UTF-8 string of MinOpenMDMSecret to MaxOpenMDMSecret bytes, used as the HMAC key as it is.
func (openMDM) ParseKey(s string) (signing.Key, error) {
	switch {
	case s == "":
		return signing.Key{}, signing.ErrKeyEmpty
	case len(s) < MinOpenMDMSecret:
		return signing.Key{}, fmt.Errorf("%w: %d bytes, need at least %d", signing.ErrKeyTooShort, len(s), MinOpenMDMSecret)
	case len(s) > MaxOpenMDMSecret:
		return signing.Key{}, fmt.Errorf("%w: %d bytes, at most %d", signing.ErrKeyTooLong, len(s), MaxOpenMDMSecret)
	case !utf8.ValidString(s):
		return signing.Key{}, fmt.Errorf("%w: not UTF-8", signing.ErrKeyEncoding)
	}
	return signing.NewHMACKey([]byte(s)), nil
}

func (openMDM) GenerateKey(alg signing.Algorithm) (string, string, error) {
	if alg != signing.HMAC {
		return "", "", fmt.Errorf("%w: openmdm signs with hmac only", signing.ErrAlgorithm)
	}
	return randomHex(32), "", nil
}

func (openMDM) Classify(code int, err error) Verdict {
	switch {
	case err != nil || code == 0:
		return Retry
	case code >= 200 && code <= 299:
		return Delivered
	case code == http.StatusGone:
		return Gone
	case code == http.StatusTooManyRequests:
		return Retry
	case code >= 400 && code <= 499:
		return Fail
	}
	return Retry
}

// Trust reads the shared secret strings.
func (p openMDM) Trust(keys []string) (Checker, error) {
	macs, err := trustHMAC(p, keys)
	if err != nil {
		return nil, err
	}
	return openMDMChecker{macs}, nil
}

type openMDMChecker struct{ keys []trusted }

// Verify checks the body HMAC, then binds the unsigned X-OpenMDM-Delivery and X-OpenMDM-Timestamp headers to the
// signed body's "id" and "timestamp".
func (c openMDMChecker) Verify(h http.Header, body []byte, checkTime func(string, int64) error) (Result, error) {
	values := nonEmpty(h.Values(HeaderOpenMDMSignature))
	if len(values) == 0 {
		return Result{}, missing("X-OpenMDM-Signature")
	}
	i, k, err := matchBodyHMAC(c.keys, "X-OpenMDM-Signature", "sha256=<64 hex digits>", values, body, func(s string) ([]byte, bool) {
		hexSum, ok := strings.CutPrefix(s, "sha256=")
		if !ok {
			return nil, false
		}
		return decodeHex(hexSum)
	})
	if err != nil {
		return Result{}, err
	}
	res := Result{KeyIndex: k, SignatureIndex: i, Version: "sha256"}

	// The body is authentic from here on. OpenMDM's headers are not signed, so they must agree with it.
	var b struct {
		ID        *string `json:"id"`
		Timestamp *string `json:"timestamp"`
	}
	_ = json.Unmarshal(body, &b) // a body that is not an object has no fields to bind
	res.MessageID = h.Get(HeaderOpenMDMDelivery)
	if b.ID != nil {
		if res.MessageID != "" && res.MessageID != *b.ID {
			return Result{}, fmt.Errorf("X-OpenMDM-Delivery: %w: does not match the signed body's id", ErrMalformedHeader)
		}
		res.MessageID = *b.ID
	}
	tsText := h.Get(HeaderOpenMDMTimestamp)
	if b.Timestamp != nil {
		if tsText != "" && tsText != *b.Timestamp {
			return Result{}, fmt.Errorf("X-OpenMDM-Timestamp: %w: does not match the signed body's timestamp", ErrMalformedHeader)
		}
		tsText = *b.Timestamp
	}
	if tsText == "" {
		if checkTime != nil {
			return Result{}, missing("X-OpenMDM-Timestamp")
		}
		return res, nil
	}
	t, err := time.Parse(time.RFC3339Nano, tsText)
	if err != nil {
		if checkTime == nil {
			return res, nil // informational only
		}
		return Result{}, fmt.Errorf("X-OpenMDM-Timestamp: %w: %.40q is not an ISO 8601 time", ErrMalformedHeader, tsText)
	}
	res.Timestamp = t
	if checkTime != nil {
		if err := checkTime("X-OpenMDM-Timestamp", t.Unix()); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}
