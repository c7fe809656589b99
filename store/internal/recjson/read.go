package recjson

import (
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/jsonscan"
)

// ReadDelivery fills d from js when js starts with exactly what AppendDelivery writes (its fields in its order,
// strings that need no unescaping, times and numbers in their canonical forms) and returns what follows the last
// field: "}" for a plain record. It reports false for anything else, which the caller reads with json.Unmarshal; where
// it reports true with rest "}", d is json.Unmarshal's result (FuzzReadDelivery). The embedded store reads a delivery
// on every attempt's result, and encoding/json took a tenth of its committer's time.
func ReadDelivery(js string, d *delivery.Delivery) (rest string, ok bool) {
	var v delivery.Delivery
	rest, ok = strings.CutPrefix(js, `{"id":`)
	if !ok {
		return "", false
	}
	if v.ID, rest, ok = jsonscan.CutString(rest); !ok {
		return "", false
	}
	v.TenantID, rest, ok = jsonscan.CutField(rest, `,"tenant_id":`, ok)
	v.MessageID, rest, ok = jsonscan.CutField(rest, `,"message_id":`, ok)
	v.EndpointID, rest, ok = jsonscan.CutField(rest, `,"endpoint_id":`, ok)
	v.EventType, rest, ok = jsonscan.CutField(rest, `,"event_type":`, ok)
	var status string
	status, rest, ok = jsonscan.CutField(rest, `,"status":`, ok)
	v.Status = delivery.Status(status)
	v.Attempts, rest, ok = number(rest, `,"attempts":`, ok)
	if ok && strings.HasPrefix(rest, `,"next_attempt_at":`) {
		v.NextAttemptAt, rest, ok = timeField(rest, `,"next_attempt_at":`, ok)
	}
	if ok && strings.HasPrefix(rest, `,"last_status_code":`) {
		v.LastCode, rest, ok = number(rest, `,"last_status_code":`, ok)
	}
	if ok && strings.HasPrefix(rest, `,"last_error":`) {
		v.LastError, rest, ok = jsonscan.CutField(rest, `,"last_error":`, ok)
	}
	v.CreatedAt, rest, ok = timeField(rest, `,"created_at":`, ok)
	v.UpdatedAt, rest, ok = timeField(rest, `,"updated_at":`, ok)
	if ok && strings.HasPrefix(rest, `,"ordering_key":`) {
		v.OrderingKey, rest, ok = jsonscan.CutField(rest, `,"ordering_key":`, ok)
	}
	if ok && strings.HasPrefix(rest, `,"waiting_on":`) {
		v.WaitingOn, rest, ok = jsonscan.CutField(rest, `,"waiting_on":`, ok)
	}
	if ok && strings.HasPrefix(rest, `,"blocked":true`) {
		v.Blocked, rest = true, rest[len(`,"blocked":true`):]
	}
	if !ok {
		return "", false
	}
	*d = v
	return rest, true
}

// number reads `<name><integer>` at the start of s, the integer as strconv.Itoa writes it.
func number(s, name string, ok bool) (int, string, bool) {
	if !ok {
		return 0, "", false
	}
	if s, ok = strings.CutPrefix(s, name); !ok {
		return 0, "", false
	}
	end := 0
	if end < len(s) && s[end] == '-' {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil || strconv.Itoa(n) != s[:end] {
		return 0, "", false
	}
	return n, s[end:], true
}

// timeField reads `<name><JSON string>` at the start of s, the string a time in MarshalJSON's form.
func timeField(s, name string, ok bool) (t time.Time, rest string, _ bool) {
	var str string
	if str, rest, ok = jsonscan.CutField(s, name, ok); !ok {
		return t, "", false
	}
	if t, ok = jsonscan.CanonicalTime(str); !ok {
		return t, "", false
	}
	return t, rest, true
}
