package signing

import (
	"encoding/json"
	"time"
)

// Message is one event as the header profiles (package profiles) render it, fixed at ingest. Rendering the same
// Message twice gives the same body bytes, so every retry sends (and signs) exactly what the first attempt did.
type Message struct {
	ID        MessageID
	Type      string          // full-stop-separated segments of [a-zA-Z0-9_]
	Timestamp time.Time       // when the event happened
	Data      json.RawMessage // valid JSON; nil renders as null
}

// Standard Webhooks header names, in canonical form (Go writes these; HTTP header names are case-insensitive).
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)
