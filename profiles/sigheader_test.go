package profiles

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestParseSignatureHeader(t *testing.T) {
	tests := []struct {
		in   string
		want []signature // nil: ErrMalformedHeader
	}{
		{"v1,abc", []signature{{"v1", "abc"}}},
		{"v1,abc v1a,def", []signature{{"v1", "abc"}, {"v1a", "def"}}},
		{"  v1,abc   v2,x ", []signature{{"v1", "abc"}, {"v2", "x"}}},
		{"v1,abc\tv1a,def", []signature{{"v1", "abc"}, {"v1a", "def"}}},
		{"junk v1,abc", []signature{{"v1", "abc"}}},
		{"v1,a,b", []signature{{"v1", "a,b"}}}, // the value is checked later, by its decoder
		{"v1,abc= ,x v1,", []signature{{"v1", "abc="}}},
		{"", nil},
		{"   ", nil},
		{"v1", nil},
		{"v1, ,v1", nil},
		{"abc def", nil},
		{strings.Repeat("v1,x ", maxSignatures), []signature{}}, // exactly the limit: fine (checked by length)
		{strings.Repeat("v1,x ", maxSignatures+1), nil},
	}
	for _, tt := range tests {
		got, err := parseSignatureHeader(tt.in)
		if tt.want == nil {
			if !errors.Is(err, ErrMalformedHeader) || got != nil {
				t.Errorf("parse(%q) = %v, %v; want ErrMalformedHeader", tt.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parse(%q): %v", tt.in, err)
			continue
		}
		if len(tt.want) == 0 {
			if len(got) != maxSignatures {
				t.Errorf("parse(%q): %d entries", tt.in, len(got))
			}
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parse(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseSignatureHeader checks that the parser never panics, that what it returns is well formed, and that
// re-serialising its entries parses to the same entries.
func FuzzParseSignatureHeader(f *testing.F) {
	for _, s := range []string{
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"v1,abc v1a,def", " v2,x  v1,", ",,, ", "v1,a,b,c\tv1a,=", strings.Repeat("v1,x ", 40), "\x00,\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		sigs, err := parseSignatureHeader(h)
		if err != nil {
			if !errors.Is(err, ErrMalformedHeader) || sigs != nil {
				t.Fatalf("parse(%q) = %v, %v", h, sigs, err)
			}
			return
		}
		if len(sigs) == 0 || len(sigs) > maxSignatures {
			t.Fatalf("parse(%q) returned %d entries without an error", h, len(sigs))
		}
		parts := make([]string, len(sigs))
		for i, s := range sigs {
			if s.version == "" || s.value == "" || strings.Contains(s.version, ",") ||
				strings.ContainsFunc(s.version, unicode.IsSpace) || strings.ContainsFunc(s.value, unicode.IsSpace) {
				t.Fatalf("parse(%q): bad entry %q", h, s)
			}
			if !strings.Contains(h, s.version+","+s.value) {
				t.Fatalf("parse(%q): entry %q is not in the input", h, s)
			}
			parts[i] = s.version + "," + s.value
		}
		again, err := parseSignatureHeader(strings.Join(parts, " "))
		if err != nil || !reflect.DeepEqual(again, sigs) {
			t.Fatalf("re-parse of %q = %v, %v; want %v", parts, again, err, sigs)
		}
	})
}
