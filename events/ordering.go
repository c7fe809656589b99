package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// Ordering keys: an event's deliveries to each endpoint go in publish order among the events with the same key
// (delivery.MaxOrderingKey). The producer gives the key, or the event type's catalogue entry names where in the data
// it is (OrderingKeyPath, a JSON pointer), so that a console publishing device-shaped events orders them per device
// without sending a new field.

// keyPathTTL bounds how long a replica uses a catalogue's ordering key paths it has read: a change made through
// another replica applies to its publishes within that time (through this one, at once).
const keyPathTTL = 5 * time.Second

// MaxKeyPath bounds an ordering key path, in bytes.
const MaxKeyPath = 256

func validOrderingKey(k string) error {
	if k == "" {
		return nil
	}
	if len(k) > delivery.MaxOrderingKey {
		return &FieldError{Field: "ordering_key", Message: fmt.Sprintf("must be 1 to %d bytes", delivery.MaxOrderingKey)}
	}
	for i := range len(k) {
		if k[i] < 0x20 || k[i] > 0x7e {
			return &FieldError{Field: "ordering_key", Message: "must be printable ASCII"}
		}
	}
	return nil
}

// validPointer checks a JSON pointer (RFC 6901): empty, or "/"-led reference tokens with "~" escaped as ~0 or ~1.
func validPointer(p string) error {
	if p == "" {
		return nil
	}
	bad := &FieldError{Field: "ordering_key_path", Message: fmt.Sprintf("must be a JSON pointer such as /device_id, at most %d bytes", MaxKeyPath)}
	if len(p) > MaxKeyPath || p[0] != '/' {
		return bad
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || p[i+1] != '0' && p[i+1] != '1') {
			return bad
		}
	}
	return nil
}

// orderingKey sets m's ordering key from its type's OrderingKeyPath when the producer gave none. A path the data
// does not have leaves the event without a key; a value there that is not a string or a number, or not a valid key,
// is refused (field names the event in a batch).
func (s *Service) orderingKey(ctx context.Context, m *delivery.Message, field string) error {
	if m.OrderingKey != "" {
		return nil
	}
	path, err := s.keyPaths.path(ctx, s.store, m.Type)
	if err != nil {
		return fmt.Errorf("publish: ordering key path: %w", err)
	}
	if path == "" {
		return nil
	}
	v, ok := lookupPointer(m.Data, path)
	if !ok {
		return nil
	}
	var k string
	switch v := v.(type) {
	case string:
		k = v
	case json.Number:
		k = v.String()
	default:
		return &FieldError{Field: field + "data", Message: fmt.Sprintf("%s (the type's ordering_key_path) must be a string or a number", path)}
	}
	if err := validOrderingKey(k); err != nil || k == "" {
		return &FieldError{Field: field + "data", Message: fmt.Sprintf("%s (the type's ordering_key_path) must hold 1 to %d printable ASCII bytes", path, delivery.MaxOrderingKey)}
	}
	m.OrderingKey = k
	return nil
}

// lookupPointer returns the value at JSON pointer p in data, and whether there is one.
func lookupPointer(data []byte, p string) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || tok != strconv.Itoa(i) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// keyPathCache keeps the catalogue's ordering key paths for keyPathTTL, so a publish reads the catalogue at most that
// often; between reloads a publish reads them without a lock.
type keyPathCache struct {
	mu  sync.Mutex // held while reloading
	cur atomic.Pointer[keyPaths]
}

type keyPaths struct {
	paths  map[string]string // event type → path; only types that have one
	loaded time.Time
}

func (c *keyPathCache) forget() { c.cur.Store(nil) }

func (c *keyPathCache) path(ctx context.Context, st Store, typ string) (string, error) {
	if kp := c.cur.Load(); kp != nil && time.Since(kp.loaded) <= keyPathTTL {
		return kp.paths[typ], nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kp := c.cur.Load(); kp != nil && time.Since(kp.loaded) <= keyPathTTL {
		return kp.paths[typ], nil
	}
	kp := &keyPaths{paths: map[string]string{}, loaded: time.Now()}
	after := ""
	for {
		page, err := st.ListEventTypes(ctx, after, 500)
		if err != nil {
			return "", err
		}
		for _, t := range page {
			if t.OrderingKeyPath != "" {
				kp.paths[t.Name] = t.OrderingKeyPath
			}
		}
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].Name
	}
	c.cur.Store(kp)
	return kp.paths[typ], nil
}

// Unblock ends the hold of tenant's blocked delivery on its ordering key (delivery.Unblocker): with retry the delivery
// goes again, first of its key, with a fresh retry schedule; without, the next delivery of its key goes. A queue that
// cannot hold keys answers delivery.ErrNotBlocked.
func (s *Service) Unblock(ctx context.Context, tenantID, deliveryID string, retry bool) (*delivery.Delivery, error) {
	u, ok := s.cfg.Queue.(delivery.Unblocker)
	if !ok {
		return nil, fmt.Errorf("unblock %s: %w", deliveryID, delivery.ErrNotBlocked)
	}
	d, err := u.Unblock(ctx, tenantID, deliveryID, retry, s.cfg.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("unblock %s: %w", deliveryID, err)
	}
	s.wake()
	return d, nil
}
