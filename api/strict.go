package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Strict JSON: encoding/json takes the last of duplicate keys and matches field names case-insensitively, so
// {"id":"a","id":"b"} and {"ID":"a"} would mean something to webhookd that a validator in front of it may read
// otherwise. checkStrict refuses both, and invalid UTF-8 (which encoding/json silently replaces), before a body is
// decoded. Duplicate keys are refused at every level, event data included (RFC 7493, I-JSON); case variants only
// where webhookd reads the object (its request types), since event data may hold both "id" and "ID".

// checkStrict checks the first JSON value of body against the type it will be decoded into (t; nil for any JSON).
// It returns nil when the JSON is malformed: the decoder then reports the syntax error.
func checkStrict(body []byte, t reflect.Type) error {
	if !utf8.Valid(body) {
		return errInvalidJSON("", "the body is not valid UTF-8 at byte %d", invalidUTF8At(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		obj    bool
		typ    reflect.Type        // the Go type of the object or array; nil when free-form
		path   string              // where it is, e.g. "events[2].data"
		keys   map[string]struct{} // the keys of an object so far
		key    string              // the key whose value comes next, in an object
		index  int                 // the next element's index, in an array
		expKey bool                // an object expects a key next
	}
	var stack []*frame
	// child names and types the value that comes next, in the frame on top of the stack.
	child := func() (string, reflect.Type) {
		if len(stack) == 0 {
			return "", t
		}
		f := stack[len(stack)-1]
		if f.obj {
			return joinPath(f.path, f.key), fieldType(f.typ, f.key)
		}
		p := f.path + "[" + strconv.Itoa(f.index) + "]"
		f.index++
		return p, elemType(f.typ)
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) && len(stack) == 0 {
				return nil
			}
			return nil // malformed: the decoder says where
		}
		if len(stack) > 0 {
			if f := stack[len(stack)-1]; f.obj && f.expKey {
				if k, ok := tok.(string); ok {
					path := joinPath(f.path, k)
					if _, dup := f.keys[k]; dup {
						return errInvalidJSON(path, "duplicate key %q", path)
					}
					f.keys[k] = struct{}{}
					if name, ok := caseVariant(f.typ, k); ok {
						return errInvalidJSON(path, "unknown field %q: names are case-sensitive; did you mean %q?",
							path, joinPath(f.path, name))
					}
					f.key, f.expKey = k, false
					continue
				}
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			path, typ := child()
			obj := tok == json.Delim('{')
			f := &frame{obj: obj, typ: typ, path: path, expKey: obj}
			if obj {
				f.keys = make(map[string]struct{})
			}
			stack = append(stack, f)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			child()
		}
		if len(stack) == 0 {
			return nil // one value read; trailing data is the decoder's to refuse
		}
		if f := stack[len(stack)-1]; f.obj {
			f.expKey = true
		}
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// invalidUTF8At returns the offset of the first byte of b that does not start a valid UTF-8 sequence.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// schemaOf strips pointers; json.RawMessage and interfaces are free-form (nil).
func schemaOf(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t == rawMessageType || t.Kind() == reflect.Interface {
		return nil
	}
	return t
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// fieldType is the type of the value under key in an object decoded into t.
func fieldType(t reflect.Type, key string) reflect.Type {
	t = schemaOf(t)
	switch {
	case t == nil:
		return nil
	case t.Kind() == reflect.Map:
		return schemaOf(t.Elem())
	case t.Kind() == reflect.Struct:
		return schemaOf(jsonFields(t)[key])
	}
	return nil
}

// elemType is the type of the elements of an array decoded into t.
func elemType(t reflect.Type) reflect.Type {
	t = schemaOf(t)
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		return schemaOf(t.Elem())
	}
	return nil
}

// caseVariant reports whether key, in an object decoded into t, is not a field name of t but would be taken for
// one by encoding/json (which matches names case-insensitively); name is the field's name.
func caseVariant(t reflect.Type, key string) (name string, ok bool) {
	t = schemaOf(t)
	if t == nil || t.Kind() != reflect.Struct {
		return "", false
	}
	fields := jsonFields(t)
	if _, exact := fields[key]; exact {
		return "", false
	}
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields (embedded structs' fields included) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if et := schemaOf(f.Type); et != nil && et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, ok := m[k]; !ok {
						m[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		m[cmp.Or(name, f.Name)] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}
