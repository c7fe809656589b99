package redisstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/store/internal/msgjson"
	"github.com/webhookd/webhookd/store/internal/recjson"
	"github.com/webhookd/webhookd/tenants"
)

// Times in delivery and message records are Unix nanoseconds written as 20 zero-padded digits, so that Lua can
// compare them as strings (Lua numbers are doubles: 53 bits do not hold a nanosecond timestamp). The zero time is "".

func nsString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return fmt.Sprintf("%020d", ns)
}

func parseNS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, ns).UTC(), nil
}

// ms is the millisecond form scores use, never negative.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 0)
}

// decodeMessage rebuilds a message from its "m" and "data" fields (HMGET values); delivery.ErrNotFound when absent.
func decodeMessage(id string, mj, data any) (*delivery.Message, error) {
	js, _ := mj.(string)
	if js == "" {
		return nil, delivery.ErrNotFound
	}
	var m delivery.Message
	if err := msgjson.Decode(js, &m); err != nil {
		return nil, fmt.Errorf("redisstore: decode message %s: %w", id, err)
	}
	if d, _ := data.(string); d != "" {
		m.Data = json.RawMessage(d)
	}
	return &m, nil
}

// recordFields are the fields of a delivery record that decodeDelivery reads: reading only these leaves out the
// attempts the record also holds.
var recordFields = []string{"tenant", "msg", "ep", "type", "status", "err", "ok", "blk", "att", "code", "next",
	"created", "updated"}

// recordOf turns an HMGET of recordFields into the map decodeDelivery reads, without the fields that are absent
// (none at all when the record is).
func recordOf(c *redis.SliceCmd) (map[string]string, error) {
	vals, err := c.Result()
	if err != nil {
		return nil, err
	}
	f := make(map[string]string, len(vals))
	for i, v := range vals {
		if v, ok := v.(string); ok && i < len(recordFields) {
			f[recordFields[i]] = v
		}
	}
	return f, nil
}

// An attempt is the field "x<updated ns, 20 digits>.<attempt number, 5 digits>" of its delivery's record (the
// scripts' attempt_field), so that the fields sort in the order the attempts ended; versions before 2026-12 appended
// them to a list of their own (keys.attempts), which the record's fields follow.
func attemptsOf(list []string, rec map[string]string) []string {
	fields := make([]string, 0, len(rec))
	for k := range rec {
		if isAttemptField(k) {
			fields = append(fields, k)
		}
	}
	slices.Sort(fields)
	out := append(make([]string, 0, len(list)+len(fields)), list...)
	for _, k := range fields {
		out = append(out, rec[k])
	}
	return out
}

func isAttemptField(k string) bool { return len(k) > 1 && k[0] == 'x' && k[1] >= '0' && k[1] <= '9' }

// decodeDelivery reads the record HASH of delivery id (fields written by enqueueScript and updated by the other
// scripts; a field not written yet is its zero value, and records written before the id and cms fields were dropped
// still read).
func decodeDelivery(id string, f map[string]string) (*delivery.Delivery, error) {
	d := &delivery.Delivery{
		ID:         id,
		TenantID:   f["tenant"],
		MessageID:  f["msg"],
		EndpointID: f["ep"],
		EventType:  f["type"],
		Status:     delivery.Status(f["status"]),
		LastError:  f["err"],
		// ok: the ordering key, on records enqueued by enqueueOrderedScript
		OrderingKey: f["ok"],
		// blk: "1" while a failed or dead delivery holds its ordering key (ordering.go)
		Blocked: f["blk"] == "1",
	}
	var err error
	if d.Attempts, err = atoiEmpty(f["att"]); err != nil {
		return nil, fmt.Errorf("redisstore: delivery %s: attempts: %w", d.ID, err)
	}
	if d.LastCode, err = atoiEmpty(f["code"]); err != nil {
		return nil, fmt.Errorf("redisstore: delivery %s: code: %w", d.ID, err)
	}
	for _, p := range []struct {
		field string
		dst   *time.Time
	}{{"next", &d.NextAttemptAt}, {"created", &d.CreatedAt}, {"updated", &d.UpdatedAt}} {
		if *p.dst, err = parseNS(f[p.field]); err != nil {
			return nil, fmt.Errorf("redisstore: delivery %s: %s: %w", d.ID, p.field, err)
		}
	}
	return d, nil
}

func atoiEmpty(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

// storedEndpoint keeps what endpoints.Endpoint does not marshal: the key secrets.
type storedEndpoint struct {
	Endpoint *endpoints.Endpoint `json:"endpoint"`
	Secrets  []string            `json:"secrets"` // Keys[i].Secret
}

func encodeEndpoint(e *endpoints.Endpoint) (string, error) {
	se := storedEndpoint{Endpoint: e, Secrets: make([]string, len(e.Keys))}
	for i, k := range e.Keys {
		se.Secrets[i] = k.Secret
	}
	b, err := json.Marshal(se)
	return string(b), err
}

func decodeEndpoint(s string) (*endpoints.Endpoint, error) {
	var se storedEndpoint
	if err := json.Unmarshal([]byte(s), &se); err != nil {
		return nil, fmt.Errorf("redisstore: decode endpoint: %w", err)
	}
	if se.Endpoint == nil {
		return nil, fmt.Errorf("redisstore: decode endpoint: empty record")
	}
	for i := range se.Endpoint.Keys {
		if i < len(se.Secrets) {
			se.Endpoint.Keys[i].Secret = se.Secrets[i]
		}
	}
	return se.Endpoint, nil
}

// storedToken keeps the hash, which tenants.Token does not marshal.
type storedToken struct {
	Token *tenants.Token `json:"token"`
	Hash  string         `json:"hash"` // hex
}

func encodeToken(t *tenants.Token) (string, error) {
	b, err := json.Marshal(storedToken{Token: t, Hash: hex.EncodeToString(t.Hash[:])})
	return string(b), err
}

func decodeToken(s string) (*tenants.Token, error) {
	var st storedToken
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return nil, fmt.Errorf("redisstore: decode token: %w", err)
	}
	if st.Token == nil {
		return nil, fmt.Errorf("redisstore: decode token: empty record")
	}
	h, err := hex.DecodeString(st.Hash)
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("redisstore: decode token %s: bad hash", st.Token.ID)
	}
	copy(st.Token.Hash[:], h)
	return st.Token, nil
}

// A message's delivery plan (the "plan" field) lists the deliveries Publish made, so that a producer's retry can
// complete them. Their endpoints are in the message's delivery index ("<delivery> <endpoint>"), and the deliveries of
// one publish share everything else, so the plan is compact: the first line is the JSON of a template delivery (the
// first one, without id and endpoint), then one line per delivery, its id alone when it matches the template in every
// other field, else its full JSON. About 31 bytes per delivery instead of about 300 for the JSON of each. A plan
// starting with '[' is the older form, a JSON array of the deliveries (still read).

func encodePlan(ds []*delivery.Delivery) (string, error) {
	if len(ds) == 0 {
		return "", nil
	}
	tmpl := *ds[0]
	tmpl.ID, tmpl.EndpointID = "", ""
	b, err := recjson.AppendDelivery(make([]byte, 0, 512+len(ds)*32), &tmpl) // json.Marshal's bytes
	if err != nil {
		return "", err
	}
	for _, d := range ds {
		b = append(b, '\n')
		c := *d
		c.ID, c.EndpointID = "", ""
		if c == tmpl {
			b = append(b, d.ID...)
			continue
		}
		if b, err = recjson.AppendDelivery(b, d); err != nil {
			return "", err
		}
	}
	return string(b), nil
}

// decodePlan rebuilds a plan and tells how many deliveries it lists; endpointOf gives the endpoint of a delivery id
// from the message's delivery index ("" when the delivery is no longer indexed: such deliveries are left out of the
// plan, as pending would drop them anyway, but counted).
func decodePlan(s string, endpointOf map[string]string) (plan []*delivery.Delivery, n int, err error) {
	if s == "" {
		return nil, 0, nil
	}
	if s[0] == '[' {
		err := json.Unmarshal([]byte(s), &plan)
		return plan, len(plan), err
	}
	head, rest, _ := strings.Cut(s, "\n")
	var tmpl delivery.Delivery
	if err := json.Unmarshal([]byte(head), &tmpl); err != nil {
		return nil, 0, err
	}
	for line := range strings.SplitSeq(rest, "\n") {
		switch {
		case line == "":
			continue
		case line[0] == '{':
			d := new(delivery.Delivery)
			if err := json.Unmarshal([]byte(line), d); err != nil {
				return nil, 0, err
			}
			plan = append(plan, d)
		default:
			if ep := endpointOf[line]; ep != "" {
				d := tmpl
				d.ID, d.EndpointID = line, ep
				plan = append(plan, &d)
			}
		}
		n++
	}
	return plan, n, nil
}

// pair is an index member "<id> <endpoint id>": a delivery id with where its record lives. The space sorts below
// every id character, so members sort in id order even when one id is a prefix of another.
func pair(id, endpointID string) string { return id + " " + endpointID }

func splitPair(m string) (id, endpointID string) {
	id, endpointID, _ = strings.Cut(m, " ")
	return id, endpointID
}

// afterPair is the ZRANGE BYLEX start that lists pairs whose id is greater than after: "!" sorts right above the
// space and below every id character.
func afterPair(after string) string {
	if after == "" {
		return "-"
	}
	return "(" + after + "!"
}

// afterID is the ZRANGE BYLEX start that lists plain ids greater than after.
func afterID(after string) string {
	if after == "" {
		return "-"
	}
	return "(" + after
}

// A message's delivery index is a ZSET of its own (msgKeys.messageDeliveries), but for the deliveries a one-script
// publish enqueued with it (at most maxOneScript), which are fields "d:<delivery> <endpoint>" (valued "") of the
// message's hash, written by the same HSET: one command fewer per publish, and less memory than a ZSET for so few.
// messageIndex reads both.
func messageIndexField(deliveryID, endpointID string) string {
	return "d:" + pair(deliveryID, endpointID)
}

// messageIndexCmds are the reads of one message's delivery index, queued on a pipeline.
type messageIndexCmds struct {
	fields, zset *redis.StringSliceCmd // the message's field names; its ZSET's members
	inline       *redis.StringSliceCmd // its inline member (inline.go), when read
}

// messageIndex queues the reads of message id's delivery index on pipe; pairs reads them once it ran. With a tenant
// it also reads the message's inline member, which lists the deliveries it was published with.
func (s *Store) messageIndex(ctx context.Context, pipe redis.Pipeliner, tenantID, id string) messageIndexCmds {
	mk := s.k.msgShardOf(id)
	c := messageIndexCmds{fields: pipe.HKeys(ctx, mk.message(id)), zset: pipe.ZRange(ctx, mk.messageDeliveries(id), 0, -1)}
	if tenantID != "" {
		c.inline = s.readInline(ctx, pipe, tenantID, id)
	}
	return c
}

// pairs returns the index's members "<delivery> <endpoint>", sorted and without repeats.
func (c messageIndexCmds) pairs() []string {
	out := slices.Clone(c.zset.Val())
	for _, f := range c.fields.Val() {
		if p, ok := strings.CutPrefix(f, "d:"); ok {
			out = append(out, p)
		}
	}
	if im := inlineOf(c.inline); im != nil {
		out = append(out, im.pairs...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// endpointMember is the member of the tenant's delivery index that lists delivery id in its endpoint's log:
// "|<endpoint> <delivery>". '|' sorts above every id character, so these come after the tenant's own members
// "<delivery> <endpoint>", and one endpoint's in id order. A publish script writes them for the deliveries it
// enqueues itself, instead of the endpoint's own index (shardKeys.endpointDeliveries), which enqueueScript writes.
func endpointMember(endpointID, id string) string { return "|" + endpointID + " " + id }
