package verifier

import (
	"cmp"
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// Errors returned by Verify. Each is wrapped with the header and the detail, so test with errors.Is.
var (
	// ErrMissingHeader: a header the profile requires is absent or empty.
	ErrMissingHeader = errors.New("missing header")
	// ErrMalformedHeader: a header is present but cannot be parsed (a timestamp that is not an integer, a signature
	// header with no "version,value" entry, an X-OpenMDM-Delivery that contradicts the signed body, ...).
	ErrMalformedHeader = errors.New("malformed header")
	// ErrTimestampTooOld: the message's timestamp is further in the past than the tolerance.
	ErrTimestampTooOld = errors.New("timestamp too old")
	// ErrTimestampTooNew: the message's timestamp is further in the future than the tolerance.
	ErrTimestampTooNew = errors.New("timestamp too new")
	// ErrNoMatchingSignature: no signature in the request verifies under any trusted key. Signatures with a version
	// this package does not know are ignored, so a header of only unknown versions ends here too.
	ErrNoMatchingSignature = errors.New("no matching signature")
)

// Errors returned by New.
var (
	// ErrNoKeys: the trust list is empty. (The official Go library accepts an empty secret; we refuse it.)
	ErrNoKeys = errors.New("no trusted keys")
	// ErrConfig: a Config field is out of range.
	ErrConfig = errors.New("invalid verifier config")
)

// Default values of Config's zero fields.
const (
	DefaultTolerance    = 5 * time.Minute
	DefaultMaxBodyBytes = 1 << 20
	DefaultDedupTTL     = 24 * time.Hour
)

// TimestampCheck says whether Verify checks the message's timestamp against Config.Tolerance.
type TimestampCheck uint8

const (
	// TimestampDefault checks the timestamp where the profile signs one (standard) and not elsewhere.
	TimestampDefault TimestampCheck = iota
	// TimestampEnforce also checks openmdm's X-OpenMDM-Timestamp. OpenMDM does not sign that header, so the verifier
	// requires it to equal the signed body's "timestamp" field. It is the event's time, fixed across retries: set a
	// Tolerance longer than the sender's retry schedule. Mender carries no timestamp, and New refuses this for it.
	TimestampEnforce
	// TimestampSkip checks no timestamp: a captured standard request can then be replayed at any later time and only
	// deduplication stands in the way. For tests and tools, not for receivers.
	TimestampSkip
)

// Config configures a Verifier. The zero value of each field is documented; only Keys is required.
type Config struct {
	// Profile is the sender's profile: "standard", "openmdm" or "mender". Defaults to "standard".
	Profile string
	// Keys is the trust list. standard: "whsec_" secrets (v1) and "whpk_" public keys (v1a); openmdm: the shared
	// secret strings; mender: the hex secrets. A signature made by any of them verifies; Result.KeyIndex says which.
	// Required: New refuses an empty list.
	Keys []string
	// Tolerance is how far the message's timestamp may be from now, in either direction. Defaults to 5 minutes.
	Tolerance time.Duration
	// Timestamps selects where the timestamp is checked. Defaults to TimestampDefault.
	Timestamps TimestampCheck
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time

	// The fields below configure Middleware only.

	// MaxBodyBytes is the largest body Middleware reads; a larger one is refused with 413. Defaults to 1 MiB.
	MaxBodyBytes int64
	// Dedup remembers message ids so that Middleware drops duplicates. Defaults to a MemoryDedup of its default
	// size, private to this Verifier, on the same clock. NoDedup turns deduplication off.
	Dedup DedupStore
	// DedupTTL is how long an id is remembered. Defaults to 24 hours: a sender retries a delivery whose answer it
	// never got, possibly hours later, with the same id.
	DedupTTL time.Duration
}

// Result describes a verified message.
type Result struct {
	// MessageID is the message's id: webhook-id (standard), X-OpenMDM-Delivery (openmdm, which must agree with the
	// signed body's "id"), the body's "id" field (mender). Empty if a verified openmdm or mender body has none.
	MessageID string
	// Timestamp is webhook-timestamp (standard), the event time (openmdm), or the body's "time" (mender); zero if
	// the message has none.
	Timestamp time.Time
	// KeyIndex is the index in Config.Keys of the key that verified the signature.
	KeyIndex int
	// SignatureIndex is the position, from 0, of the matching signature among those the request carries.
	SignatureIndex int
	// Version is the matching signature's scheme: "v1" or "v1a" (standard), "sha256" (openmdm),
	// "MEN-HMAC-SHA256-Payload" (mender).
	Version string
}

// Verifier checks webhook requests signed under one profile against a trust list. It is safe for concurrent use.
type Verifier struct {
	profile   string
	hmacKeys  []trusted // in Config.Keys order
	edKeys    []trusted
	tolerance time.Duration
	checkTS   bool
	now       func() time.Time

	maxBody  int64
	dedup    DedupStore
	dedupTTL time.Duration
}

type trusted struct {
	index int
	mac   signing.Key       // HMAC keys
	pub   ed25519.PublicKey // ed25519 keys
}

// New returns a Verifier for cfg, or an error if cfg is invalid: an unknown profile, an empty trust list, a key
// that does not parse (the error names its index, never the key), or a negative duration or size.
func New(cfg Config) (*Verifier, error) {
	p, err := signing.ProfileByName(cfg.Profile)
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	if len(cfg.Keys) == 0 {
		return nil, fmt.Errorf("verifier: %w", ErrNoKeys)
	}
	if cfg.Tolerance < 0 || cfg.MaxBodyBytes < 0 || cfg.DedupTTL < 0 {
		return nil, fmt.Errorf("verifier: %w: Tolerance, MaxBodyBytes and DedupTTL must not be negative", ErrConfig)
	}
	v := &Verifier{
		profile:   p.Name(),
		tolerance: cmp.Or(cfg.Tolerance, DefaultTolerance),
		now:       cfg.Now,
		maxBody:   cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		dedup:     cfg.Dedup,
		dedupTTL:  cmp.Or(cfg.DedupTTL, DefaultDedupTTL),
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch cfg.Timestamps {
	case TimestampDefault:
		v.checkTS = v.profile == signing.Standard.Name()
	case TimestampEnforce:
		if v.profile == signing.Mender.Name() {
			return nil, fmt.Errorf("verifier: %w: the mender profile carries no timestamp to check", ErrConfig)
		}
		v.checkTS = true
	case TimestampSkip:
	default:
		return nil, fmt.Errorf("verifier: %w: Timestamps = %d", ErrConfig, cfg.Timestamps)
	}
	for i, s := range cfg.Keys {
		if v.profile == signing.Standard.Name() && strings.HasPrefix(s, signing.PublicKeyPrefix) {
			pub, err := signing.ParsePublicKey(s)
			if err != nil {
				return nil, fmt.Errorf("verifier: key %d: %w", i, err)
			}
			v.edKeys = append(v.edKeys, trusted{index: i, pub: pub})
			continue
		}
		if v.profile == signing.Standard.Name() && !strings.HasPrefix(s, signing.SecretPrefix) {
			if strings.HasPrefix(s, signing.PrivateKeyPrefix) {
				return nil, fmt.Errorf("verifier: key %d: %w: whsk_ is a private signing key; a receiver trusts its whpk_ public key", i, signing.ErrKeyPrefix)
			}
			if s == "" {
				return nil, fmt.Errorf("verifier: key %d: %w", i, signing.ErrKeyEmpty)
			}
			return nil, fmt.Errorf("verifier: key %d: %w: want %s or %s", i, signing.ErrKeyPrefix, signing.SecretPrefix, signing.PublicKeyPrefix)
		}
		k, err := p.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("verifier: key %d: %w", i, err)
		}
		v.hmacKeys = append(v.hmacKeys, trusted{index: i, mac: k})
	}
	if v.dedup == nil {
		v.dedup = NewMemoryDedup(MemoryDedupConfig{Now: v.now})
	}
	return v, nil
}

// Profile returns the profile name the Verifier checks.
func (v *Verifier) Profile() string { return v.profile }

// Verify checks the signature headers in h (canonical keys, as net/http provides them) against body, the raw
// request body exactly as received. Every signature the request carries is tried against every trusted key, and
// compared in constant time. On success the Result names the matching key and signature; on failure the error
// wraps one of ErrMissingHeader, ErrMalformedHeader, ErrTimestampTooOld, ErrTimestampTooNew or
// ErrNoMatchingSignature. Verify does not deduplicate; Middleware does.
func (v *Verifier) Verify(h http.Header, body []byte) (Result, error) {
	switch v.profile {
	case "openmdm":
		return v.verifyOpenMDM(h, body)
	case "mender":
		return v.verifyMender(h, body)
	}
	return v.verifyStandard(h, body)
}

func (v *Verifier) verifyStandard(h http.Header, body []byte) (Result, error) {
	id := h.Get(signing.HeaderID)
	if id == "" {
		return Result{}, missing("webhook-id")
	}
	tsText := h.Get(signing.HeaderTimestamp)
	if tsText == "" {
		return Result{}, missing("webhook-timestamp")
	}
	sigText := joinValues(h.Values(signing.HeaderSignature))
	if sigText == "" {
		return Result{}, missing("webhook-signature")
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || strconv.FormatInt(ts, 10) != tsText {
		return Result{}, fmt.Errorf("webhook-timestamp: %w: %.32q is not decimal Unix seconds", ErrMalformedHeader, tsText)
	}
	t := time.Unix(ts, 0)
	if v.checkTS {
		if err := v.checkTime("webhook-timestamp", ts); err != nil {
			return Result{}, err
		}
	}
	sigs, err := parseSignatureHeader(sigText)
	if err != nil {
		return Result{}, fmt.Errorf("webhook-signature: %w", err)
	}

	res := Result{MessageID: id, Timestamp: t}
	var stats matchStats
	// HMAC: one MAC per trusted key, compared with every v1 signature.
	var macs [][]byte
	var content []byte // "<id>.<timestamp>.<body>" for ed25519, built once if needed
	for i, s := range sigs {
		switch s.version {
		case signing.VersionHMAC:
			raw, ok := decodeSig(s.value, 32)
			if !ok {
				stats.malformed++
				continue
			}
			stats.v1++
			if macs == nil {
				macs = make([][]byte, len(v.hmacKeys))
				for j, k := range v.hmacKeys {
					enc := k.mac.AppendSignature(nil, id, ts, body)[len(signing.VersionHMAC)+1:]
					macs[j], _ = decodeSig(string(enc), 32)
				}
			}
			for j, mac := range macs {
				if hmac.Equal(mac, raw) {
					res.KeyIndex, res.SignatureIndex, res.Version = v.hmacKeys[j].index, i, s.version
					return res, nil
				}
			}
		case signing.VersionEd25519:
			raw, ok := decodeSig(s.value, ed25519.SignatureSize)
			if !ok {
				stats.malformed++
				continue
			}
			stats.v1a++
			if content == nil && len(v.edKeys) > 0 {
				content = make([]byte, 0, len(id)+len(tsText)+len(body)+2)
				content = append(append(append(append(append(content, id...), '.'), tsText...), '.'), body...)
			}
			for _, k := range v.edKeys {
				if ed25519.Verify(k.pub, content, raw) {
					res.KeyIndex, res.SignatureIndex, res.Version = k.index, i, s.version
					return res, nil
				}
			}
		default:
			stats.unknown++
		}
	}
	return Result{}, fmt.Errorf("webhook-signature: %w: %s", ErrNoMatchingSignature, stats.describe(len(v.hmacKeys), len(v.edKeys)))
}

func (v *Verifier) verifyOpenMDM(h http.Header, body []byte) (Result, error) {
	values := nonEmpty(h.Values(signing.HeaderOpenMDMSignature))
	if len(values) == 0 {
		return Result{}, missing("X-OpenMDM-Signature")
	}
	i, k, err := v.matchBodyHMAC("X-OpenMDM-Signature", "sha256=<64 hex digits>", values, body, func(s string) ([]byte, bool) {
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
	res.MessageID = h.Get(signing.HeaderOpenMDMDelivery)
	if b.ID != nil {
		if res.MessageID != "" && res.MessageID != *b.ID {
			return Result{}, fmt.Errorf("X-OpenMDM-Delivery: %w: does not match the signed body's id", ErrMalformedHeader)
		}
		res.MessageID = *b.ID
	}
	tsText := h.Get(signing.HeaderOpenMDMTimestamp)
	if b.Timestamp != nil {
		if tsText != "" && tsText != *b.Timestamp {
			return Result{}, fmt.Errorf("X-OpenMDM-Timestamp: %w: does not match the signed body's timestamp", ErrMalformedHeader)
		}
		tsText = *b.Timestamp
	}
	if tsText == "" {
		if v.checkTS {
			return Result{}, missing("X-OpenMDM-Timestamp")
		}
		return res, nil
	}
	t, err := time.Parse(time.RFC3339Nano, tsText)
	if err != nil {
		if !v.checkTS {
			return res, nil // informational only
		}
		return Result{}, fmt.Errorf("X-OpenMDM-Timestamp: %w: %.40q is not an ISO 8601 time", ErrMalformedHeader, tsText)
	}
	res.Timestamp = t
	if v.checkTS {
		if err := v.checkTime("X-OpenMDM-Timestamp", t.Unix()); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

func (v *Verifier) verifyMender(h http.Header, body []byte) (Result, error) {
	values := nonEmpty(append(h.Values(signing.HeaderMenderSignature), h.Values(signing.HeaderMenderSignatureLegacy)...))
	if len(values) == 0 {
		return Result{}, missing("X-Men-Signature")
	}
	if alg := h.Get(signing.HeaderMenderAlgorithm); alg != "" && alg != signing.MenderAlgorithm {
		return Result{}, fmt.Errorf("X-Men-Algorithm: %w: %.40q (want %s)", ErrMalformedHeader, alg, signing.MenderAlgorithm)
	}
	i, k, err := v.matchBodyHMAC("X-Men-Signature", "64 hex digits", values, body, decodeHex)
	if err != nil {
		return Result{}, err
	}
	res := Result{KeyIndex: k, SignatureIndex: i, Version: signing.MenderAlgorithm}
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

// matchBodyHMAC compares each signature value, decoded by decode, with the body-only HMAC under every trusted key.
// It returns the matching signature's position and key index. want describes the expected form, for errors.
func (v *Verifier) matchBodyHMAC(header, want string, values []string, body []byte, decode func(string) ([]byte, bool)) (int, int, error) {
	sums := make([][]byte, len(v.hmacKeys))
	for j, k := range v.hmacKeys {
		sums[j] = k.mac.HMACSum(nil, body)
	}
	var stats matchStats
	for i, s := range values {
		raw, ok := decode(strings.TrimSpace(s))
		if !ok {
			stats.malformed++
			continue
		}
		stats.v1++
		for j, sum := range sums {
			if hmac.Equal(sum, raw) {
				return i, v.hmacKeys[j].index, nil
			}
		}
	}
	if stats.v1 == 0 {
		return 0, 0, fmt.Errorf("%s: %w: want %s", header, ErrMalformedHeader, want)
	}
	return 0, 0, fmt.Errorf("%s: %w: %d signature(s) checked against %d key(s)", header, ErrNoMatchingSignature, stats.v1, len(v.hmacKeys))
}

// checkTime checks Unix seconds ts against now ± tolerance.
func (v *Verifier) checkTime(header string, ts int64) error {
	now := v.now()
	// Clamp far-off values so that neither time.Unix nor the Duration below overflows (2^33 s is 272 years, under
	// time.Duration's 292); any sane tolerance is far below the clamp.
	const limit = 1 << 33
	ts = min(max(ts, now.Unix()-limit), now.Unix()+limit)
	d := now.Sub(time.Unix(ts, 0))
	switch {
	case d > v.tolerance:
		return fmt.Errorf("%s: %w: %s before now, tolerance %s", header, ErrTimestampTooOld, d.Truncate(time.Second), v.tolerance)
	case -d > v.tolerance:
		return fmt.Errorf("%s: %w: %s after now, tolerance %s", header, ErrTimestampTooNew, (-d).Truncate(time.Second), v.tolerance)
	}
	return nil
}

type matchStats struct{ v1, v1a, unknown, malformed int }

func (s matchStats) describe(hmacKeys, edKeys int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d v1 signature(s) checked against %d whsec_ key(s), %d v1a against %d whpk_ key(s)", s.v1, hmacKeys, s.v1a, edKeys)
	if s.unknown > 0 {
		fmt.Fprintf(&b, "; %d of an unknown version ignored", s.unknown)
	}
	if s.malformed > 0 {
		fmt.Fprintf(&b, "; %d not valid base64 of the right size", s.malformed)
	}
	return b.String()
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
