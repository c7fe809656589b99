package events_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/events"
)

// TestSchemaSuite runs the official JSON Schema test cases of the keywords the catalogue's schemas rely on through
// the path publish uses: CompileEventSchema (draft 2020-12 by default) and ValidateData.
func TestSchemaSuite(t *testing.T) {
	files, err := filepath.Glob("testdata/json-schema-test-suite/*.json")
	if err != nil || len(files) < 10 {
		t.Fatalf("suite files: %v, %d", err, len(files))
	}
	type test struct {
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data"`
		Valid       bool            `json:"valid"`
	}
	type group struct {
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Tests       []test          `json:"tests"`
	}
	ran := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var groups []group
		if err := json.Unmarshal(b, &groups); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range groups {
			if draft4Only(g.Schema) {
				continue
			}
			sch, err := events.CompileEventSchema(g.Schema)
			if err != nil {
				t.Errorf("%s: %s: compile: %v", filepath.Base(f), g.Description, err)
				continue
			}
			for _, c := range g.Tests {
				se := events.ValidateData(sch, c.Data)
				if (se == nil) != c.Valid {
					t.Errorf("%s: %s: %s: valid %v, got %v", filepath.Base(f), g.Description, c.Description, c.Valid, se)
				}
				if se != nil && se.Rule == "" {
					t.Errorf("%s: %s: %s: a failure names no rule: %+v", filepath.Base(f), g.Description, c.Description, se)
				}
				ran++
			}
		}
	}
	if ran < 150 {
		t.Fatalf("ran %d cases; the suite files are incomplete", ran)
	}
	t.Logf("%d cases", ran)
}

// draft4Only reports whether a schema uses a form draft 2020-12 gave another meaning (boolean exclusiveMinimum or
// exclusiveMaximum).
func draft4Only(schema json.RawMessage) bool {
	s := string(schema)
	return strings.Contains(s, `"exclusiveMinimum": true`) || strings.Contains(s, `"exclusiveMaximum": true`) ||
		strings.Contains(s, `"exclusiveMinimum": false`) || strings.Contains(s, `"exclusiveMaximum": false`)
}
