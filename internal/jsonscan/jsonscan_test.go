package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var texts = []string{
	``, ` `, `{}`, `[]`, ` {} `, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":1 "b":2}`, `{a:1}`, `[1,2,3]`, `[1,]`, `[,1]`,
	`[1 2]`, `"x"`, `"x`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", "\"a\x7f\"",
	`0`, `-0`, `01`, `-`, `-a`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-05`, `1e`, `1e+`, `12.34e-5`, `-12`, `00`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `true false`, `[true,false,null]`, `{"a":{"b":[{"c":null}]}}`,
	`{"a":[}`, `{"a":]}`, `[{]`, `{"a":1}}`, `[[]]]`, "\"\xff\"", "\"caf\xc3\xa9\"", "\"\xed\xa0\x80\"", "[\"\xc3\"]",
	"{\"\xff\":1}", `{"a":"b","c":[1,2,{"d":"e"}],"f":-1.5e3}`, "\t\n\r[1]\r\n", `[1]x`, `{"a":1}{"b":2}`,
	strings.Repeat("[", 9999) + strings.Repeat("]", 9999),
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

// oldBadUTF8 is the first offset of an invalid UTF-8 sequence anywhere in b, or -1; in valid JSON such bytes can
// only sit inside strings, where Check looks.
func oldBadUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// oldTooDeep is the offset of the first bracket outside strings nested deeper than max, or -1, for valid JSON.
func oldTooDeep(b []byte, max int) int {
	depth, inString, escaped := 0, false, false
	for i, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return i
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return -1
}

func checkAgainstStdlib(t *testing.T, b []byte, maxDepth int) {
	t.Helper()
	r := Check(b, maxDepth)
	if want := json.Valid(b); r.Valid != want {
		t.Fatalf("Check(%.80q).Valid = %v, json.Valid says %v", b, r.Valid, want)
	}
	if !r.Valid {
		return
	}
	if want := oldBadUTF8(b); r.BadUTF8 != want {
		t.Fatalf("Check(%.80q).BadUTF8 = %d, want %d", b, r.BadUTF8, want)
	}
	if want := oldTooDeep(b, maxDepth); r.TooDeep != want {
		t.Fatalf("Check(%.80q, %d).TooDeep = %d, want %d", b, maxDepth, r.TooDeep, want)
	}
	// Value finds the same end as the text's last non-space byte.
	start := len(b) - len(bytes.TrimLeft(b, " \t\r\n"))
	end, ok := Value(b, start)
	if !ok || end != len(bytes.TrimRight(b, " \t\r\n")) {
		t.Fatalf("Value(%.80q, %d) = %d, %v; want the end of the value", b, start, end, ok)
	}
}

func TestCheckAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range texts {
		for _, depth := range []int{0, 1, 2, 64, MaxNesting} {
			checkAgainstStdlib(t, []byte(s), depth)
		}
	}
}

func TestCheckFindsBadUTF8AndDepth(t *testing.T) {
	r := Check([]byte("{\"a\":[\"ok\",\"b\xffd\"],\"c\":[[1]]}"), 2)
	if !r.Valid || r.BadUTF8 != 13 || r.TooDeep != 23 {
		t.Fatalf("Check = %+v, want valid, bad UTF-8 at 13 and too deep at 23", r)
	}
}

func TestValueStopsAtTheValuesEnd(t *testing.T) {
	b := []byte(`{"data":{"a":[1,"}"]} , "id":"x"}`)
	end, ok := Value(b, 8)
	if !ok || string(b[8:end]) != `{"a":[1,"}"]}` {
		t.Fatalf("Value = %q, %v", b[8:end], ok)
	}
	if _, ok := Value([]byte(`{"a":`), 0); ok {
		t.Fatal("Value accepted a truncated object")
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range texts {
		if len(s) < 1000 {
			f.Add([]byte(s), uint8(3))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, depth uint8) {
		checkAgainstStdlib(t, b, int(depth))
	})
}

func BenchmarkCheck(b *testing.B) {
	data := []byte(`{"device_id":"dev_01j9zq3k8m","serial":"C02XK1ABJG5J","model":"iPhone 16","os":{"name":"iOS","version":"18.2"},"tags":["kiosk","retail","eu-west"],"enrolled_at":"2026-12-05T10:00:00Z","battery":0.87,"compliant":true,"owner":null}`)
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("Check", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !Check(data, 64).Valid {
				b.Fatal("invalid")
			}
		}
	})
}
