package endpoints

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidEventType(t *testing.T) {
	for s, want := range map[string]bool{
		"device":                 true,
		"device.enrolled":        true,
		"device.status_changed":  true,
		"a.b.c.D_9":              true,
		"":                       false,
		".device":                false,
		"device.":                false,
		"device..enrolled":       false,
		"device-enrolled":        false,
		"device enrolled":        false,
		"device.*":               false,
		"*":                      false,
		"dévice":                 false,
		strings.Repeat("a", 255): true,
		strings.Repeat("a", 256): false,
	} {
		if got := ValidEventType(s); got != want {
			t.Errorf("ValidEventType(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidateFilters(t *testing.T) {
	ok := [][]string{{"*"}, {"device.*"}, {"device.enrolled", "app.*"}, {"a.b.*"}}
	bad := [][]string{nil, {}, {""}, {"device.*.x"}, {"*.enrolled"}, {"device*"}, {".*"}, {"**"}, {"device.**"}}
	for _, f := range ok {
		if err := ValidateFilters(f); err != nil {
			t.Errorf("ValidateFilters(%q) = %v", f, err)
		}
	}
	for _, f := range bad {
		err := ValidateFilters(f)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "events" || !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateFilters(%q) = %v, want a FieldError for events", f, err)
		}
	}
	many := make([]string, MaxFilters+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	if ValidateFilters(many) == nil {
		t.Error("too many filters accepted")
	}
}

func TestValidateHeaders(t *testing.T) {
	if err := ValidateHeaders(map[string]string{"X-Team": "blue", "Authorization": "Bearer x", "X-Tab": "a\tb"}); err != nil {
		t.Errorf("good headers refused: %v", err)
	}
	for _, h := range []map[string]string{
		{"Webhook-Id": "x"}, {"webhook-signature": "x"}, {"WEBHOOK-TIMESTAMP": "x"},
		{"X-OpenMDM-Signature": "x"}, {"x-openmdm-anything": "x"},
		{"X-Men-Signature": "x"}, {"X-Men-Algorithm": "x"},
		{"Connection": "close"}, {"Keep-Alive": "x"}, {"Proxy-Authorization": "x"}, {"Proxy-Connection": "x"},
		{"TE": "x"}, {"Trailer": "x"}, {"Transfer-Encoding": "chunked"}, {"Upgrade": "h2c"}, {"Host": "x"},
		{"Content-Length": "1"}, {"Content-Type": "text/plain"},
		{"": "x"}, {"X A": "x"}, {"X:A": "x"}, {"X\nA": "x"}, {"Ä": "x"},
		{"X-A": "a\r\nb"}, {"X-A": "a\nb"}, {"X-A": "a\x00"}, {"X-A": "a\x7f"},
		{"X-A": strings.Repeat("v", MaxHeaderValue+1)},
		{"X-A": "1", "x-a": "2"},
	} {
		err := ValidateHeaders(h)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "headers" {
			t.Errorf("ValidateHeaders(%q) = %v, want a FieldError for headers", h, err)
		}
	}
	many := map[string]string{}
	for i := range MaxHeaders + 1 {
		many[fmt.Sprintf("X-%d", i)] = "v"
	}
	if ValidateHeaders(many) == nil {
		t.Error("too many headers accepted")
	}
}

func TestValidateScalars(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		bad  bool
	}{
		{"timeout min", ValidateTimeout(MinTimeout), false},
		{"timeout max", ValidateTimeout(MaxTimeout), false},
		{"timeout small", ValidateTimeout(99 * time.Millisecond), true},
		{"timeout large", ValidateTimeout(MaxTimeout + 1), true},
		{"rate 0", ValidateRateLimit(0), false},
		{"rate 0.5", ValidateRateLimit(0.5), false},
		{"rate negative", ValidateRateLimit(-0.1), true},
		{"rate one per hour", ValidateRateLimit(MinRateLimit), false},
		{"rate max", ValidateRateLimit(MaxRateLimit), false},
		{"rate below one per hour", ValidateRateLimit(0.0002), true},
		{"rate tiny", ValidateRateLimit(1e-300), true},
		{"rate above max", ValidateRateLimit(10001), true},
		{"rate NaN", ValidateRateLimit(math.NaN()), true},
		{"grace 0", ValidateGrace(0), false},
		{"grace negative", ValidateGrace(-time.Second), true},
		{"grace huge", ValidateGrace(MaxGrace + 1), true},
		{"description", ValidateDescription(strings.Repeat("d", MaxDescription)), false},
		{"description long", ValidateDescription(strings.Repeat("d", MaxDescription+1)), true},
		{"description utf8", ValidateDescription("\xff"), true},
		{"metadata empty key", ValidateMetadata(map[string]string{"": "v"}), true},
		{"metadata long value", ValidateMetadata(map[string]string{"k": strings.Repeat("v", MaxMetadataValue+1)}), true},
		{"metadata", ValidateMetadata(map[string]string{"team": "blue"}), false},
		{"profile default", ValidateProfile("", ""), false},
		{"profile ed25519", ValidateProfile("standard", "ed25519"), false},
		{"profile openmdm ed25519", ValidateProfile("openmdm", "ed25519"), true},
		{"profile unknown", ValidateProfile("svix", ""), true},
		{"algorithm unknown", ValidateProfile("", "rsa"), true},
	} {
		if (c.err != nil) != c.bad {
			t.Errorf("%s: %v", c.name, c.err)
		}
		if c.err != nil && !errors.Is(c.err, ErrInvalid) {
			t.Errorf("%s: %v does not match ErrInvalid", c.name, c.err)
		}
	}
}

func TestRotate(t *testing.T) {
	now := time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)
	cur := Key{Secret: "cur", CreatedAt: now.Add(-time.Hour)}
	old := Key{Secret: "old", ExpiresAt: now.Add(time.Hour)}
	expired := Key{Secret: "expired", ExpiresAt: now}
	next := Key{Secret: "next", CreatedAt: now}

	got := rotate([]Key{cur, old, expired}, next, now, 24*time.Hour)
	if len(got) != 3 || got[0].Secret != "next" || got[1].Secret != "cur" || got[2].Secret != "old" {
		t.Fatalf("rotate: %+v", got)
	}
	if !got[1].ExpiresAt.Equal(now.Add(24*time.Hour)) || !got[0].ExpiresAt.IsZero() {
		t.Errorf("expiry: %+v", got)
	}
	if got := rotate([]Key{cur, old}, next, now, 0); len(got) != 2 || got[1].Secret != "old" {
		t.Errorf("grace 0: %+v", got)
	}
	var many []Key
	for i := range MaxKeys + 3 {
		many = append(many, Key{Secret: fmt.Sprint(i), ExpiresAt: now.Add(time.Hour)})
	}
	if got := rotate(many, next, now, time.Hour); len(got) != MaxKeys || got[0].Secret != "next" {
		t.Errorf("cap: %d keys", len(got))
	}
}

func TestEnforcedRate(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 0}, {-1, 0}, {math.NaN(), 0}, {math.Inf(1), 0}, {math.Inf(-1), 0},
		{1e-300, MinRateLimit}, // stored before the API bounded the field
		{0.5, 0.5},
		{1e9, MaxRateLimit},
	} {
		if got := EnforcedRate(tc.in); got != tc.want {
			t.Errorf("EnforcedRate(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
}
