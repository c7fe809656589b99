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
	base := time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		now := base.Add(time.Duration(i) * 7919 * time.Millisecond)
		id := signing.NewMessageID(now)
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
		if !id.Time().Equal(now) {
			t.Fatalf("Time() = %v, want %v", id.Time(), now)
		}
		if u := id.UUID(); !uuidRE.MatchString(u) {
			t.Fatalf("UUID() = %q: not a canonical UUIDv7", u)
		}
	}
}

func TestMessageIDExtremes(t *testing.T) {
	var zero, full signing.MessageID
	for i := range full {
		full[i] = 0xff
	}
	for _, id := range []signing.MessageID{zero, full} {
		back, err := signing.ParseMessageID(id.String())
		if err != nil || back != id {
			t.Fatalf("round trip of %x: %v, %v", id, back, err)
		}
	}
	if s := full.String(); s != "msg_7zzzzzzzzzzzzzzzzzzzzzzzzz" {
		t.Fatalf("all-ones id = %s", s)
	}
	if u := full.UUID(); u != "ffffffff-ffff-ffff-ffff-ffffffffffff" {
		t.Fatalf("UUID() = %s", u)
	}
}

func TestMessageIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids, uuids []string
	for i := range 500 {
		// Strictly increasing milliseconds, including steps that carry across digit boundaries.
		id := signing.NewMessageID(base.Add(time.Duration(i*i*37+i) * time.Millisecond))
		ids = append(ids, id.String())
		uuids = append(uuids, id.UUID())
	}
	if !slices.IsSorted(ids) {
		t.Fatal("ids made at increasing times do not sort in time order")
	}
	if !slices.IsSorted(uuids) {
		t.Fatal("UUIDs made at increasing times do not sort in time order")
	}
	a := signing.NewMessageID(base)
	b := signing.NewMessageID(base)
	if a == b {
		t.Fatal("two ids in the same millisecond are equal: the random part is missing")
	}
}

func TestParseMessageIDErrors(t *testing.T) {
	valid := signing.NewMessageID(time.Now()).String()
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
