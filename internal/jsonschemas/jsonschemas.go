// Package jsonschemas compiles the JSON Schemas webhookd stores (event-type schemas, management-call answer schemas)
// one way: a JSON object of bounded size, draft 2020-12 unless its $schema says otherwise, and no reference to
// another document ever loaded, from the network or the disk.
package jsonschemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxBytes is the largest schema Compile takes.
const MaxBytes = 64 << 10

// Compile compiles raw under the resource name url (a URN naming what the schema is for, shown in errors). The
// error is the compiler's, or says why raw is not a schema.
func Compile(raw json.RawMessage, url string) (*jsonschema.Schema, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, errors.New("a schema must be a JSON object")
	}
	if len(raw) > MaxBytes {
		return nil, fmt.Errorf("a schema is at most %d bytes", MaxBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// noLoader refuses every external reference of a schema.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %s: external references are not loaded", url)
}
