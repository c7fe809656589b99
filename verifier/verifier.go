package verifier

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/webhookd/webhookd/profiles"
)

// Errors returned by Verify. Each is wrapped with the header and the detail, so test with errors.Is. The first
// three are the profiles package's own values, so errors.Is matches either name.
var (
	// ErrMissingHeader: a header the profile requires is absent or empty.
	ErrMissingHeader = profiles.ErrMissingHeader
	// ErrMalformedHeader: a header is present but cannot be parsed (a timestamp that is not an integer, a signature
	// header with no "version,value" entry, an X-OpenMDM-Delivery that contradicts the signed body, ...).
	ErrMalformedHeader = profiles.ErrMalformedHeader
	// ErrNoMatchingSignature: no signature in the request verifies under any trusted key. Signatures with a version
	// this package does not know are ignored, so a header of only unknown versions ends here too.
	ErrNoMatchingSignature = profiles.ErrNoMatchingSignature
	// ErrTimestampTooOld: the message's timestamp is further in the past than the tolerance.
	ErrTimestampTooOld = errors.New("timestamp too old")
	// ErrTimestampTooNew: the message's timestamp is further in the future than the tolerance.
	ErrTimestampTooNew = errors.New("timestamp too new")
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
	// Profile is the sender's profile: "standard", "openmdm", "mender" or another registered with package profiles.
	// Defaults to "standard".
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

// Result describes a verified message: its id and timestamp, and which key and signature matched.
type Result = profiles.Result

// Verifier checks webhook requests signed under one profile against a trust list. It is safe for concurrent use.
type Verifier struct {
	profile   profiles.Profile
	checker   profiles.Checker
	checkTime func(header string, unix int64) error // nil: no timestamp check
	tolerance time.Duration
	now       func() time.Time

	maxBody  int64
	dedup    DedupStore
	dedupTTL time.Duration
}

// New returns a Verifier for cfg, or an error if cfg is invalid: an unknown profile, an empty trust list, a key
// that does not parse (the error names its index, never the key), or a negative duration or size.
func New(cfg Config) (*Verifier, error) {
	p, err := profiles.Lookup(cfg.Profile)
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
		profile:   p,
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
		if p.Timestamp() == profiles.SignedTimestamp {
			v.checkTime = v.checkUnix
		}
	case TimestampEnforce:
		if p.Timestamp() == profiles.NoTimestamp {
			return nil, fmt.Errorf("verifier: %w: the %s profile carries no timestamp to check", ErrConfig, p.Name())
		}
		v.checkTime = v.checkUnix
	case TimestampSkip:
	default:
		return nil, fmt.Errorf("verifier: %w: Timestamps = %d", ErrConfig, cfg.Timestamps)
	}
	if v.checker, err = p.Trust(cfg.Keys); err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	if v.dedup == nil {
		v.dedup = NewMemoryDedup(MemoryDedupConfig{Now: v.now})
	}
	return v, nil
}

// Profile returns the profile name the Verifier checks.
func (v *Verifier) Profile() string { return v.profile.Name() }

// Verify checks the signature headers in h (canonical keys, as net/http provides them) against body, the raw
// request body exactly as received. Every signature the request carries is tried against every trusted key, and
// compared in constant time. On success the Result names the matching key and signature; on failure the error
// wraps one of ErrMissingHeader, ErrMalformedHeader, ErrTimestampTooOld, ErrTimestampTooNew or
// ErrNoMatchingSignature. Verify does not deduplicate; Middleware does.
func (v *Verifier) Verify(h http.Header, body []byte) (Result, error) {
	return v.checker.Verify(h, body, v.checkTime)
}

// checkUnix checks Unix seconds ts, read from header, against now ± tolerance.
func (v *Verifier) checkUnix(header string, ts int64) error {
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
