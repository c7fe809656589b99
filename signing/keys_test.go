package signing_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/signing"
)

func b64(n int, fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

// svixKey is the 64-byte whsk_ vector of profiles.md; its seed and public halves are taken apart below.
const svixKey = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="

func svixRaw(t testing.TB) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(svixKey, "whsk_"))
	if err != nil || len(raw) != 64 {
		t.Fatalf("svix key: %d bytes, %v", len(raw), err)
	}
	return raw
}

func TestParseKeyErrors(t *testing.T) {
	raw := svixRaw(t)
	mismatched := bytes.Clone(raw)
	mismatched[63] ^= 1 // public half no longer matches the seed

	type parser struct {
		name  string
		parse func(string) error
	}
	parseKey := parser{"ParseKey", func(s string) error { _, err := signing.ParseKey(s); return err }}
	parseSecret := parser{"ParseSecret", func(s string) error { _, err := signing.ParseSecret(s); return err }}
	parsePrivate := parser{"ParsePrivateKey", func(s string) error { _, err := signing.ParsePrivateKey(s); return err }}
	parsePublic := parser{"ParsePublicKey", func(s string) error { _, err := signing.ParsePublicKey(s); return err }}

	tests := []struct {
		parser
		in   string
		want error // nil: accepted
	}{
		// whsec_
		{parseKey, "", signing.ErrKeyEmpty},
		{parseKey, "whsec_", signing.ErrKeyEmpty},
		{parseKey, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", signing.ErrKeyPrefix},
		{parseKey, "WHSEC_" + b64(32, 1), signing.ErrKeyPrefix},
		{parseKey, "whpk_" + b64(32, 1), signing.ErrKeyPrefix}, // a public key cannot sign
		{parseKey, "whsec_not base64!", signing.ErrKeyEncoding},
		{parseKey, "whsec_" + b64(32, 1)[:43], signing.ErrKeyEncoding}, // padding cut off
		{parseKey, "whsec_" + b64(23, 1), signing.ErrKeyTooShort},
		{parseKey, "whsec_" + b64(24, 1), nil},
		{parseKey, "whsec_" + b64(64, 1), nil},
		{parseKey, "whsec_" + b64(65, 1), signing.ErrKeyTooLong},
		{parseSecret, "", signing.ErrKeyEmpty},
		{parseSecret, "whsk_" + b64(32, 1), signing.ErrKeyPrefix},
		{parseSecret, "whsec_" + b64(1, 1), signing.ErrKeyTooShort},
		// whsk_
		{parseKey, "whsk_", signing.ErrKeyEmpty},
		{parseKey, "whsk_%%%%", signing.ErrKeyEncoding},
		{parseKey, "whsk_" + b64(31, 1), signing.ErrKeySize},
		{parseKey, "whsk_" + b64(33, 1), signing.ErrKeySize},
		{parseKey, "whsk_" + b64(63, 1), signing.ErrKeySize},
		{parseKey, "whsk_" + b64(32, 1), nil}, // seed form
		{parseKey, svixKey, nil},
		{parseKey, "whsk_" + base64.StdEncoding.EncodeToString(mismatched), signing.ErrKeyMismatch},
		{parsePrivate, "whsec_" + b64(32, 1), signing.ErrKeyPrefix},
		{parsePrivate, "", signing.ErrKeyEmpty},
		// whpk_
		{parsePublic, "", signing.ErrKeyEmpty},
		{parsePublic, "whpk_", signing.ErrKeyEmpty},
		{parsePublic, "whsk_" + b64(32, 1), signing.ErrKeyPrefix},
		{parsePublic, "whpk_***", signing.ErrKeyEncoding},
		{parsePublic, "whpk_" + b64(31, 1), signing.ErrKeySize},
		{parsePublic, "whpk_" + b64(64, 1), signing.ErrKeySize},
		{parsePublic, "whpk_" + b64(32, 1), nil},
	}
	for _, tt := range tests {
		err := tt.parse(tt.in)
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("%s(%.40q) = %v, want success", tt.name, tt.in, err)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s(%.40q) = %v, want %v", tt.name, tt.in, err, tt.want)
		}
	}
}

func TestParseKeyErrorsDoNotEchoSecrets(t *testing.T) {
	secret := "whsec_" + b64(23, 0x5a) // too short, but still secret material
	_, err := signing.ParseKey(secret)
	if err == nil || strings.Contains(err.Error(), secret[6:]) {
		t.Fatalf("error %q must not contain the key", err)
	}
}

func TestSeedAndFullFormAreTheSameKey(t *testing.T) {
	raw := svixRaw(t)
	full, err := signing.ParsePrivateKey(svixKey)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := signing.ParsePrivateKey("whsk_" + base64.StdEncoding.EncodeToString(raw[:32]))
	if err != nil {
		t.Fatal(err)
	}
	if !full.Equal(seed) || full.Public() != seed.Public() {
		t.Fatal("the 32-byte seed form parses to a different key than the 64-byte form")
	}
	if want := "whpk_" + base64.StdEncoding.EncodeToString(raw[32:]); full.Public() != want {
		t.Fatalf("Public() = %s, want the key's second half %s", full.Public(), want)
	}
	if full.Algorithm() != signing.Ed25519 || full.IsZero() {
		t.Fatalf("Algorithm() = %v", full.Algorithm())
	}
}

func TestGenerateSecretRoundTrip(t *testing.T) {
	for _, size := range []int{0, signing.MinSecretSize, 40, signing.MaxSecretSize} {
		s, err := signing.GenerateSecret(size)
		if err != nil {
			t.Fatalf("GenerateSecret(%d): %v", size, err)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, signing.SecretPrefix))
		want := size
		if size == 0 {
			want = signing.DefaultSecretSize
		}
		if err != nil || len(raw) != want || !strings.HasPrefix(s, signing.SecretPrefix) {
			t.Fatalf("GenerateSecret(%d) = %q: %d bytes, %v", size, s, len(raw), err)
		}
		k, err := signing.ParseKey(s)
		if err != nil || k.Algorithm() != signing.HMAC || k.Public() != "" {
			t.Fatalf("ParseKey(GenerateSecret(%d)) = %v, %v", size, k.Algorithm(), err)
		}
		if !k.Equal(signing.NewHMACKey(raw)) {
			t.Fatal("parsed secret differs from the generated bytes")
		}
	}
	a, _ := signing.GenerateSecret(0)
	b, _ := signing.GenerateSecret(0)
	if a == b {
		t.Fatal("two generated secrets are equal")
	}
	if _, err := signing.GenerateSecret(signing.MinSecretSize - 1); !errors.Is(err, signing.ErrKeyTooShort) {
		t.Fatalf("GenerateSecret(23) = %v", err)
	}
	if _, err := signing.GenerateSecret(signing.MaxSecretSize + 1); !errors.Is(err, signing.ErrKeyTooLong) {
		t.Fatalf("GenerateSecret(65) = %v", err)
	}
}

func TestGenerateKeyPairRoundTrip(t *testing.T) {
	priv, pub, err := signing.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(priv, signing.PrivateKeyPrefix))
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		t.Fatalf("whsk_ is %d bytes (%v), want the 64-byte form", len(raw), err)
	}
	k, err := signing.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if k.Public() != pub {
		t.Fatalf("Public() = %s, want %s", k.Public(), pub)
	}
	pk, err := signing.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sig := signOne(t, k, "msg_x", 1, []byte("body"))
	if !ed25519.Verify(pk, []byte("msg_x.1.body"), sig) {
		t.Fatal("a signature from the generated private key does not verify under its public key")
	}
	priv2, _, _ := signing.GenerateKeyPair()
	if priv2 == priv {
		t.Fatal("two generated key pairs are equal")
	}
}

func TestKeyEqual(t *testing.T) {
	a := signing.NewHMACKey([]byte("0123456789abcdef0123456789"))
	b := signing.NewHMACKey([]byte("0123456789abcdef0123456789"))
	c := signing.NewHMACKey([]byte("0123456789abcdef012345678X"))
	e, _ := signing.ParsePrivateKey(svixKey)
	if !a.Equal(b) || a.Equal(c) || a.Equal(e) || e.Equal(a) || !e.Equal(e) {
		t.Fatal("Equal is wrong")
	}
	if !(signing.Key{}).IsZero() || a.IsZero() {
		t.Fatal("IsZero is wrong")
	}
}

func TestNewKeysCopyTheirInput(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789")
	k := signing.NewHMACKey(secret)
	before := signOne(t, k, "msg_x", 1, nil)
	secret[0] ^= 0xff
	if after := signOne(t, k, "msg_x", 1, nil); !bytes.Equal(before, after) {
		t.Fatal("NewHMACKey keeps a reference to the caller's slice")
	}

	_, priv, _ := ed25519.GenerateKey(nil)
	ek := signing.NewEd25519Key(priv)
	before = signOne(t, ek, "msg_x", 1, nil)
	clear(priv)
	if after := signOne(t, ek, "msg_x", 1, nil); !bytes.Equal(before, after) {
		t.Fatal("NewEd25519Key keeps a reference to the caller's slice")
	}
}

func TestAlgorithm(t *testing.T) {
	for _, a := range []signing.Algorithm{signing.HMAC, signing.Ed25519} {
		got, err := signing.ParseAlgorithm(a.String())
		if err != nil || got != a {
			t.Fatalf("ParseAlgorithm(%q) = %v, %v", a.String(), got, err)
		}
	}
	if _, err := signing.ParseAlgorithm("rsa"); !errors.Is(err, signing.ErrAlgorithm) {
		t.Fatalf("ParseAlgorithm(rsa) = %v", err)
	}
	if s := signing.Algorithm(9).String(); s != "Algorithm(9)" {
		t.Fatalf("String() = %q", s)
	}
}

// signOne returns the raw signature bytes of one standard-profile signature by k.
func signOne(t testing.TB, k signing.Key, id string, ts int64, body []byte) []byte {
	t.Helper()
	s := string(k.AppendSignature(nil, id, ts, body))
	_, enc, ok := strings.Cut(s, ",")
	if !ok {
		t.Fatalf("signature %q has no version tag", s)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("signature %q: %v", s, err)
	}
	return raw
}
