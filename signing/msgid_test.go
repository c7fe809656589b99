package signing_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/signing"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestMessageIDRoundTrip(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	for range 1000 {
		id := signing.NewMessageID()
		s := id.String()
		if len(s) != 30 || !strings.HasPrefix(s, signing.MessageIDPrefix) || strings.Contains(s, ".") {
			t.Fatalf("String() = %q: want msg_ + 26 digits, no '.'", s)
		}
		if got := string(id.Append([]byte("x"))); got != "x"+s {
			t.Fatalf("Append = %q", got)
		}
		back, err := signing.ParseMessageID(s)
		if err != nil || back != id {
			t.Fatalf("ParseMessageID(%q) = %v, %v; want %v", s, back, err, id)
		}
		if up, err := signing.ParseMessageID("msg_" + strings.ToUpper(s[4:])); err != nil || up != id {
			t.Fatalf("upper-case digits: %v, %v", up, err)
		}
		// uuid.NewV7 may run its clock ahead by a fraction of a millisecond per 4096 ids made within one.
		if at := id.Time(); at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Fatalf("Time() = %v, want about %v", at, time.Now())
		}
		if u := id.UUID(); !uuidRE.MatchString(u) {
			t.Fatalf("UUID() = %q: not a canonical UUIDv7", u)
		}
	}
}

// TestMessageIDKnownForms pins the text forms: ids stored before the move to uuid.NewV7, and receivers' dedup keys,
// depend on them.
func TestMessageIDKnownForms(t *testing.T) {
	var zero, full, seq signing.MessageID
	for i := range full {
		full[i] = 0xff
		seq[i] = byte(i + 1)
	}
	for _, c := range []struct {
		id         signing.MessageID
		text, uuid string
	}{
		{zero, "msg_00000000000000000000000000", "00000000-0000-0000-0000-000000000000"},
		{full, "msg_7zzzzzzzzzzzzzzzzzzzzzzzzz", "ffffffff-ffff-ffff-ffff-ffffffffffff"},
		{seq, "msg_01081g81860w40j2gb1g6gw3rg", "01020304-0506-0708-090a-0b0c0d0e0f10"},
	} {
		if s := c.id.String(); s != c.text {
			t.Errorf("String() of %x = %s, want %s", c.id, s, c.text)
		}
		if u := c.id.UUID(); u != c.uuid {
			t.Errorf("UUID() of %x = %s, want %s", c.id, u, c.uuid)
		}
		back, err := signing.ParseMessageID(c.text)
		if err != nil || back != c.id {
			t.Errorf("ParseMessageID(%s) = %x, %v", c.text, back, err)
		}
	}
	// An id made by the hand-written generator this package had before uuid.NewV7, at 2026-04-15T12:00:00Z.
	old, err := signing.ParseMessageID("msg_01kp8g6dg0fm88vgfc5hev51x8")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC); !old.Time().Equal(want) {
		t.Fatalf("Time() of an older id = %v, want %v", old.Time(), want)
	}
}

// TestMessageIDSortsInOrderMade: ids made in a burst (many per millisecond) sort, as text and as UUIDs, in the order
// they were made.
func TestMessageIDSortsInOrderMade(t *testing.T) {
	var ids, uuids []string
	for range 5000 {
		id := signing.NewMessageID()
		ids = append(ids, id.String())
		uuids = append(uuids, id.UUID())
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatal("ids made one after another do not sort strictly in the order they were made")
	}
	if !slices.IsSorted(uuids) {
		t.Fatal("UUIDs made one after another do not sort in the order they were made")
	}
}

func TestParseMessageIDErrors(t *testing.T) {
	valid := signing.NewMessageID().String()
	for _, s := range []string{
		"",
		"msg_",
		valid[:29],
		valid + "0",
		"evt_" + valid[4:],
		"msg_8" + valid[5:],                // 131st bit set
		"msg_0" + valid[5:29] + "u",        // 'u' is not a Crockford digit
		"msg_0" + valid[5:29] + ".",        // nor is '.'
		"msg_0" + valid[5:28] + "\xff\xff", // nor are bytes past ASCII
	} {
		if _, err := signing.ParseMessageID(s); !errors.Is(err, signing.ErrMessageID) {
			t.Errorf("ParseMessageID(%q) = %v, want ErrMessageID", s, err)
		}
	}
}
