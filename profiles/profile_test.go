package profiles_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/profiles"
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
		p     profiles.Profile
		order []string
		want  map[string]any
	}{
		{profiles.Standard, []string{"type", "timestamp", "data"}, map[string]any{
			"type": "device.status_changed", "timestamp": "2026-04-15T12:00:00.123456789Z",
		}},
		{profiles.OpenMDM, []string{"id", "event", "timestamp", "data"}, map[string]any{
			"id": m.ID.UUID(), "event": "device.status_changed", "timestamp": "2026-04-15T12:00:00.123Z",
		}},
		{profiles.Mender, []string{"id", "type", "data", "time"}, map[string]any{
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

// builtins are the profiles this package declares; tests register others.
var builtins = []profiles.Profile{profiles.Standard, profiles.OpenMDM, profiles.Mender}

func TestProfileBodyEscapesType(t *testing.T) {
	for _, typ := range []string{"a\"b", `a\b`, "a\nb\t\r\x01", "bad\xffutf8", "ünï.cödé", "a\u2028b"} {
		for _, p := range builtins {
			m := &signing.Message{Type: typ}
			body := p.AppendBody(nil, m)
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s: type %q renders invalid JSON %s: %v", p.Name(), typ, body, err)
			}
			field, want := "type", typ
			switch p {
			case profiles.OpenMDM:
				field = "event"
			case profiles.Mender:
				want = profiles.MenderType(typ)
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
		if got := profiles.MenderType(in); got != want {
			t.Errorf("MenderType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStandardHeadersPerAttempt(t *testing.T) {
	m := testMessage()
	k, _ := signing.ParseKey("whsec_" + b64(32, 7))
	body := profiles.Standard.AppendBody(nil, m)
	h := http.Header{}
	h.Add(signing.HeaderSignature, "v1,stale")
	h.Set("X-Other", "kept")
	first := time.Unix(1776254400, 0)
	profiles.Standard.SetHeaders(h, m, body, first, []signing.Key{k})
	if got := h.Values(signing.HeaderSignature); len(got) != 1 || got[0] != mustSign(t, m.ID.String(), first.Unix(), body, k) {
		t.Fatalf("Webhook-Signature = %q", got)
	}
	if h.Get(signing.HeaderID) != m.ID.String() || h.Get(signing.HeaderTimestamp) != "1776254400" || h.Get("X-Other") != "kept" {
		t.Fatalf("headers %v", h)
	}
	retry := first.Add(90 * time.Second)
	profiles.Standard.SetHeaders(h, m, body, retry, []signing.Key{k})
	if h.Get(signing.HeaderTimestamp) != "1776254490" || h.Get(signing.HeaderID) != m.ID.String() {
		t.Fatalf("a retry keeps the id and gets a new timestamp; got %v", h)
	}

	// No keys: no signature header at all, rather than an empty one, and an error: standard never sends unsigned.
	if err := profiles.Standard.SetHeaders(h, m, body, retry, nil); !errors.Is(err, signing.ErrNoKeys) {
		t.Fatalf("SetHeaders with no keys = %v, want ErrNoKeys", err)
	}
	if _, ok := h[signing.HeaderSignature]; ok {
		t.Fatalf("Webhook-Signature = %q with no keys, want none", h.Values(signing.HeaderSignature))
	}
}

func TestOpenMDMHeaders(t *testing.T) {
	m := testMessage()
	body := profiles.OpenMDM.AppendBody(nil, m)
	newKey, _ := profiles.OpenMDM.ParseKey("new-secret-0123456789")
	oldKey, _ := profiles.OpenMDM.ParseKey("old-secret-0123456789")
	h := http.Header{}
	profiles.OpenMDM.SetHeaders(h, m, body, time.Now(), []signing.Key{newKey, oldKey})
	want := "sha256=" + hexHMAC("new-secret-0123456789", body)
	if got := h.Values(profiles.HeaderOpenMDMSignature); len(got) != 1 || got[0] != want {
		t.Fatalf("X-OpenMDM-Signature = %q, want %q (the first key signs)", got, want)
	}
	if h.Get(profiles.HeaderOpenMDMDelivery) != m.ID.UUID() || h.Get(profiles.HeaderOpenMDMEvent) != m.Type ||
		h.Get(profiles.HeaderOpenMDMTimestamp) != "2026-04-15T12:00:00.123Z" {
		t.Fatalf("headers %v", h)
	}
	// The event's timestamp, not the attempt's: identical on a retry.
	h2 := http.Header{}
	profiles.OpenMDM.SetHeaders(h2, m, body, time.Now().Add(time.Hour), []signing.Key{newKey})
	if h2.Get(profiles.HeaderOpenMDMTimestamp) != h.Get(profiles.HeaderOpenMDMTimestamp) {
		t.Fatal("X-OpenMDM-Timestamp changed between attempts")
	}
	// Without an HMAC key, a stale signature is removed.
	ed, _ := signing.ParsePrivateKey(svixKey)
	profiles.OpenMDM.SetHeaders(h, m, body, time.Now(), []signing.Key{ed})
	if _, ok := h[profiles.HeaderOpenMDMSignature]; ok {
		t.Fatal("X-OpenMDM-Signature left in place without an HMAC key")
	}
}

func TestMenderHeadersDropped(t *testing.T) {
	h := http.Header{}
	k, _ := profiles.Mender.ParseKey("deadbeef")
	profiles.Mender.SetHeaders(h, nil, []byte("{}"), time.Now(), []signing.Key{k})
	if h.Get(profiles.HeaderMenderSignature) == "" {
		t.Fatal("no X-Men-Signature with a key")
	}
	profiles.Mender.SetHeaders(h, nil, []byte("{}"), time.Now(), nil)
	for _, name := range []string{profiles.HeaderMenderSignature, profiles.HeaderMenderSignatureLegacy, profiles.HeaderMenderAlgorithm} {
		if _, ok := h[name]; ok {
			t.Errorf("%s still set without a key", name)
		}
	}
}

func TestLookup(t *testing.T) {
	for name, want := range map[string]profiles.Profile{"": profiles.Standard, "standard": profiles.Standard, "openmdm": profiles.OpenMDM, "mender": profiles.Mender} {
		p, err := profiles.Lookup(name)
		if err != nil || p != want {
			t.Errorf("Lookup(%q) = %v, %v", name, p, err)
		}
	}
	_, err := profiles.Lookup("svix")
	if !errors.Is(err, profiles.ErrUnknown) || !strings.Contains(err.Error(), "want standard, ") {
		t.Fatalf("Lookup(svix) = %v", err)
	}
	var names []string
	for _, p := range profiles.All() {
		names = append(names, p.Name())
	}
	// Other tests of this package register more profiles; the built-ins come default first, then by name.
	if got := strings.Join(names, ","); !strings.HasPrefix(got, "standard,") || !strings.Contains(got, ",mender,openmdm") {
		t.Fatalf("All() = %v", names)
	}
	for _, p := range profiles.All() {
		if p.MetricLabel() == "" || p.HeaderPrefix() == "" || len(p.Algorithms()) == 0 {
			t.Errorf("%s: empty declaration", p.Name())
		}
	}
}

func TestRegisterRefuses(t *testing.T) {
	if err := profiles.Register(profiles.Mender); !errors.Is(err, profiles.ErrRegistered) {
		t.Errorf("Register(Mender) again = %v, want ErrRegistered", err)
	}
	if err := profiles.Register(renamed{profiles.Standard, "Bad Name"}); !errors.Is(err, profiles.ErrRegistered) {
		t.Errorf("Register(\"Bad Name\") = %v, want ErrRegistered", err)
	}
	if err := profiles.Register(prefixed{renamed{profiles.Standard, "upper-prefix"}}); !errors.Is(err, profiles.ErrRegistered) {
		t.Errorf("Register with header prefix X-Up- = %v, want ErrRegistered", err)
	}
	if _, err := profiles.Lookup("Bad Name"); !errors.Is(err, profiles.ErrUnknown) {
		t.Errorf("a refused profile was registered: %v", err)
	}
}

// renamed is a profile under another name.
type renamed struct {
	profiles.Profile
	name string
}

func (r renamed) Name() string { return r.name }

// prefixed declares a header prefix that is not lower case.
type prefixed struct{ renamed }

func (prefixed) HeaderPrefix() string { return "X-Up-" }

func TestPolicies(t *testing.T) {
	netErr := errors.New("connection refused")
	tests := []struct {
		code                     int
		err                      error
		standard, openmdm, mendr profiles.Verdict
	}{
		{0, netErr, profiles.Retry, profiles.Retry, profiles.Retry},
		{200, nil, profiles.Delivered, profiles.Delivered, profiles.Delivered},
		{204, nil, profiles.Delivered, profiles.Delivered, profiles.Delivered},
		{301, nil, profiles.Retry, profiles.Retry, profiles.Retry},
		{400, nil, profiles.Retry, profiles.Fail, profiles.Retry},
		{404, nil, profiles.Retry, profiles.Fail, profiles.Retry},
		{410, nil, profiles.Gone, profiles.Gone, profiles.Gone},
		{429, nil, profiles.Retry, profiles.Retry, profiles.Retry},
		{500, nil, profiles.Retry, profiles.Retry, profiles.Retry},
		{503, nil, profiles.Retry, profiles.Retry, profiles.Retry},
	}
	for _, tt := range tests {
		for p, want := range map[profiles.Profile]profiles.Verdict{profiles.Standard: tt.standard, profiles.OpenMDM: tt.openmdm, profiles.Mender: tt.mendr} {
			if got := p.Classify(tt.code, tt.err); got != want {
				t.Errorf("%s.Classify(%d, %v) = %v, want %v", p.Name(), tt.code, tt.err, got, want)
			}
		}
	}
}

// svixKey is a 64-byte whsk_ key (seed and public halves).
const svixKey = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="

func mustSign(t testing.TB, id string, ts int64, body []byte, keys ...signing.Key) string {
	t.Helper()
	h, err := signing.Sign(id, ts, body, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func hexHMAC(secret string, body []byte) string {
	k := signing.NewHMACKey([]byte(secret))
	return hex.EncodeToString(k.HMACSum(nil, body))
}

// Lookups take no lock and see either the old or the new registry while profiles are registered (run with -race).
func TestRegisterWhileLookingUp(t *testing.T) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if p, err := profiles.Lookup("standard"); err != nil || p != profiles.Standard {
					t.Errorf("Lookup(standard) = %v, %v", p, err)
					return
				}
				_ = profiles.All()
			}
		})
	}
	for i := range 10 {
		name := fmt.Sprintf("concurrent-%d", i)
		if err := profiles.Register(renamed{profiles.Mender, name}); err != nil && !errors.Is(err, profiles.ErrRegistered) {
			t.Error(err) // ErrRegistered: registered by an earlier run (-count)
		}
		if p, err := profiles.Lookup(name); err != nil || p.Name() != name || p.MetricLabel() != "mender" {
			t.Errorf("Lookup(%s) = %v, %v", name, p, err)
		}
	}
	close(stop)
	wg.Wait()
	all := profiles.All()
	if all[0] != profiles.Standard {
		t.Errorf("All()[0] = %s, want the default", all[0].Name())
	}
	for i := 2; i < len(all); i++ {
		if all[i-1].Name() > all[i].Name() {
			t.Errorf("All() not in name order after the default: %s before %s", all[i-1].Name(), all[i].Name())
		}
	}
}
