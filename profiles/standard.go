package profiles

import (
	"crypto/ed25519"
	"crypto/hmac"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/signing"
)

type standard struct{}

// Standard is Standard Webhooks 1.0: webhook-id, webhook-timestamp (per attempt), webhook-signature with v1 (HMAC,
// whsec_ secrets) and v1a (ed25519, whsk_ private keys) signatures over "<id>.<timestamp>.<body>"; body
// {"type","timestamp","data"}. During a rotation every key signs, each by its own algorithm, so a request can carry
// v1 and v1a signatures side by side. It never sends an unsigned request. Its policy: 2xx succeeds; 410 is gone;
// everything else (3xx, 4xx, 429, 5xx, network errors, timeouts) is retried.
var Standard Profile = standard{}

func init() { mustRegister(Standard) }

func (standard) Name() string         { return "standard" }
func (standard) MetricLabel() string  { return "standard" }
func (standard) HeaderPrefix() string { return "webhook-" }
func (standard) Algorithms() []signing.Algorithm {
	return []signing.Algorithm{signing.HMAC, signing.Ed25519}
}
func (standard) Timestamp() Timestamp { return SignedTimestamp }

func (standard) AppendBody(dst []byte, m *signing.Message) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, m.Type)
	dst = append(dst, `,"timestamp":"`...)
	dst = m.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","data":`...)
	dst = appendData(dst, m.Data)
	return append(dst, '}')
}

func (standard) SetHeaders(h http.Header, m *signing.Message, body []byte, now time.Time, keys []signing.Key) error {
	var idb [30]byte
	id := string(m.ID.Append(idb[:0]))
	ts := now.Unix()
	var sig [512]byte
	h["Content-Type"] = jsonContentType
	h[signing.HeaderID] = []string{id}
	h[signing.HeaderTimestamp] = []string{strconv.FormatInt(ts, 10)}
	if len(keys) == 0 {
		delete(h, signing.HeaderSignature) // no key: no header, rather than an empty one
		return signing.ErrNoKeys
	}
	h[signing.HeaderSignature] = []string{string(signing.AppendHeader(sig[:0], id, ts, body, keys))}
	return nil
}

// ParseKey parses a whsec_ secret or a whsk_ private key: the prefix tells the algorithm.
func (standard) ParseKey(s string) (signing.Key, error) { return signing.ParseKey(s) }

func (standard) GenerateKey(alg signing.Algorithm) (string, string, error) {
	switch alg {
	case signing.HMAC:
		s, err := signing.GenerateSecret(0)
		return s, "", err
	case signing.Ed25519:
		return signing.GenerateKeyPair()
	}
	return "", "", fmt.Errorf("%w: %v", signing.ErrAlgorithm, alg)
}

func (standard) Classify(code int, err error) Verdict {
	switch {
	case err != nil || code == 0:
		return Retry
	case code >= 200 && code <= 299:
		return Delivered
	case code == http.StatusGone:
		return Gone
	}
	return Retry
}

// Trust reads "whsec_" secrets (v1) and "whpk_" public keys (v1a).
func (standard) Trust(keys []string) (Checker, error) {
	c := &standardChecker{}
	for i, s := range keys {
		switch {
		case strings.HasPrefix(s, signing.PublicKeyPrefix):
			pub, err := signing.ParsePublicKey(s)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
			c.edKeys = append(c.edKeys, trusted{index: i, pub: pub})
		case strings.HasPrefix(s, signing.SecretPrefix):
			k, err := signing.ParseSecret(s)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
			c.hmacKeys = append(c.hmacKeys, trusted{index: i, mac: k})
		case strings.HasPrefix(s, signing.PrivateKeyPrefix):
			return nil, fmt.Errorf("key %d: %w: whsk_ is a private signing key; a receiver trusts its whpk_ public key", i, signing.ErrKeyPrefix)
		case s == "":
			return nil, fmt.Errorf("key %d: %w", i, signing.ErrKeyEmpty)
		default:
			return nil, fmt.Errorf("key %d: %w: want %s or %s", i, signing.ErrKeyPrefix, signing.SecretPrefix, signing.PublicKeyPrefix)
		}
	}
	return c, nil
}

type standardChecker struct {
	hmacKeys []trusted // in trust-list order
	edKeys   []trusted
}

func (c *standardChecker) Verify(h http.Header, body []byte, checkTime func(string, int64) error) (Result, error) {
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
	if checkTime != nil {
		if err := checkTime("webhook-timestamp", ts); err != nil {
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
				macs = make([][]byte, len(c.hmacKeys))
				for j, k := range c.hmacKeys {
					enc := k.mac.AppendSignature(nil, id, ts, body)[len(signing.VersionHMAC)+1:]
					macs[j], _ = decodeSig(string(enc), 32)
				}
			}
			for j, mac := range macs {
				if hmac.Equal(mac, raw) {
					res.KeyIndex, res.SignatureIndex, res.Version = c.hmacKeys[j].index, i, s.version
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
			if content == nil && len(c.edKeys) > 0 {
				content = make([]byte, 0, len(id)+len(tsText)+len(body)+2)
				content = append(append(append(append(append(content, id...), '.'), tsText...), '.'), body...)
			}
			for _, k := range c.edKeys {
				if ed25519.Verify(k.pub, content, raw) {
					res.KeyIndex, res.SignatureIndex, res.Version = k.index, i, s.version
					return res, nil
				}
			}
		default:
			stats.unknown++
		}
	}
	return Result{}, fmt.Errorf("webhook-signature: %w: %s", ErrNoMatchingSignature, stats.describe(len(c.hmacKeys), len(c.edKeys)))
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
