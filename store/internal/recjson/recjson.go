// Package recjson writes delivery.Delivery and delivery.Attempt records, and message heads, as JSON without
// reflection. The stores write these on every publish and attempt, and encoding/json's reflection-based Marshal of
// them was a measurable share of the gateway's CPU at saturation. The bytes are exactly json.Marshal's for the same
// value, so records written either way read back alike; the tests and fuzz targets hold the two to that.
package recjson

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/delivery"
)

// AppendDelivery appends d as json.Marshal writes it. Its error is json.Marshal's, for the one record Marshal
// refuses: a time that RFC 3339 cannot write (a year outside 0..9999, a zone offset of a day or more).
func AppendDelivery(dst []byte, d *delivery.Delivery) ([]byte, error) {
	// Room for the keys, times and numbers of a usual record beside its strings, so that a nil dst is allocated
	// once; a record with every optional field set, or with escapes, may grow again.
	dst = slices.Grow(dst, 256+len(d.ID)+len(d.TenantID)+len(d.MessageID)+len(d.EndpointID)+len(d.EventType)+
		len(d.Status)+len(d.LastError)+len(d.OrderingKey)+len(d.WaitingOn))
	start := len(dst)
	ok := true
	dst = appendString(append(dst, `{"id":`...), d.ID)
	dst = appendString(append(dst, `,"tenant_id":`...), d.TenantID)
	dst = appendString(append(dst, `,"message_id":`...), d.MessageID)
	dst = appendString(append(dst, `,"endpoint_id":`...), d.EndpointID)
	dst = appendString(append(dst, `,"event_type":`...), d.EventType)
	dst = appendString(append(dst, `,"status":`...), string(d.Status))
	dst = strconv.AppendInt(append(dst, `,"attempts":`...), int64(d.Attempts), 10)
	if !d.NextAttemptAt.IsZero() { // omitzero goes by time.Time's IsZero
		dst, ok = appendTime(append(dst, `,"next_attempt_at":`...), d.NextAttemptAt, ok)
	}
	if d.LastCode != 0 {
		dst = strconv.AppendInt(append(dst, `,"last_status_code":`...), int64(d.LastCode), 10)
	}
	if d.LastError != "" {
		dst = appendString(append(dst, `,"last_error":`...), d.LastError)
	}
	dst, ok = appendTime(append(dst, `,"created_at":`...), d.CreatedAt, ok)
	dst, ok = appendTime(append(dst, `,"updated_at":`...), d.UpdatedAt, ok)
	if d.OrderingKey != "" {
		dst = appendString(append(dst, `,"ordering_key":`...), d.OrderingKey)
	}
	if d.WaitingOn != "" {
		dst = appendString(append(dst, `,"waiting_on":`...), d.WaitingOn)
	}
	if d.Blocked {
		dst = append(dst, `,"blocked":true`...)
	}
	if !ok {
		return appendMarshal(dst[:start], d)
	}
	return append(dst, '}'), nil
}

// AppendAttempt appends a as json.Marshal writes it. Its error is json.Marshal's, for the one record Marshal
// refuses: a time that RFC 3339 cannot write (a year outside 0..9999, a zone offset of a day or more).
func AppendAttempt(dst []byte, a *delivery.Attempt) ([]byte, error) {
	// The request headers in key order, as encoding/json writes maps. An attempt carries a handful, so the keys
	// usually fit on the stack.
	var keyBuf [16]string
	keys := keyBuf[:0]
	n := 160 + len(a.DeliveryID) + len(a.Error) + len(a.Response) + len(a.Outcome)
	for k, v := range a.Request {
		keys = append(keys, k)
		n += len(k) + len(v) + len(`,"":""`)
	}
	slices.Sort(keys)
	dst = slices.Grow(dst, n)

	start := len(dst)
	ok := true
	dst = appendString(append(dst, `{"delivery_id":`...), a.DeliveryID)
	dst = strconv.AppendInt(append(dst, `,"attempt":`...), int64(a.N), 10)
	dst, ok = appendTime(append(dst, `,"at":`...), a.At, ok)
	if a.StatusCode != 0 {
		dst = strconv.AppendInt(append(dst, `,"status_code":`...), int64(a.StatusCode), 10)
	}
	dst = strconv.AppendInt(append(dst, `,"latency":`...), int64(a.Latency), 10)
	if a.Error != "" {
		dst = appendString(append(dst, `,"error":`...), a.Error)
	}
	if a.Response != "" {
		dst = appendString(append(dst, `,"response":`...), a.Response)
	}
	dst = appendString(append(dst, `,"outcome":`...), a.Outcome)
	if len(a.Request) > 0 {
		dst = append(dst, `,"request":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = appendString(append(dst, ':'), a.Request[k])
		}
		dst = append(dst, '}')
	}
	if !ok {
		return appendMarshal(dst[:start], a)
	}
	return append(dst, '}'), nil
}

// AppendMessage appends m as json.Marshal writes it, for a message whose Data is nil (the stores keep the data
// apart from this head): "data" is null. A message with data goes through json.Marshal, which also compacts it. Its
// error is json.Marshal's, as for AppendDelivery.
func AppendMessage(dst []byte, m *delivery.Message) ([]byte, error) {
	if m.Data != nil {
		return appendMarshal(dst, m)
	}
	dst = slices.Grow(dst, 200+len(m.ID)+len(m.TenantID)+len(m.Type)+len(m.IdempotencyKey)+len(m.TraceParent)+
		len(m.OrderingKey))
	start := len(dst)
	ok := true
	dst = appendString(append(dst, `{"id":`...), m.ID)
	dst = appendString(append(dst, `,"tenant_id":`...), m.TenantID)
	dst = appendString(append(dst, `,"type":`...), m.Type)
	dst, ok = appendTime(append(dst, `,"timestamp":`...), m.Timestamp, ok)
	dst = append(dst, `,"data":null`...)
	if m.IdempotencyKey != "" {
		dst = appendString(append(dst, `,"idempotency_key":`...), m.IdempotencyKey)
	}
	if m.TraceParent != "" {
		dst = appendString(append(dst, `,"traceparent":`...), m.TraceParent)
	}
	dst, ok = appendTime(append(dst, `,"created_at":`...), m.CreatedAt, ok)
	if m.OrderingKey != "" {
		dst = appendString(append(dst, `,"ordering_key":`...), m.OrderingKey)
	}
	if !m.ExpungedAt.IsZero() {
		dst, ok = appendTime(append(dst, `,"expunged_at":`...), m.ExpungedAt, ok)
	}
	if !ok {
		return appendMarshal(dst[:start], m)
	}
	return append(dst, '}'), nil
}

// appendMarshal appends json.Marshal's encoding of v, or returns its error: the way out for what the fast writers
// leave to encoding/json.
func appendMarshal(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// appendTime appends t as time.Time's MarshalJSON writes it: RFC 3339 with the nanoseconds it has, trailing zeros
// trimmed (the RFC3339Nano layout; MarshalJSON too writes an offset's whole minutes and drops its seconds). It
// returns ok, or false where MarshalJSON fails on t, which is where RFC 3339 has no room for it: a year of other
// than four digits, or a zone offset of 24 hours or more.
func appendTime(dst []byte, t time.Time, ok bool) ([]byte, bool) {
	const day = 24 * 60 * 60
	dst = append(dst, '"')
	year := len(dst)
	dst = append(t.AppendFormat(dst, time.RFC3339Nano), '"')
	if dst[year+len("2006")] != '-' {
		return dst, false
	}
	if dst[len(dst)-2] != 'Z' { // a nonzero offset: is it less than a day?
		if _, off := t.Zone(); off <= -day || off >= day {
			return dst, false
		}
	}
	return dst, ok
}

// appendString appends s as a JSON string the way json.Marshal writes strings: '"' and '\\' escaped, control
// characters as \b \f \n \r \t or \u00XX, '<' '>' '&' as \u003c \u003e \u0026 (HTML-safe, Marshal's default),
// each byte of invalid UTF-8 as \ufffd, and U+2028 and U+2029 escaped (JSONP-safe). Everything else is copied.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	done := 0 // s[:done] is in dst
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[done:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, `\b`...)
			case '\f':
				dst = append(dst, `\f`...)
			case '\n':
				dst = append(dst, `\n`...)
			case '\r':
				dst = append(dst, `\r`...)
			case '\t':
				dst = append(dst, `\t`...)
			default: // other control characters, and the HTML ones
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			done = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1: // invalid UTF-8; an encoded U+FFFD is size 3 and copied
			dst = append(append(dst, s[done:i]...), `\ufffd`...)
			done = i + size
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[done:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			done = i + size
		}
		i += size
	}
	return append(append(dst, s[done:]...), '"')
}

// plain holds the bytes a JSON string carries as they are: ASCII but for the escaped ones. Bytes of multi-byte
// runes are not plain, so that one look-up per byte settles the common case.
var plain = func() (p [256]bool) {
	for c := range utf8.RuneSelf {
		p[c] = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return p
}()
