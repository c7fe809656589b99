package ids

import (
	"regexp"
	"strings"
	"testing"
)

// oracle is the rule Valid implements, as the regexp it replaced.
var oracle = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func TestValid(t *testing.T) {
	for _, s := range []string{"", "a", "ep_01", "msg_0123456789abcdefghjkmnpqrs", strings.Repeat("x", 64),
		strings.Repeat("x", 65), "a b", "a|b", "a{b}", "é", "a\x00", "A-Z_09", "-", "_"} {
		if got, want := Valid(s), oracle.MatchString(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
	if id := New("msg"); !Valid(id) {
		t.Errorf("New made %q, which Valid refuses", id)
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"ep_01", "", "a b", strings.Repeat("z", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid(s), oracle.MatchString(s); got != want {
			t.Fatalf("Valid(%q) = %v, want %v", s, got, want)
		}
	})
}
