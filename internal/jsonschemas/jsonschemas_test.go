package jsonschemas

import (
	"strings"
	"testing"
)

func TestCompile(t *testing.T) {
	sch, err := Compile([]byte(` {"type": "object", "required": ["id"]} `), "urn:test")
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(map[string]any{"id": "d1"}); err != nil {
		t.Errorf("a valid instance: %v", err)
	}
	if err := sch.Validate(map[string]any{}); err == nil {
		t.Error("an instance without id passed")
	}
	for _, tc := range []struct{ raw, want string }{
		{`[]`, "must be a JSON object"},
		{`{"type": `, "must be a JSON object"},
		{`{"description": "` + strings.Repeat("x", MaxBytes) + `"}`, "at most"},
		{`{"$ref": "https://example.com/s.json"}`, "external references are not loaded"},
		{`{"type": 12}`, ""},
	} {
		_, err := Compile([]byte(tc.raw), "urn:test")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%.40q) = %v, want an error with %q", tc.raw, err, tc.want)
		}
	}
}
