package signing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// keyOrder returns the top-level keys of a JSON object in the order they appear.
func keyOrder(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("body %s is not a JSON object", body)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func testMessage() *signing.Message {
	return &signing.Message{
		ID:        signing.NewMessageID(),
		Type:      "device.status_changed",
		Timestamp: time.Date(2026, 4, 15, 14, 0, 0, 123456789, time.FixedZone("CEST", 2*3600)),
		Data:      json.RawMessage(`{"id":"d1","status":"accepted"}`),
	}
}

func TestProfileBodies(t *testing.T) {
	m := testMessage()
	tests := []struct {
		p     signing.Profile
		order []string
		want  map[string]any
	}{
		{signing.Standard, []string{"type", "timestamp", "data"}, map[string]any{
			"type": "device.status_changed", "timestamp": "2026-04-15T12:00:00.123456789Z",
		}},
		{signing.OpenMDM, []string{"id", "event", "timestamp", "data"}, map[string]any{
			"id": m.ID.UUID(), "event": "device.status_changed", "timestamp": "2026-04-15T12:00:00.123Z",
		}},
		{signing.Mender, []string{"id", "type", "data", "time"}, map[string]any{
			"id": m.ID.UUID(), "type": "device-status-changed", "time": "2026-04-15T12:00:00.123456789Z",
		}},
	}
	for _, tt := range tests {
		body := tt.p.AppendBody([]byte("keep"), m)
		if !bytes.HasPrefix(body, []byte("keep")) {
			t.Fatalf("%s: AppendBody dropped dst", tt.p.Name())
		}
		body = body[4:]
		if got := keyOrder(t, body); strings.Join(got, ",") != strings.Join(tt.order, ",") {
			t.Errorf("%s: key order %v, want %v", tt.p.Name(), got, tt.order)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v", tt.p.Name(), err)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", tt.p.Name(), k, got[k], v)
			}
		}
		if !strings.Contains(string(body), `"data":{"id":"d1","status":"accepted"}`) {
			t.Errorf("%s: data not copied verbatim: %s", tt.p.Name(), body)
		}
		// Rendering is deterministic: a retry signs the same bytes.
		if again := tt.p.AppendBody(nil, m); !bytes.Equal(again, body) {
			t.Errorf("%s: second rendering differs", tt.p.Name())
		}
	}
}

func TestProfileBodyEscapesType(t *testing.T) {
	for _, typ := range []string{"a\"b", `a\b`, "a\nb\t\r\x01", "bad\xffutf8", "ünï.cödé", "a\u2028b"} {
		for _, p := range signing.Profiles() {
			m := &signing.Message{Type: typ}
			body := p.AppendBody(nil, m)
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s: type %q renders invalid JSON %s: %v", p.Name(), typ, body, err)
			}
			field, want := "type", typ
			switch p {
			case signing.OpenMDM:
				field = "event"
			case signing.Mender:
				want = signing.MenderType(typ)
			}
			want = strings.ToValidUTF8(want, "\ufffd")
			if v[field] != want {
				t.Errorf("%s: %s = %q, want %q", p.Name(), field, v[field], want)
			}
			if v["data"] != nil {
				t.Errorf("%s: nil Data renders %v, want null", p.Name(), v["data"])
			}
		}
	}
}

func TestMenderType(t *testing.T) {
	for in, want := range map[string]string{
		"device.status_changed": "device-status-changed",
		"device.provisioned":    "device-provisioned",
		"device.decommissioned": "device-decommissioned",
		"device-status-changed": "device-status-changed",
		"a_b.c_d":               "a-b-c-d",
		"plain":                 "plain",
		"":                      "",
	} {
		if got := signing.MenderType(in); got != want {
			t.Errorf("MenderType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStandardHeadersPerAttempt(t *testing.T) {
	m := testMessage()
	k, _ := signing.ParseKey("whsec_" + b64(32, 7))
	body := signing.Standard.AppendBody(nil, m)
	h := http.Header{}
	h.Add(signing.HeaderSignature, "v1,stale")
	h.Set("X-Other", "kept")
	first := time.Unix(1776254400, 0)
	signing.Standard.SetHeaders(h, m, body, first, []signing.Key{k})
	if got := h.Values(signing.HeaderSignature); len(got) != 1 || got[0] != mustSign(t, m.ID.String(), first.Unix(), body, k) {
		t.Fatalf("Webhook-Signature = %q", got)
	}
	if h.Get(signing.HeaderID) != m.ID.String() || h.Get(signing.HeaderTimestamp) != "1776254400" || h.Get("X-Other") != "kept" {
		t.Fatalf("headers %v", h)
	}
	retry := first.Add(90 * time.Second)
	signing.Standard.SetHeaders(h, m, body, retry, []signing.Key{k})
	if h.Get(signing.HeaderTimestamp) != "1776254490" || h.Get(signing.HeaderID) != m.ID.String() {
		t.Fatalf("a retry keeps the id and gets a new timestamp; got %v", h)
	}

	// No keys: no signature header at all, rather than an empty one.
	signing.Standard.SetHeaders(h, m, body, retry, nil)
	if _, ok := h[signing.HeaderSignature]; ok {
		t.Fatalf("Webhook-Signature = %q with no keys, want none", h.Values(signing.HeaderSignature))
	}
}

func TestOpenMDMHeaders(t *testing.T) {
	m := testMessage()
	body := signing.OpenMDM.AppendBody(nil, m)
	newKey, _ := signing.OpenMDM.ParseKey("new-secret-0123456789")
	oldKey, _ := signing.OpenMDM.ParseKey("old-secret-0123456789")
	h := http.Header{}
	signing.OpenMDM.SetHeaders(h, m, body, time.Now(), []signing.Key{newKey, oldKey})
	want := "sha256=" + hexHMAC("new-secret-0123456789", body)
	if got := h.Values(signing.HeaderOpenMDMSignature); len(got) != 1 || got[0] != want {
		t.Fatalf("X-OpenMDM-Signature = %q, want %q (the first key signs)", got, want)
	}
	if h.Get(signing.HeaderOpenMDMDelivery) != m.ID.UUID() || h.Get(signing.HeaderOpenMDMEvent) != m.Type ||
		h.Get(signing.HeaderOpenMDMTimestamp) != "2026-04-15T12:00:00.123Z" {
		t.Fatalf("headers %v", h)
	}
	// The event's timestamp, not the attempt's: identical on a retry.
	h2 := http.Header{}
	signing.OpenMDM.SetHeaders(h2, m, body, time.Now().Add(time.Hour), []signing.Key{newKey})
	if h2.Get(signing.HeaderOpenMDMTimestamp) != h.Get(signing.HeaderOpenMDMTimestamp) {
		t.Fatal("X-OpenMDM-Timestamp changed between attempts")
	}
	// Without an HMAC key, a stale signature is removed.
	ed, _ := signing.ParsePrivateKey(svixKey)
	signing.OpenMDM.SetHeaders(h, m, body, time.Now(), []signing.Key{ed})
	if _, ok := h[signing.HeaderOpenMDMSignature]; ok {
		t.Fatal("X-OpenMDM-Signature left in place without an HMAC key")
	}
}

func TestMenderHeadersDropped(t *testing.T) {
	h := http.Header{}
	k, _ := signing.Mender.ParseKey("deadbeef")
	signing.Mender.SetHeaders(h, nil, []byte("{}"), time.Now(), []signing.Key{k})
	if h.Get(signing.HeaderMenderSignature) == "" {
		t.Fatal("no X-Men-Signature with a key")
	}
	signing.Mender.SetHeaders(h, nil, []byte("{}"), time.Now(), nil)
	for _, name := range []string{signing.HeaderMenderSignature, signing.HeaderMenderSignatureLegacy, signing.HeaderMenderAlgorithm} {
		if _, ok := h[name]; ok {
			t.Errorf("%s still set without a key", name)
		}
	}
}

func TestProfileByName(t *testing.T) {
	for name, want := range map[string]signing.Profile{"": signing.Standard, "standard": signing.Standard, "openmdm": signing.OpenMDM, "mender": signing.Mender} {
		p, err := signing.ProfileByName(name)
		if err != nil || p != want {
			t.Errorf("ProfileByName(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := signing.ProfileByName("svix"); !errors.Is(err, signing.ErrProfile) {
		t.Fatalf("ProfileByName(svix) = %v", err)
	}
	var names []string
	for _, p := range signing.Profiles() {
		names = append(names, p.Name())
	}
	if strings.Join(names, ",") != "standard,openmdm,mender" {
		t.Fatalf("Profiles() = %v", names)
	}
}
