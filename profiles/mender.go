package profiles

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// Mender header names, in canonical form, and the algorithm name it sends.
const (
	HeaderMenderSignature       = "X-Men-Signature"
	HeaderMenderSignatureLegacy = "X-Men-Signature-Payload"
	HeaderMenderAlgorithm       = "X-Men-Algorithm"
	MenderAlgorithm             = "MEN-HMAC-SHA256-Payload"
)

type mender struct{}

// Mender reproduces Mender's iot-manager webhook sender: X-Men-Signature (hex HMAC-SHA256 of the body alone, keyed
// with the hex-decoded secret), the same value under the older X-Men-Signature-Payload name, X-Men-Algorithm; body
// {"id","type","data","time"}. Full stops and underscores in the event type become hyphens
// (device.status_changed → device-status-changed), Mender's naming. It signs with HMAC only, with the first (newest)
// key, and carries no timestamp. Mender's sender fails any status of 300 or more and does not retry; webhookd
// retries as for standard, and 410 is gone.
var Mender Profile = mender{}

func init() { mustRegister(Mender) }

func (mender) Name() string                    { return "mender" }
func (mender) MetricLabel() string             { return "mender" }
func (mender) HeaderPrefix() string            { return "x-men-" }
func (mender) Algorithms() []signing.Algorithm { return []signing.Algorithm{signing.HMAC} }
func (mender) Timestamp() Timestamp            { return NoTimestamp }

func (mender) AppendBody(dst []byte, m *signing.Message) []byte {
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

func (mender) SetHeaders(h http.Header, _ *signing.Message, body []byte, _ time.Time, keys []signing.Key) error {
	h["Content-Type"] = jsonContentType
	delete(h, HeaderMenderSignature)
	delete(h, HeaderMenderSignatureLegacy)
	delete(h, HeaderMenderAlgorithm)
	if len(keys) == 0 || keys[0].Algorithm() != signing.HMAC {
		return nil // Mender leaves the signature headers out when there is no secret
	}
	var sum [32]byte
	sig := []string{hex.EncodeToString(keys[0].HMACSum(sum[:0], body))}
	h[HeaderMenderSignature] = sig
	h[HeaderMenderSignatureLegacy] = sig
	h[HeaderMenderAlgorithm] = []string{MenderAlgorithm}
	return nil
}

// ParseKey reads lower-case hex of at most 32 bytes; the HMAC key is the decoded bytes.
func (mender) ParseKey(s string) (signing.Key, error) {
	switch {
	case s == "":
		return signing.Key{}, signing.ErrKeyEmpty
	case len(s) > 64:
		return signing.Key{}, fmt.Errorf("%w: %d hex digits, at most 64", signing.ErrKeyTooLong, len(s))
	case len(s)%2 != 0:
		return signing.Key{}, fmt.Errorf("%w: odd number of hex digits", signing.ErrKeyEncoding)
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return signing.Key{}, fmt.Errorf("%w: Mender secrets are lower-case hex", signing.ErrKeyEncoding)
		}
	}
	raw, _ := hex.DecodeString(s)
	return signing.NewHMACKey(raw), nil
}

func (mender) GenerateKey(alg signing.Algorithm) (string, string, error) {
	if alg != signing.HMAC {
		return "", "", fmt.Errorf("%w: mender signs with hmac only", signing.ErrAlgorithm)
	}
	return randomHex(32), "", nil
}

func (mender) Classify(code int, err error) Verdict { return Standard.Classify(code, err) }

// Trust reads the hex secrets.
func (p mender) Trust(keys []string) (Checker, error) {
	macs, err := trustHMAC(p, keys)
	if err != nil {
		return nil, err
	}
	return menderChecker{macs}, nil
}

type menderChecker struct{ keys []trusted }

// Verify checks the body HMAC under either signature header name; the id and time come from the signed body.
func (c menderChecker) Verify(h http.Header, body []byte, _ func(string, int64) error) (Result, error) {
	values := nonEmpty(append(h.Values(HeaderMenderSignature), h.Values(HeaderMenderSignatureLegacy)...))
	if len(values) == 0 {
		return Result{}, missing("X-Men-Signature")
	}
	if alg := h.Get(HeaderMenderAlgorithm); alg != "" && alg != MenderAlgorithm {
		return Result{}, fmt.Errorf("X-Men-Algorithm: %w: %.40q (want %s)", ErrMalformedHeader, alg, MenderAlgorithm)
	}
	i, k, err := matchBodyHMAC(c.keys, "X-Men-Signature", "64 hex digits", values, body, decodeHex)
	if err != nil {
		return Result{}, err
	}
	res := Result{KeyIndex: k, SignatureIndex: i, Version: MenderAlgorithm}
	var b struct {
		ID   string `json:"id"`
		Time string `json:"time"`
	}
	_ = json.Unmarshal(body, &b) // authentic but not Mender-shaped: no id to report
	res.MessageID = b.ID
	if t, err := time.Parse(time.RFC3339Nano, b.Time); err == nil {
		res.Timestamp = t
	}
	return res, nil
}
