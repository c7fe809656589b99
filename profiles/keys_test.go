package profiles_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

func b64(n int, fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

func TestParseKeyErrors(t *testing.T) {
	// A whsk_ key whose public half does not match its seed.
	priv, _, err := signing.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	mismatched, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(priv, signing.PrivateKeyPrefix))
	mismatched[63] ^= 1
	type parser struct {
		name  string
		parse func(string) error
	}
	profile := func(p profiles.Profile) parser {
		return parser{p.Name() + ".ParseKey", func(s string) error { _, err := p.ParseKey(s); return err }}
	}
	standard, openmdm, mender := profile(profiles.Standard), profile(profiles.OpenMDM), profile(profiles.Mender)

	tests := []struct {
		parser
		in   string
		want error // nil: accepted
	}{
		{standard, "whsec_" + b64(65, 1), signing.ErrKeyTooLong},
		{standard, "whsk_" + base64.StdEncoding.EncodeToString(mismatched), signing.ErrKeyMismatch},
		// openmdm: the secret's UTF-8 bytes, 16 to 256 of them
		{openmdm, "", signing.ErrKeyEmpty},
		{openmdm, strings.Repeat("s", 15), signing.ErrKeyTooShort},
		{openmdm, strings.Repeat("s", 16), nil},
		{openmdm, strings.Repeat("é", 8), nil}, // 16 bytes
		{openmdm, strings.Repeat("s", 256), nil},
		{openmdm, strings.Repeat("s", 257), signing.ErrKeyTooLong},
		{openmdm, strings.Repeat("s", 15) + "\xff", signing.ErrKeyEncoding},
		// mender: lower-case hex, even length, at most 64 digits
		{mender, "", signing.ErrKeyEmpty},
		{mender, "de", nil},
		{mender, "deadbeef", nil},
		{mender, strings.Repeat("ab", 32), nil},
		{mender, strings.Repeat("ab", 33), signing.ErrKeyTooLong},
		{mender, "dea", signing.ErrKeyEncoding},
		{mender, "DEADBEEF", signing.ErrKeyEncoding},
		{mender, "deadbeeg", signing.ErrKeyEncoding},
		{mender, "whsec_" + b64(24, 1), signing.ErrKeyEncoding},
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

func TestProfileGenerateKeyRoundTrip(t *testing.T) {
	for _, p := range profiles.All() {
		for _, alg := range []signing.Algorithm{signing.HMAC, signing.Ed25519} {
			secret, public, err := p.GenerateKey(alg)
			if !profiles.Supports(p, alg) && alg == signing.Ed25519 {
				if !errors.Is(err, signing.ErrAlgorithm) {
					t.Errorf("%s.GenerateKey(ed25519) = %v, want ErrAlgorithm", p.Name(), err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s.GenerateKey(%v): %v", p.Name(), alg, err)
			}
			k, err := p.ParseKey(secret)
			if err != nil {
				t.Fatalf("%s.ParseKey(GenerateKey(%v)): %v", p.Name(), alg, err)
			}
			if k.Algorithm() != alg || k.Public() != public {
				t.Fatalf("%s: generated %v key parses as %v with public %q (want %q)", p.Name(), alg, k.Algorithm(), k.Public(), public)
			}
		}
	}
	if _, _, err := profiles.Standard.GenerateKey(0); !errors.Is(err, signing.ErrAlgorithm) {
		t.Fatalf("Standard.GenerateKey(0) = %v", err)
	}
}
