package profiles_test

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

func isKeyError(err error) bool {
	for _, e := range []error{signing.ErrKeyEmpty, signing.ErrKeyPrefix, signing.ErrKeyEncoding, signing.ErrKeyTooShort,
		signing.ErrKeyTooLong, signing.ErrKeySize, signing.ErrKeyMismatch} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzParseKey checks that no input panics the openmdm and mender key parsers, that every refusal wraps one of the
// typed key errors, and that an accepted key is keyed as the profile says.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"", "deadbeef", "DEADBEEF", "dea", "0123456789abcdef", "new-secret-0123456789", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := profiles.OpenMDM.ParseKey(s); err != nil {
			if !isKeyError(err) {
				t.Fatalf("OpenMDM.ParseKey(%q) = %v", s, err)
			}
		} else if !k.Equal(signing.NewHMACKey([]byte(s))) {
			t.Fatalf("OpenMDM.ParseKey(%q) is not keyed with the secret's bytes", s)
		}
		if k, err := profiles.Mender.ParseKey(s); err != nil {
			if !isKeyError(err) {
				t.Fatalf("Mender.ParseKey(%q) = %v", s, err)
			}
		} else {
			raw, derr := hex.DecodeString(s)
			if derr != nil || !k.Equal(signing.NewHMACKey(raw)) || hex.EncodeToString(raw) != s {
				t.Fatalf("Mender.ParseKey accepted %q, which is not canonical hex (%v)", s, derr)
			}
		}
	})
}
