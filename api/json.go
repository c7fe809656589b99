package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/wire"
)

// writeJSON answers with v as JSON. Responses are never cached: some carry secrets.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONHeader(w, status)
	_ = json.NewEncoder(w).Encode(v) // a write error means the client is gone
}

// writeJSONHeader starts a JSON answer.
func writeJSONHeader(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
}

// decodeBody reads one JSON object of at most limit bytes into dst, refusing unknown fields and trailing data, and
// (checkStrict) invalid UTF-8, duplicate keys and case variants of field names. With optional set, an empty body
// leaves dst as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, dst any, optional bool) error {
	if r.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit} // refused before a byte is read (the connection is then closed)
	}
	raw, err := readBody(w, r, limit)
	if err != nil {
		switch {
		case isMaxBytes(err):
			return err
		case errors.Is(err, os.ErrDeadlineExceeded): // the body read deadline (bodyDeadline)
			return newError(http.StatusRequestTimeout, CodeRequestTimeout, "the request body was not received in time")
		}
		return errInvalidJSON("", "the request body could not be read: %v", err)
	}
	if optional && len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := checkStrict(raw, reflect.TypeOf(dst)); err != nil {
		return err
	}
	if decodeFast(raw, dst) {
		return nil
	}
	return decodeJSON(raw, dst)
}

// decodeJSON decodes raw, one JSON object, into dst, refusing unknown fields and trailing data.
func decodeJSON(raw []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); errors.Is(err, io.EOF) {
		return nil
	}
	return errInvalidJSON("", "the body must hold exactly one JSON object")
}

// readBody reads a body of at most limit bytes: into one buffer of its Content-Length when the client gave one (as
// clients of the publish API do), else growing as it comes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength <= 0 {
		return io.ReadAll(body)
	}
	raw := make([]byte, r.ContentLength) // at most limit: decodeBody refused a longer one
	n, err := io.ReadFull(body, raw)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // fewer bytes than announced; net/http's reader says the same
	}
	return raw[:n], err
}

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// jsonError turns an encoding/json error into an invalid_json answer that names the field at fault.
func jsonError(err error) error {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case isMaxBytes(err):
		return err
	case errors.Is(err, io.EOF):
		return errInvalidJSON("", "the request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errInvalidJSON("", "malformed JSON: unexpected end of body")
	case errors.As(err, &se):
		return errInvalidJSON("", "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field == "" {
			return errInvalidJSON("", "the body must be a JSON object, not %s", te.Value)
		}
		return errInvalidJSON(te.Field, "field %q must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return errInvalidJSON(name, "unknown field %q", name)
	}
	return errInvalidJSON("", "malformed JSON")
}

// jsonKind names what JSON value a Go type takes.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a valid value"
}

// parseDuration reads a duration field: a Go duration string such as "1s" or "250ms", or a number of milliseconds.
// An absent or null field gives nil.
func parseDuration(field string, raw json.RawMessage) (*time.Duration, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var d time.Duration
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errInvalidJSON(field, "field %q must be a duration string such as \"1s\" or a number of milliseconds", field)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return nil, errValidation(field, "%s: %q is not a duration such as \"1s\" or \"250ms\"", field, s)
		}
		d = v
	default:
		ms, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return nil, errInvalidJSON(field, "field %q must be a duration string such as \"1s\" or a number of milliseconds", field)
		}
		if math.IsNaN(ms) || math.Abs(ms) > float64(math.MaxInt64/int64(time.Millisecond)) {
			return nil, errValidation(field, "%s: out of range", field)
		}
		d = time.Duration(ms * float64(time.Millisecond))
	}
	return &d, nil
}

// parseTime reads an RFC 3339 timestamp.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errValidation(field, "%s: %q is not an RFC 3339 time such as 2026-04-15T12:00:00Z", field, s)
	}
	return t, nil
}

// Paging limits for list routes.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// page reads ?limit= and ?after=.
func page(r *http.Request) (after string, limit int, err error) {
	q := r.URL.Query()
	limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return "", 0, errParam("limit", "limit must be an integer from 1 to %d", maxLimit)
		}
		limit = n
	}
	return q.Get("after"), limit, nil
}

// newList is the shape of every paged response (see wire.List).
func newList[T any](data []T, next string) wire.List[T] { return wire.NewList(data, next) }
