package ids

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// oracle is the rule Valid implements, as the regexp it replaced.
var oracle = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func TestValid(t *testing.T) {
	for _, s := range []string{"", "a", "ep_01", "msg_0123456789abcdefghjkmnpqrs", strings.Repeat("x", 64),
		strings.Repeat("x", 65), "a b", "a|b", "a{b}", "é", "a\x00", "A-Z_09", "-", "_"} {
		if got, want := Valid(s), oracle.MatchString(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
	if id := New("msg"); !Valid(id) {
		t.Errorf("New made %q, which Valid refuses", id)
	}
}

var idRE = regexp.MustCompile(`^dlv_[0-7][0-9a-hjkmnp-tv-z]{25}$`)

// TestNewSortsInOrderMade makes ids faster than the clock ticks, so many share a millisecond: they must still sort
// in the order they were made (uuid.NewV7's sub-millisecond sequence), and none may repeat.
func TestNewSortsInOrderMade(t *testing.T) {
	made := make([]string, 20000)
	for i := range made {
		made[i] = New("dlv")
		if !idRE.MatchString(made[i]) {
			t.Fatalf("New = %q: want dlv_ + 26 lower-case Crockford digits", made[i])
		}
	}
	for i := 1; i < len(made); i++ {
		if made[i-1] >= made[i] {
			t.Fatalf("id %d (%s) does not sort after id %d (%s)", i, made[i], i-1, made[i-1])
		}
	}
}

// TestNewConcurrent: goroutines making ids at once never collide.
func TestNewConcurrent(t *testing.T) {
	const workers, each = 4, 2000
	var mu sync.Mutex
	seen := make(map[string]bool, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := make([]string, each)
			for i := range local {
				local[i] = New("ep")
			}
			if !slices.IsSorted(local) {
				t.Error("one goroutine's ids do not sort in the order it made them")
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate id %s", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
}

func TestNewUUIDIsVersion7(t *testing.T) {
	u := NewUUID()
	if u[6]>>4 != 7 || u[8]>>6 != 2 {
		t.Fatalf("NewUUID = %x: want version 7, RFC 9562 variant", u)
	}
}

func TestBase32(t *testing.T) {
	var seq, zero, full [16]byte
	for i := range seq {
		seq[i] = byte(i + 1)
		full[i] = 0xff
	}
	for _, c := range []struct {
		u    [16]byte
		want string
	}{
		// The form ids and message ids have always had: stored ids and receivers' dedup keys depend on it.
		{seq, "01081g81860w40j2gb1g6gw3rg"},
		{
			[16]byte{0x01, 0x9d, 0x91, 0x03, 0x36, 0x00, 0x7d, 0x10, 0x8d, 0xc1, 0xec, 0x2c, 0x5d, 0xb2, 0x87, 0xa8},
			"01kp8g6dg0fm88vgfc5hev51x8", // a message id of 2026-04-15T12:00:00Z from before uuid.NewV7
		},
		{zero, "00000000000000000000000000"},
		{full, "7zzzzzzzzzzzzzzzzzzzzzzzzz"},
	} {
		if got := string(AppendBase32([]byte("x"), c.u)); got != "x"+c.want {
			t.Errorf("AppendBase32(%x) = %q, want x%s", c.u, got, c.want)
		}
		for _, s := range []string{c.want, strings.ToUpper(c.want)} {
			if back, err := ParseBase32(s); err != nil || back != c.u {
				t.Errorf("ParseBase32(%q) = %x, %v; want %x", s, back, err, c.u)
			}
		}
	}
}

// TestBase32SortsAsBytes: the digits sort as the 128 bits do, including steps that carry across digit boundaries.
func TestBase32SortsAsBytes(t *testing.T) {
	var u [16]byte
	var texts []string
	for i := range 500 {
		ms := uint64(1_767_225_600_000 + i*i*37 + i)
		for b := range 6 {
			u[b] = byte(ms >> (40 - 8*b))
		}
		u[15] = byte(255 - i) // lower bits going down must not matter
		texts = append(texts, string(AppendBase32(nil, u)))
	}
	if !slices.IsSorted(texts) {
		t.Fatal("base32 of increasing values does not sort in increasing order")
	}
}

func TestParseBase32Errors(t *testing.T) {
	valid := string(AppendBase32(nil, NewUUID()))
	for _, s := range []string{
		"",
		valid[:25],
		valid + "0",
		"8" + valid[1:],                // a bit past the 128 set
		"0" + valid[1:25] + "u",        // 'u' is not a Crockford digit
		"0" + valid[1:25] + ".",        // nor is '.'
		"0" + valid[1:24] + "\xff\xff", // nor are bytes past ASCII
	} {
		if _, err := ParseBase32(s); !errors.Is(err, ErrBase32) {
			t.Errorf("ParseBase32(%q) = %v, want ErrBase32", s, err)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"ep_01", "", "a b", strings.Repeat("z", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid(s), oracle.MatchString(s); got != want {
			t.Fatalf("Valid(%q) = %v, want %v", s, got, want)
		}
	})
}
