package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/store/internal/msgjson"
	"github.com/webhookd/webhookd/store/internal/recjson"
	"github.com/webhookd/webhookd/tenants"
)

// Values are JSON. Every encode and decode is in this file; records whose API form hides a field (a token's hash, an
// endpoint's secrets) get a wrapper that stores it.

// tokenRec is a token as stored: the API form hides Hash.
type tokenRec struct {
	tenants.Token
	HashB []byte `json:"hash"`
}

// endpointRec is an endpoint as stored: the API form hides each key's Secret, kept here in Keys order.
type endpointRec struct {
	endpoints.Endpoint
	Secrets []string `json:"secrets"`
}

// idemRec is what an idempotency key points to.
type idemRec struct {
	MessageID string    `json:"m"`
	CreatedAt time.Time `json:"c"`
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("boltstore: encode %T: %w", v, err)
	}
	return b, nil
}

func decode[T any](b []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("boltstore: decode %T: %w", v, err)
	}
	return v, nil
}

func encodeToken(t *tenants.Token) ([]byte, error) {
	return encode(&tokenRec{Token: *t, HashB: t.Hash[:]})
}

func decodeToken(b []byte) (*tenants.Token, error) {
	r, err := decode[tokenRec](b)
	if err != nil {
		return nil, err
	}
	t := r.Token
	copy(t.Hash[:], r.HashB)
	return &t, nil
}

func encodeEndpoint(e *endpoints.Endpoint) ([]byte, error) {
	r := endpointRec{Endpoint: *e, Secrets: make([]string, len(e.Keys))}
	for i, k := range e.Keys {
		r.Secrets[i] = k.Secret
	}
	return encode(&r)
}

func decodeEndpoint(b []byte) (*endpoints.Endpoint, error) {
	r, err := decode[endpointRec](b)
	if err != nil {
		return nil, err
	}
	e := r.Endpoint
	for i := range e.Keys {
		if i < len(r.Secrets) {
			e.Keys[i].Secret = r.Secrets[i]
		}
	}
	return &e, nil
}

func encodeTenant(t *tenants.Tenant) ([]byte, error)      { return encode(t) }
func decodeTenant(b []byte) (*tenants.Tenant, error)      { return decode[tenants.Tenant](b) }
func encodeEventType(t *events.EventType) ([]byte, error) { return encode(t) }
func decodeEventType(b []byte) (*events.EventType, error) { return decode[events.EventType](b) }
func decodeAttempt(b []byte) (*delivery.Attempt, error)   { return decode[delivery.Attempt](b) }
func encodeIdem(r *idemRec) ([]byte, error)               { return encode(r) }
func decodeIdem(b []byte) (*idemRec, error)               { return decode[idemRec](b) }

// Deliveries and attempts are written on every attempt, so they skip encoding/json: recjson writes the same bytes.

func encodeDelivery(d *delivery.Delivery) ([]byte, error) {
	b, err := recjson.AppendDelivery(nil, d)
	if err != nil {
		return nil, fmt.Errorf("boltstore: encode %T: %w", d, err)
	}
	return b, nil
}

func encodeAttempt(a *delivery.Attempt) ([]byte, error) {
	b, err := recjson.AppendAttempt(nil, a)
	if err != nil {
		return nil, fmt.Errorf("boltstore: encode %T: %w", a, err)
	}
	return b, nil
}

// deliveryRec is a delivery as stored, with what the API form does not show: Deferred is set while its due time was
// set by a Release (held back unspent: rate limit, slow endpoint) rather than by a retry's backoff, so that a change
// of its endpoint's rate re-times it (retime.go). Every other write of the record clears it.
type deliveryRec struct {
	delivery.Delivery
	Deferred bool `json:"deferred,omitempty"`
}

// encodeDeferred writes what encode(&deliveryRec{Delivery: *d, Deferred: true}) would: the delivery's object with
// the flag as its last field (a Release writes one whenever an endpoint's rate limit holds tasks back).
func encodeDeferred(d *delivery.Delivery) ([]byte, error) {
	b, err := recjson.AppendDelivery(nil, d)
	if err != nil {
		return encode(&deliveryRec{Delivery: *d, Deferred: true}) // its error, worded as encode words it
	}
	return append(b[:len(b)-1], `,"deferred":true}`...), nil
}

// decodeDelivery reads a delivery record, a deferred one included (its flag dropped).
func decodeDelivery(b []byte) (*delivery.Delivery, error) {
	d, _, err := decodeDeliveryRec(b)
	return d, err
}

// decodeDeliveryRec reads a delivery record and its deferred flag: without encoding/json when it is as recjson and
// encodeDeferred write it (one copy of b, which bbolt owns, that the strings share).
func decodeDeliveryRec(b []byte) (*delivery.Delivery, bool, error) {
	d := new(delivery.Delivery)
	switch rest, ok := recjson.ReadDelivery(string(b), d); {
	case ok && rest == "}":
		return d, false, nil
	case ok && rest == `,"deferred":true}`:
		return d, true, nil
	}
	r, err := decode[deliveryRec](b)
	if err != nil {
		return nil, false, err
	}
	return &r.Delivery, r.Deferred, nil
}

// A message is stored as its JSON without Data, a newline, then Data's raw bytes: the producer's bytes are what
// profiles render and sign, so they must come back exactly as given (json.Marshal would compact and HTML-escape them).
// Encoded JSON never holds a raw newline, so the first one is the separator.
func encodeMessage(m *delivery.Message) ([]byte, error) {
	head := *m
	head.Data = nil
	// One allocation for head and data: a head is about 250 bytes, and AppendMessage grows the slice if this one's
	// strings make it longer.
	out, err := recjson.AppendMessage(make([]byte, 0, 512+len(m.Data)), &head)
	if err != nil {
		return nil, fmt.Errorf("boltstore: encode %T: %w", m, err)
	}
	out = append(out, '\n')
	return append(out, m.Data...), nil
}

func decodeMessage(b []byte) (*delivery.Message, error) {
	head, data, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return nil, fmt.Errorf("boltstore: decode message: no data separator")
	}
	m := new(delivery.Message)
	if err := msgjson.Decode(string(head), m); err != nil {
		return nil, fmt.Errorf("boltstore: decode message: %w", err)
	}
	if len(data) > 0 {
		m.Data = bytes.Clone(data) // b belongs to a bbolt transaction
	}
	return m, nil
}
