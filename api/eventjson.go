package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/webhookd/webhookd/internal/jsonscan"
	"github.com/webhookd/webhookd/wire"
)

// Publish bodies are the API's hot path, and they come in one plain form: an object of wire.Event's fields, with
// strings that need no unescaping and data of any JSON. decodeEvent and decodeBatch read that form in one pass;
// encoding/json's decoder scanned a body, then its data again for the json.RawMessage, at several times the cost.
// Anything else (escapes, nulls, unknown or case-variant keys, trailing data) makes them report false, with dst
// untouched, and the body goes through json.Decoder as before, which decodes it or explains what is wrong.
// FuzzDecodeEvent and FuzzDecodeBatch hold them to json.Decoder's result.

// decodeFast decodes raw into dst when dst is a publish body in the plain form, and reports whether it did.
func decodeFast(raw []byte, dst any) bool {
	switch v := dst.(type) {
	case *wire.Event:
		return decodeEvent(raw, v)
	case *wire.Batch:
		return decodeBatch(raw, v)
	}
	return false
}

func decodeEvent(raw []byte, dst *wire.Event) bool {
	var ev wire.Event
	c := cursor{b: raw}
	c.ws()
	if !c.event(&ev) || !c.end() {
		return false
	}
	*dst = ev
	return true
}

func decodeBatch(raw []byte, dst *wire.Batch) bool {
	c := cursor{b: raw}
	c.ws()
	if !c.byte('{') || !c.keyIs("events") || !c.byte('[') {
		return false
	}
	evs := []wire.Event{}
	if !c.byte(']') {
		for {
			evs = append(evs, wire.Event{})
			if !c.event(&evs[len(evs)-1]) {
				return false
			}
			if c.byte(']') {
				break
			}
			if !c.byte(',') {
				return false
			}
		}
	}
	if !c.byte('}') || !c.end() {
		return false
	}
	dst.Events = evs
	return true
}

// cursor reads a JSON text from b[i]; every method but end and ws skips the whitespace after what it read.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) ws() { c.i = jsonscan.SkipSpace(c.b, c.i) }

// end reports whether only whitespace is left.
func (c *cursor) end() bool {
	c.ws()
	return c.i == len(c.b)
}

// byte reads b when it comes next.
func (c *cursor) byte(b byte) bool {
	if c.i < len(c.b) && c.b[c.i] == b {
		c.i++
		c.ws()
		return true
	}
	return false
}

// str reads a string that needs no unescaping and holds only valid UTF-8, and returns its bytes.
func (c *cursor) str() ([]byte, bool) {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, false
	}
	start, high := c.i+1, false
	for i := start; i < len(c.b); i++ {
		switch ch := c.b[i]; {
		case ch == '"':
			s := c.b[start:i]
			if high && !utf8.Valid(s) {
				return nil, false // json.Decoder would replace the bytes
			}
			c.i = i + 1
			c.ws()
			return s, true
		case ch == '\\' || ch < 0x20:
			return nil, false
		case ch >= utf8.RuneSelf:
			high = true
		}
	}
	return nil, false
}

// keyIs reads an object key equal to k, and its colon.
func (c *cursor) keyIs(k string) bool {
	s, ok := c.str()
	return ok && string(s) == k && c.byte(':')
}

// event reads one event object into ev.
func (c *cursor) event(ev *wire.Event) bool {
	if !c.byte('{') {
		return false
	}
	if c.byte('}') {
		return true
	}
	for {
		key, ok := c.str()
		if !ok || !c.byte(':') {
			return false
		}
		switch string(key) {
		case "type":
			ok = c.strField(&ev.Type)
		case "id":
			ok = c.strField(&ev.ID)
		case "ordering_key":
			ok = c.strField(&ev.OrderingKey)
		case "timestamp":
			var ts string
			if ok = c.strField(&ts); ok {
				ev.Timestamp = &ts
			}
		case "schema_version":
			ok = c.smallInt(&ev.SchemaVersion)
		case "data":
			ok = c.data(&ev.Data)
		default:
			return false // unknown, or a case variant json.Decoder would match
		}
		if !ok {
			return false
		}
		if c.byte('}') {
			return true
		}
		if !c.byte(',') {
			return false
		}
	}
}

func (c *cursor) strField(dst *string) bool {
	s, ok := c.str()
	if ok {
		*dst = string(s)
	}
	return ok
}

// smallInt reads an integer of at most 9 digits: JSON's grammar, no fraction or exponent.
func (c *cursor) smallInt(dst *int) bool {
	i, neg := c.i, false
	if i < len(c.b) && c.b[i] == '-' {
		neg = true
		i++
	}
	start, n := i, 0
	for i < len(c.b) && c.b[i] >= '0' && c.b[i] <= '9' && i-start < 10 {
		n = n*10 + int(c.b[i]-'0')
		i++
	}
	switch digits := i - start; {
	case digits == 0 || digits > 9:
		return false
	case digits > 1 && c.b[start] == '0':
		return false // a leading zero is not JSON
	}
	if neg {
		n = -n
	}
	c.i = i
	c.ws()
	*dst = n
	return true
}

// data reads any JSON value but null (which json.RawMessage keeps as the word null; the plain form leaves data out).
func (c *cursor) data(dst *json.RawMessage) bool {
	if c.i >= len(c.b) || c.b[c.i] == 'n' {
		return false
	}
	end, ok := jsonscan.Value(c.b, c.i)
	if !ok {
		return false
	}
	*dst = c.b[c.i:end:end]
	c.i = end
	c.ws()
	return true
}

// writePublished answers a publish with 202 and p, the bytes writeJSON writes, without its reflection: message ids
// are plain ASCII. An id that would need escaping goes through writeJSON.
func writePublished(w http.ResponseWriter, p wire.Published) {
	for i := 0; i < len(p.ID); i++ {
		if c := p.ID[i]; !plainASCII(c) {
			writeJSON(w, http.StatusAccepted, p)
			return
		}
	}
	b := make([]byte, 0, 48+len(p.ID))
	b = append(b, `{"id":"`...)
	b = append(b, p.ID...)
	b = append(b, `","fanout":`...)
	b = strconv.AppendInt(b, int64(p.Fanout), 10)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, p.Duplicate)
	b = append(b, "}\n"...)
	writeJSONHeader(w, http.StatusAccepted)
	_, _ = w.Write(b) // a write error means the client is gone
}

// plainASCII reports whether json.Marshal writes c in a string as it is.
func plainASCII(c byte) bool {
	return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}
