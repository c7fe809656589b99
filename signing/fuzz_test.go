package signing_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/signing"
)

var keyErrors = []error{
	signing.ErrKeyEmpty, signing.ErrKeyPrefix, signing.ErrKeyEncoding, signing.ErrKeyTooShort,
	signing.ErrKeyTooLong, signing.ErrKeySize, signing.ErrKeyMismatch,
}

func isKeyError(err error) bool {
	for _, e := range keyErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzParseKey checks that no input panics any key parser, that every refusal wraps one of the typed errors, and
// that every accepted key round-trips: re-encoded canonically it parses to an equal key that signs the same way.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"", "whsec_", "whsk_", "whpk_", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", svixKey,
		"whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbc=", "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=",
		"whsec_" + b64(64, 0xff), "whsec_" + b64(24, 0) + "\n", "deadbeef", "openmdm-secret-0123456789", "whsec_====",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := signing.ParseKey(s)
		if err != nil {
			if !isKeyError(err) {
				t.Fatalf("ParseKey(%q) = %v: not a typed key error", s, err)
			}
		} else {
			prefix := signing.SecretPrefix
			if k.Algorithm() == signing.Ed25519 {
				prefix = signing.PrivateKeyPrefix
			}
			raw, derr := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, prefix))
			if derr != nil {
				t.Fatalf("ParseKey accepted %q, which does not decode: %v", s, derr)
			}
			canonical := prefix + base64.StdEncoding.EncodeToString(raw)
			k2, err := signing.ParseKey(canonical)
			if err != nil || !k.Equal(k2) {
				t.Fatalf("accepted %q, but its canonical form %q parses to %v, %v", s, canonical, k2, err)
			}
			s1 := mustSign(t, "msg_f", 1, []byte(s), k)
			if s2 := mustSign(t, "msg_f", 1, []byte(s), k2); s1 != s2 {
				t.Fatal("equal keys sign differently")
			}
			if k.Algorithm() == signing.Ed25519 {
				if _, err := signing.ParsePublicKey(k.Public()); err != nil {
					t.Fatalf("Public() = %q does not parse: %v", k.Public(), err)
				}
			}
		}
		if _, err := signing.ParsePublicKey(s); err != nil && !isKeyError(err) {
			t.Fatalf("ParsePublicKey(%q) = %v", s, err)
		}
	})
}
