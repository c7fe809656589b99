package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/webhookd/webhookd/internal/jsonscan"
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
	sc := strictScanner{b: body}
	if err := sc.value(t); err != nil && err != errMalformed {
		return err
	}
	return nil
}

// errMalformed stops the scan of malformed JSON, which the decoder reports better.
var errMalformed = errors.New("malformed JSON")

// maxScanDepth bounds the scanner's recursion; encoding/json refuses deeper nesting anyway.
const maxScanDepth = 10000

// strictScanner walks one JSON value byte by byte (encoding/json's Token API is several times slower): it checks keys
// and skips everything else, trusting the decoder to refuse what is not JSON.
type strictScanner struct {
	b    []byte
	i    int
	path []pathElem // where the scan is, for errors
}

type pathElem struct {
	key   string
	index int // when key is ""
}

func (sc *strictScanner) pathString() string {
	var sb strings.Builder
	for _, p := range sc.path {
		if p.key == "" {
			sb.WriteString("[" + strconv.Itoa(p.index) + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(p.key)
	}
	return sb.String()
}

func (sc *strictScanner) ws() { sc.i = jsonscan.SkipSpace(sc.b, sc.i) }

// value scans one value that will be decoded into t.
func (sc *strictScanner) value(t reflect.Type) error {
	if len(sc.path) > maxScanDepth {
		return errMalformed
	}
	sc.ws()
	if sc.i >= len(sc.b) {
		return errMalformed
	}
	switch sc.b[sc.i] {
	case '{':
		return sc.object(t)
	case '[':
		sc.i++
		et := elemType(t)
		sc.ws()
		if sc.i < len(sc.b) && sc.b[sc.i] == ']' {
			sc.i++
			return nil
		}
		for n := 0; ; n++ {
			sc.path = append(sc.path, pathElem{index: n})
			if err := sc.value(et); err != nil {
				return err
			}
			sc.path = sc.path[:len(sc.path)-1]
			if end, err := sc.next(']'); end || err != nil {
				return err
			}
		}
	case '"':
		_, _, err := sc.str()
		return err
	}
	for sc.i < len(sc.b) { // a number, true, false or null
		switch sc.b[sc.i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return nil
		}
		sc.i++
	}
	return nil
}

func (sc *strictScanner) object(t reflect.Type) error {
	sc.i++ // {
	var (
		few  [8]string // the keys so far, while there are few
		keys = few[:0]
		many map[string]struct{}
	)
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == '}' {
		sc.i++
		return nil
	}
	for {
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
			return errMalformed
		}
		raw, escaped, err := sc.str()
		if err != nil {
			return err
		}
		key := string(raw)
		if escaped {
			if json.Unmarshal(raw, &key) != nil {
				return errMalformed
			}
		} else {
			key = key[1 : len(key)-1]
		}
		sc.path = append(sc.path, pathElem{key: key})
		dup := false
		if many != nil {
			_, dup = many[key]
			many[key] = struct{}{}
		} else {
			for _, k := range keys {
				dup = dup || k == key
			}
			if keys = append(keys, key); len(keys) > len(few) {
				many = make(map[string]struct{}, 2*len(keys))
				for _, k := range keys {
					many[k] = struct{}{}
				}
			}
		}
		if dup {
			p := sc.pathString()
			return errInvalidJSON(p, "duplicate key %q", p)
		}
		if name, ok := caseVariant(t, key); ok {
			p := sc.pathString()
			sc.path[len(sc.path)-1].key = name
			return errInvalidJSON(p, "unknown field %q: names are case-sensitive; did you mean %q?", p, sc.pathString())
		}
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
			return errMalformed
		}
		sc.i++
		if err := sc.value(fieldType(t, key)); err != nil {
			return err
		}
		sc.path = sc.path[:len(sc.path)-1]
		if end, err := sc.next('}'); end || err != nil {
			return err
		}
	}
}

// next reads what follows a member of an array or object: a comma (another member comes, end false) or the closing
// byte (end true); anything else is malformed.
func (sc *strictScanner) next(closing byte) (end bool, err error) {
	sc.ws()
	switch {
	case sc.i >= len(sc.b):
		return false, errMalformed
	case sc.b[sc.i] == ',':
		sc.i++
		return false, nil
	case sc.b[sc.i] == closing:
		sc.i++
		return true, nil
	}
	return false, errMalformed
}

// str scans a string at sc.i and returns it quoted, as in the body, and whether it holds an escape.
func (sc *strictScanner) str() (raw []byte, escaped bool, err error) {
	start := sc.i
	sc.i++ // "
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case '\\':
			escaped = true
			sc.i += 2
		case '"':
			sc.i++
			return sc.b[start:sc.i], escaped, nil
		default:
			sc.i++
		}
	}
	return nil, false, errMalformed
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
