package verifier_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// Fixed keys: an HMAC secret, a second one for rotation, and an ed25519 pair (profiles.md's vector).
const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	privKey = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	pubKey  = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="

	openmdmSecret  = "openmdm-secret-0123456789"
	openmdmSecret2 = "openmdm-secret-rotated-987"
	menderSecret   = "00112233445566778899aabbccddeeff"
	menderSecret2  = "deadbeef"
)

var clock = time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return clock }

func newVerifier(t testing.TB, cfg verifier.Config) *verifier.Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	v, err := verifier.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// message is a request as webhookd's signing profiles render it.
type message struct {
	header http.Header
	body   []byte
	msg    *signing.Message
}

// render builds the request profile p sends for one event at time now, signed with keys (parsed by p).
func render(t testing.TB, p profiles.Profile, now time.Time, keys ...string) message {
	t.Helper()
	parsed := make([]signing.Key, len(keys))
	for i, s := range keys {
		k, err := p.ParseKey(s)
		if err != nil {
			t.Fatalf("%s.ParseKey: %v", p.Name(), err)
		}
		parsed[i] = k
	}
	m := &signing.Message{
		ID:        signing.NewMessageID(),
		Type:      "device.status_changed",
		Timestamp: now,
		Data:      json.RawMessage(`{"id":"d1","status":"accepted"}`),
	}
	body := p.AppendBody(nil, m)
	h := http.Header{}
	p.SetHeaders(h, m, body, now, parsed)
	return message{h, body, m}
}

func TestProfileRoundTrips(t *testing.T) {
	tests := []struct {
		profile profiles.Profile
		sign    []string // sender's keys
		trust   []string // receiver's keys
		wantKey int
		wantVer string
		wantID  func(m *signing.Message) string
	}{
		{profiles.Standard, []string{secretA}, []string{secretA}, 0, "v1", func(m *signing.Message) string { return m.ID.String() }},
		{profiles.Standard, []string{privKey}, []string{secretA, pubKey}, 1, "v1a", func(m *signing.Message) string { return m.ID.String() }},
		{profiles.OpenMDM, []string{openmdmSecret}, []string{openmdmSecret2, openmdmSecret}, 1, "sha256", func(m *signing.Message) string { return m.ID.UUID() }},
		{profiles.Mender, []string{menderSecret}, []string{menderSecret}, 0, profiles.MenderAlgorithm, func(m *signing.Message) string { return m.ID.UUID() }},
	}
	for _, tt := range tests {
		t.Run(tt.profile.Name()+"/"+tt.wantVer, func(t *testing.T) {
			msg := render(t, tt.profile, clock.Add(-time.Minute), tt.sign...)
			v := newVerifier(t, verifier.Config{Profile: tt.profile.Name(), Keys: tt.trust})
			res, err := v.Verify(msg.header, msg.body)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.KeyIndex != tt.wantKey || res.Version != tt.wantVer || res.MessageID != tt.wantID(msg.msg) || res.SignatureIndex != 0 {
				t.Fatalf("Result = %+v, want key %d, version %s, id %s", res, tt.wantKey, tt.wantVer, tt.wantID(msg.msg))
			}
			if !res.Timestamp.Equal(clock.Add(-time.Minute)) {
				t.Fatalf("Result.Timestamp = %v, want %v", res.Timestamp, clock.Add(-time.Minute))
			}
			// One changed byte anywhere in the body breaks it.
			for _, i := range []int{0, len(msg.body) / 2, len(msg.body) - 1} {
				tampered := []byte(string(msg.body))
				tampered[i] ^= 0x20
				if _, err := v.Verify(msg.header, tampered); !errors.Is(err, verifier.ErrNoMatchingSignature) {
					t.Fatalf("tampered body (byte %d): %v, want ErrNoMatchingSignature", i, err)
				}
			}
			// A key the receiver does not trust verifies nothing.
			other := map[string][]string{"standard": {secretB}, "openmdm": {openmdmSecret2}, "mender": {menderSecret2}}
			w := newVerifier(t, verifier.Config{Profile: tt.profile.Name(), Keys: other[tt.profile.Name()]})
			if _, err := w.Verify(msg.header, msg.body); !errors.Is(err, verifier.ErrNoMatchingSignature) {
				t.Fatalf("untrusted key: %v, want ErrNoMatchingSignature", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	// The sender signs with the new key and the old one during the grace period.
	msg := render(t, profiles.Standard, clock, secretB, secretA)
	sigs := strings.Fields(msg.header.Get("Webhook-Signature"))
	if len(sigs) != 2 {
		t.Fatalf("rotation header %q", msg.header.Get("Webhook-Signature"))
	}
	for _, tt := range []struct {
		name     string
		trust    []string
		wantKey  int
		wantSig  int
		wantFail bool
	}{
		{"receiver still on the old key", []string{secretA}, 0, 1, false},
		{"receiver on the new key", []string{secretB}, 0, 0, false},
		{"receiver trusting both", []string{secretA, secretB}, 1, 0, false},
		{"old key removed, sender done rotating", []string{secretB}, 0, 0, false},
	} {
		v := newVerifier(t, verifier.Config{Keys: tt.trust})
		res, err := v.Verify(msg.header, msg.body)
		if err != nil || res.KeyIndex != tt.wantKey || res.SignatureIndex != tt.wantSig {
			t.Errorf("%s: %+v, %v; want key %d, signature %d", tt.name, res, err, tt.wantKey, tt.wantSig)
		}
	}
	// After rotation the sender signs with the new key only: a receiver that kept only the old key fails.
	after := render(t, profiles.Standard, clock, secretB)
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}})
	if _, err := v.Verify(after.header, after.body); !errors.Is(err, verifier.ErrNoMatchingSignature) {
		t.Fatalf("removed key still verifies: %v", err)
	}
	// Mixed schemes in one header, each checked against the right kind of key.
	mixed := render(t, profiles.Standard, clock, secretB, privKey)
	v = newVerifier(t, verifier.Config{Keys: []string{pubKey}})
	if res, err := v.Verify(mixed.header, mixed.body); err != nil || res.Version != "v1a" || res.SignatureIndex != 1 {
		t.Fatalf("v1a after a v1: %+v, %v", res, err)
	}
}

func TestStandardErrors(t *testing.T) {
	good := render(t, profiles.Standard, clock, secretA, privKey)
	v := newVerifier(t, verifier.Config{Keys: []string{secretA, pubKey}})
	if _, err := v.Verify(good.header, good.body); err != nil {
		t.Fatalf("good message: %v", err)
	}
	sig := good.header.Get("Webhook-Signature")
	v1, v1a, _ := strings.Cut(sig, " ")

	tests := []struct {
		name string
		edit func(h http.Header)
		want error
		text string // in the error message
	}{
		{"no id", func(h http.Header) { h.Del("Webhook-Id") }, verifier.ErrMissingHeader, "webhook-id"},
		{"empty id", func(h http.Header) { h.Set("Webhook-Id", "") }, verifier.ErrMissingHeader, "webhook-id"},
		{"no timestamp", func(h http.Header) { h.Del("Webhook-Timestamp") }, verifier.ErrMissingHeader, "webhook-timestamp"},
		{"no signature", func(h http.Header) { h.Del("Webhook-Signature") }, verifier.ErrMissingHeader, "webhook-signature"},
		{"blank signature", func(h http.Header) { h.Set("Webhook-Signature", "  ") }, verifier.ErrMissingHeader, "webhook-signature"},
		{"timestamp not a number", func(h http.Header) { h.Set("Webhook-Timestamp", "yesterday") }, verifier.ErrMalformedHeader, "webhook-timestamp"},
		{"timestamp in ms", func(h http.Header) { h.Set("Webhook-Timestamp", "1776254400000") }, verifier.ErrTimestampTooNew, "webhook-timestamp"},
		{"timestamp with sign", func(h http.Header) { h.Set("Webhook-Timestamp", "+"+h.Get("Webhook-Timestamp")) }, verifier.ErrMalformedHeader, "webhook-timestamp"},
		{"timestamp with leading zero", func(h http.Header) { h.Set("Webhook-Timestamp", "0"+h.Get("Webhook-Timestamp")) }, verifier.ErrMalformedHeader, "webhook-timestamp"},
		{"timestamp overflows", func(h http.Header) { h.Set("Webhook-Timestamp", "99999999999999999999") }, verifier.ErrMalformedHeader, "webhook-timestamp"},
		{"timestamp far past", func(h http.Header) { h.Set("Webhook-Timestamp", "-9223372036854775808") }, verifier.ErrTimestampTooOld, "before now"},
		{"timestamp far future", func(h http.Header) { h.Set("Webhook-Timestamp", "9223372036854775807") }, verifier.ErrTimestampTooNew, "after now"},
		{"no entry", func(h http.Header) { h.Set("Webhook-Signature", "v1 v1a") }, verifier.ErrMalformedHeader, "webhook-signature"},
		{"empty version", func(h http.Header) { h.Set("Webhook-Signature", ","+v1[3:]) }, verifier.ErrMalformedHeader, "webhook-signature"},
		{"only unknown versions", func(h http.Header) { h.Set("Webhook-Signature", "v2,"+v1[3:]+" v9,abc") }, verifier.ErrNoMatchingSignature, "2 of an unknown version"},
		{"wrong signature", func(h http.Header) { h.Set("Webhook-Signature", "v1,"+strings.Repeat("A", 43)+"=") }, verifier.ErrNoMatchingSignature, "1 v1 signature(s)"},
		{"truncated v1", func(h http.Header) { h.Set("Webhook-Signature", v1[:20]) }, verifier.ErrNoMatchingSignature, "1 not valid base64"},
		{"v1 tag on the ed25519 signature", func(h http.Header) { h.Set("Webhook-Signature", "v1,"+v1a[4:]) }, verifier.ErrNoMatchingSignature, "not valid base64 of the right size"},
		{"v1a tag on the HMAC", func(h http.Header) { h.Set("Webhook-Signature", "v1a,"+v1[3:]) }, verifier.ErrNoMatchingSignature, "not valid base64 of the right size"},
		{"other id", func(h http.Header) { h.Set("Webhook-Id", "msg_other") }, verifier.ErrNoMatchingSignature, ""},
		{"other timestamp", func(h http.Header) {
			ts, _ := strconv.ParseInt(h.Get("Webhook-Timestamp"), 10, 64)
			h.Set("Webhook-Timestamp", strconv.FormatInt(ts+1, 10))
		}, verifier.ErrNoMatchingSignature, ""},
		{"too many signatures", func(h http.Header) { h.Set("Webhook-Signature", strings.Repeat("v2,x ", 33)+v1) }, verifier.ErrMalformedHeader, "more than"},
	}
	for _, tt := range tests {
		h := good.header.Clone()
		tt.edit(h)
		_, err := v.Verify(h, good.body)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.text) {
			t.Errorf("%s: error %q does not mention %q", tt.name, err, tt.text)
		}
		for _, secret := range []string{secretA[6:], pubKey[5:]} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains a key", tt.name, err)
			}
		}
	}

	// Tolerated header variations: extra spaces, unknown versions alongside, signatures split over header lines.
	for name, value := range map[string][]string{
		"double spaces":          {"  v2,xyz   " + v1 + "  "},
		"unknown version first":  {"v2,abc " + v1a},
		"entry without a comma":  {"garbage " + v1},
		"two header lines":       {"v2,abc", v1a},
		"good after a bad v1":    {"v1," + strings.Repeat("B", 43) + "= " + v1},
		"good after a short v1a": {"v1a,AAAA " + v1a},
	} {
		h := good.header.Clone()
		h["Webhook-Signature"] = value
		if _, err := v.Verify(h, good.body); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTimestampTolerance(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}})
	custom := newVerifier(t, verifier.Config{Keys: []string{secretA}, Tolerance: time.Hour})
	skip := newVerifier(t, verifier.Config{Keys: []string{secretA}, Timestamps: verifier.TimestampSkip})
	for _, tt := range []struct {
		offset      time.Duration // message time minus now
		want, wantH error         // default tolerance, one hour
	}{
		{0, nil, nil},
		{-5 * time.Minute, nil, nil},
		{5 * time.Minute, nil, nil},
		{-5*time.Minute - time.Second, verifier.ErrTimestampTooOld, nil},
		{5*time.Minute + time.Second, verifier.ErrTimestampTooNew, nil},
		{-time.Hour - time.Second, verifier.ErrTimestampTooOld, verifier.ErrTimestampTooOld},
		{time.Hour + time.Second, verifier.ErrTimestampTooNew, verifier.ErrTimestampTooNew},
	} {
		msg := render(t, profiles.Standard, clock.Add(tt.offset), secretA)
		if _, err := v.Verify(msg.header, msg.body); !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
			t.Errorf("offset %v, default tolerance: %v, want %v", tt.offset, err, tt.want)
		}
		if _, err := custom.Verify(msg.header, msg.body); !errors.Is(err, tt.wantH) && !(err == nil && tt.wantH == nil) {
			t.Errorf("offset %v, 1h tolerance: %v, want %v", tt.offset, err, tt.wantH)
		}
		if _, err := skip.Verify(msg.header, msg.body); err != nil {
			t.Errorf("offset %v, TimestampSkip: %v", tt.offset, err)
		}
	}
}

func TestOpenMDM(t *testing.T) {
	msg := render(t, profiles.OpenMDM, clock.Add(-2*time.Hour), openmdmSecret)
	lax := newVerifier(t, verifier.Config{Profile: "openmdm", Keys: []string{openmdmSecret}})
	strict := newVerifier(t, verifier.Config{Profile: "openmdm", Keys: []string{openmdmSecret}, Timestamps: verifier.TimestampEnforce})
	if _, err := lax.Verify(msg.header, msg.body); err != nil {
		t.Fatalf("default (no timestamp check), 2h-old event: %v", err)
	}
	if _, err := strict.Verify(msg.header, msg.body); !errors.Is(err, verifier.ErrTimestampTooOld) {
		t.Fatalf("TimestampEnforce, 2h-old event: %v, want ErrTimestampTooOld", err)
	}
	fresh := render(t, profiles.OpenMDM, clock.Add(-time.Minute), openmdmSecret)
	if res, err := strict.Verify(fresh.header, fresh.body); err != nil || !res.Timestamp.Equal(clock.Add(-time.Minute)) {
		t.Fatalf("TimestampEnforce, fresh event: %+v, %v", res, err)
	}
	future := render(t, profiles.OpenMDM, clock.Add(time.Hour), openmdmSecret)
	if _, err := strict.Verify(future.header, future.body); !errors.Is(err, verifier.ErrTimestampTooNew) {
		t.Fatalf("TimestampEnforce, future event: %v", err)
	}

	tests := []struct {
		name string
		v    *verifier.Verifier
		edit func(h http.Header)
		body string
		want error
	}{
		{"no signature", lax, func(h http.Header) { h.Del("X-Openmdm-Signature") }, "", verifier.ErrMissingHeader},
		{"no sha256= prefix", lax, func(h http.Header) { h.Set("X-Openmdm-Signature", h.Get("X-Openmdm-Signature")[7:]) }, "", verifier.ErrMalformedHeader},
		{"short hex", lax, func(h http.Header) { h.Set("X-Openmdm-Signature", h.Get("X-Openmdm-Signature")[:70]) }, "", verifier.ErrMalformedHeader},
		{"wrong hex", lax, func(h http.Header) { h.Set("X-Openmdm-Signature", "sha256="+strings.Repeat("0", 64)) }, "", verifier.ErrNoMatchingSignature},
		{"replay under a new delivery id", lax, func(h http.Header) { h.Set("X-Openmdm-Delivery", "0190a5e0-0000-7000-8000-00000000beef") }, "", verifier.ErrMalformedHeader},
		{"replay with a fresh timestamp header", strict, func(h http.Header) { h.Set("X-Openmdm-Timestamp", clock.Format(time.RFC3339)) }, "", verifier.ErrMalformedHeader},
		{"timestamp enforced, none anywhere", strict, func(h http.Header) { h.Del("X-Openmdm-Timestamp") }, `{"x":1}`, verifier.ErrMissingHeader},
		{"timestamp enforced, not ISO", strict, func(h http.Header) { h.Set("X-Openmdm-Timestamp", "noon") }, `{"x":1}`, verifier.ErrMalformedHeader},
	}
	for _, tt := range tests {
		h := msg.header.Clone()
		body := msg.body
		if tt.body != "" {
			body = []byte(tt.body)
			k, _ := profiles.OpenMDM.ParseKey(openmdmSecret)
			profiles.OpenMDM.SetHeaders(h, msg.msg, body, clock, []signing.Key{k})
		}
		tt.edit(h)
		if _, err := tt.v.Verify(h, body); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}

	// The delivery header may be absent: the signed body's id stands in for it.
	h := msg.header.Clone()
	h.Del("X-Openmdm-Delivery")
	if res, err := lax.Verify(h, msg.body); err != nil || res.MessageID != msg.msg.ID.UUID() {
		t.Fatalf("no X-OpenMDM-Delivery: %+v, %v", res, err)
	}
	// A body that is not OpenMDM-shaped keeps the header's id.
	k, _ := profiles.OpenMDM.ParseKey(openmdmSecret)
	profiles.OpenMDM.SetHeaders(h, msg.msg, []byte("plain"), clock, []signing.Key{k})
	if res, err := lax.Verify(h, []byte("plain")); err != nil || res.MessageID != msg.msg.ID.UUID() {
		t.Fatalf("plain body: %+v, %v", res, err)
	}
}

func TestMender(t *testing.T) {
	msg := render(t, profiles.Mender, clock, menderSecret)
	v := newVerifier(t, verifier.Config{Profile: "mender", Keys: []string{menderSecret2, menderSecret}})
	legacyOnly := msg.header.Clone()
	legacyOnly.Del("X-Men-Signature")
	upper := msg.header.Clone()
	upper.Set("X-Men-Signature", strings.ToUpper(upper.Get("X-Men-Signature")))
	noAlg := msg.header.Clone()
	noAlg.Del("X-Men-Algorithm")
	for name, h := range map[string]http.Header{"legacy header only": legacyOnly, "upper-case hex": upper, "no algorithm header": noAlg} {
		if res, err := v.Verify(h, msg.body); err != nil || res.KeyIndex != 1 || res.MessageID != msg.msg.ID.UUID() {
			t.Errorf("%s: %+v, %v", name, res, err)
		}
	}

	tests := []struct {
		name string
		edit func(h http.Header)
		want error
	}{
		{"no signature", func(h http.Header) { h.Del("X-Men-Signature"); h.Del("X-Men-Signature-Payload") }, verifier.ErrMissingHeader},
		{"other algorithm", func(h http.Header) { h.Set("X-Men-Algorithm", "MEN-HMAC-SHA512-Payload") }, verifier.ErrMalformedHeader},
		{"not hex", func(h http.Header) {
			h.Set("X-Men-Signature", strings.Repeat("z", 64))
			h.Del("X-Men-Signature-Payload")
		}, verifier.ErrMalformedHeader},
		{"wrong signature", func(h http.Header) {
			h.Set("X-Men-Signature", strings.Repeat("0", 64))
			h.Del("X-Men-Signature-Payload")
		}, verifier.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		h := msg.header.Clone()
		tt.edit(h)
		if _, err := v.Verify(h, msg.body); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}

	// profiles.md's known answer verifies, and a body without an id has no message id.
	known := newVerifier(t, verifier.Config{Profile: "mender", Keys: []string{"deadbeef"}})
	h := http.Header{}
	h.Set("X-Men-Signature", "ccb874ef78c9126aace1edc0735e7c8b65ed01b1c47c5981ef68a351b53a4d75")
	if res, err := known.Verify(h, []byte("{}")); err != nil || res.MessageID != "" || !res.Timestamp.IsZero() {
		t.Fatalf("known answer: %+v, %v", res, err)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  verifier.Config
		want error
	}{
		{"no keys", verifier.Config{}, verifier.ErrNoKeys},
		{"empty key list", verifier.Config{Keys: []string{}}, verifier.ErrNoKeys},
		{"empty key", verifier.Config{Keys: []string{""}}, signing.ErrKeyEmpty},
		{"unknown profile", verifier.Config{Profile: "svix", Keys: []string{secretA}}, profiles.ErrUnknown},
		{"private key", verifier.Config{Keys: []string{privKey}}, signing.ErrKeyPrefix},
		{"bare secret", verifier.Config{Keys: []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, signing.ErrKeyPrefix},
		{"short secret", verifier.Config{Keys: []string{secretA, "whsec_AAAA"}}, signing.ErrKeyTooShort},
		{"bad public key", verifier.Config{Keys: []string{"whpk_AAAA"}}, signing.ErrKeySize},
		{"openmdm short secret", verifier.Config{Profile: "openmdm", Keys: []string{"tiny-k"}}, signing.ErrKeyTooShort},
		{"mender upper-case hex", verifier.Config{Profile: "mender", Keys: []string{"DEADBEEF"}}, signing.ErrKeyEncoding},
		{"mender whsec_", verifier.Config{Profile: "mender", Keys: []string{secretA}}, signing.ErrKeyEncoding},
		{"mender timestamp check", verifier.Config{Profile: "mender", Keys: []string{"deadbeef"}, Timestamps: verifier.TimestampEnforce}, verifier.ErrConfig},
		{"unknown timestamp mode", verifier.Config{Keys: []string{secretA}, Timestamps: 9}, verifier.ErrConfig},
		{"negative tolerance", verifier.Config{Keys: []string{secretA}, Tolerance: -time.Second}, verifier.ErrConfig},
		{"negative body limit", verifier.Config{Keys: []string{secretA}, MaxBodyBytes: -1}, verifier.ErrConfig},
		{"negative dedup ttl", verifier.Config{Keys: []string{secretA}, DedupTTL: -1}, verifier.ErrConfig},
	}
	for _, tt := range tests {
		v, err := verifier.New(tt.cfg)
		if !errors.Is(err, tt.want) || v != nil {
			t.Errorf("%s: %v, %v; want %v", tt.name, v, err, tt.want)
		}
		if err != nil && len(tt.cfg.Keys) > 0 && tt.cfg.Keys[len(tt.cfg.Keys)-1] != "" && strings.Contains(err.Error(), tt.cfg.Keys[len(tt.cfg.Keys)-1]) {
			t.Errorf("%s: error %q contains the key", tt.name, err)
		}
	}
	v, err := verifier.New(verifier.Config{Keys: []string{secretA}})
	if err != nil || v.Profile() != "standard" {
		t.Fatalf("zero profile: %v, %v", v, err)
	}
}
