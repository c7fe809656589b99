package signing_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/webhookd/webhookd/signing"
)

// vectors mirrors testdata/vectors.json. Its expected values were computed with Node's crypto, not with this code.
type vectors struct {
	Signatures []struct {
		Name      string
		Keys      []string
		ID        string
		Timestamp int64
		Body      string
		Header    string
	}
	PublicKeys []struct {
		Private, Public string
	} `json:"public_keys"`
}

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("testdata/vectors.json: %v", err)
	}
	if len(v.Signatures) == 0 || len(v.PublicKeys) == 0 {
		t.Fatal("testdata/vectors.json has an empty section")
	}
	return &v
}

func parseKeys(t testing.TB, ss []string) []signing.Key {
	t.Helper()
	keys := make([]signing.Key, len(ss))
	for i, s := range ss {
		k, err := signing.ParseKey(s)
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", s, err)
		}
		keys[i] = k
	}
	return keys
}

func TestSignVectors(t *testing.T) {
	for _, v := range loadVectors(t).Signatures {
		t.Run(v.Name, func(t *testing.T) {
			keys := parseKeys(t, v.Keys)
			got, err := signing.Sign(v.ID, v.Timestamp, []byte(v.Body), keys...)
			if err != nil {
				t.Fatal(err)
			}
			if got != v.Header {
				t.Fatalf("Sign =\n  %s\nwant\n  %s", got, v.Header)
			}
			// AppendHeader appends to what dst holds and agrees with Sign.
			if app := string(signing.AppendHeader([]byte("x:"), v.ID, v.Timestamp, []byte(v.Body), keys)); app != "x:"+v.Header {
				t.Fatalf("AppendHeader = %q", app)
			}
		})
	}
}

func TestPublicKeyVectors(t *testing.T) {
	for _, v := range loadVectors(t).PublicKeys {
		k, err := signing.ParsePrivateKey(v.Private)
		if err != nil {
			t.Fatalf("ParsePrivateKey(%q): %v", v.Private, err)
		}
		if got := k.Public(); got != v.Public {
			t.Errorf("Public() of %q = %q, want %q", v.Private, got, v.Public)
		}
		if _, err := signing.ParsePublicKey(v.Public); err != nil {
			t.Errorf("ParsePublicKey(%q): %v", v.Public, err)
		}
	}
}
