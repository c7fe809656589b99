package profiles_test

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// vectors mirrors testdata/vectors.json. Its expected values were computed with Node's crypto, not with this code.
type vectors struct {
	Profiles []struct {
		Name    string
		Profile string
		Keys    []string
		Message *struct {
			UUID      string
			Type      string
			Timestamp time.Time
			Data      json.RawMessage
		}
		Now     int64
		Body    string
		Headers map[string]string
	}
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
	if len(v.Profiles) == 0 {
		t.Fatal("testdata/vectors.json has no profile vectors")
	}
	return &v
}

// messageIDFromUUID turns the canonical UUID text into a MessageID.
func messageIDFromUUID(t testing.TB, s string) signing.MessageID {
	t.Helper()
	raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(raw) != 16 {
		t.Fatalf("bad uuid %q", s)
	}
	var id signing.MessageID
	copy(id[:], raw)
	if id.UUID() != s {
		t.Fatalf("UUID() = %q, want %q", id.UUID(), s)
	}
	return id
}

func parseKeys(t testing.TB, p profiles.Profile, ss []string) []signing.Key {
	t.Helper()
	keys := make([]signing.Key, len(ss))
	for i, s := range ss {
		k, err := p.ParseKey(s)
		if err != nil {
			t.Fatalf("%s.ParseKey(%q): %v", p.Name(), s, err)
		}
		keys[i] = k
	}
	return keys
}

func TestProfileVectors(t *testing.T) {
	for _, v := range loadVectors(t).Profiles {
		t.Run(v.Name, func(t *testing.T) {
			p, err := profiles.Lookup(v.Profile)
			if err != nil {
				t.Fatal(err)
			}
			keys := parseKeys(t, p, v.Keys)
			var m signing.Message
			if v.Message != nil {
				m = signing.Message{
					ID:        messageIDFromUUID(t, v.Message.UUID),
					Type:      v.Message.Type,
					Timestamp: v.Message.Timestamp,
					Data:      v.Message.Data,
				}
				if got := string(p.AppendBody(nil, &m)); got != v.Body {
					t.Fatalf("AppendBody =\n  %s\nwant\n  %s", got, v.Body)
				}
			}
			h := http.Header{}
			p.SetHeaders(h, &m, []byte(v.Body), time.Unix(v.Now, 0), keys)
			want := http.Header{}
			for name, value := range v.Headers {
				want.Set(name, value)
			}
			assertHeaders(t, h, want)
		})
	}
}

// assertHeaders fails unless got holds exactly the headers in want, each with one value.
func assertHeaders(t *testing.T, got, want http.Header) {
	t.Helper()
	for name := range want {
		if g, w := got.Values(name), want.Values(name); len(g) != 1 || g[0] != w[0] {
			t.Errorf("%s = %q, want %q", name, g, w[0])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected header %s: %q", name, got.Values(name))
		}
	}
}
