package profiles_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// Render one message under the Mender profile: the body and the headers Mender's receivers expect.
func ExampleLookup() {
	var id signing.MessageID // normally signing.NewMessageID()
	m := &signing.Message{
		ID:        id,
		Type:      "device.status_changed",
		Timestamp: time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC),
		Data:      json.RawMessage(`{"id":"d1","status":"accepted"}`),
	}
	p, _ := profiles.Lookup("mender")
	key, _ := p.ParseKey("deadbeef")
	body := p.AppendBody(nil, m)
	h := http.Header{}
	p.SetHeaders(h, m, body, time.Now(), []signing.Key{key})
	fmt.Println(string(body))
	fmt.Println(h.Get("X-Men-Algorithm"), len(h.Get("X-Men-Signature")))
	// Output:
	// {"id":"00000000-0000-0000-0000-000000000000","type":"device-status-changed","data":{"id":"d1","status":"accepted"},"time":"2026-04-15T12:00:00Z"}
	// MEN-HMAC-SHA256-Payload 64
}
