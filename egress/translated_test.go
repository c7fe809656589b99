package egress

import (
	"errors"
	"net/netip"
	"testing"
)

// embed builds the IPv6 address that reaches v4 through each translated or tunnelled form.
func embed(form string, v4 netip.Addr) netip.Addr {
	b4 := v4.As4()
	var b [16]byte
	switch form {
	case "nat64":
		copy(b[:], netip.MustParseAddr("64:ff9b::").AsSlice())
		copy(b[12:], b4[:])
	case "nat64-local":
		copy(b[:], netip.MustParseAddr("64:ff9b:1:abcd::").AsSlice())
		copy(b[12:], b4[:])
	case "6to4":
		b[0], b[1] = 0x20, 0x02
		copy(b[2:], b4[:])
		b[15] = 1
	case "teredo":
		copy(b[:], netip.MustParseAddr("2001:0:4136:e378:8000:63bf::").AsSlice())
		for i := range 4 {
			b[12+i] = ^b4[i]
		}
	case "mapped":
		return netip.AddrFrom16(v4.As16())
	case "compatible":
		copy(b[12:], b4[:])
	default:
		panic(form)
	}
	return netip.AddrFrom16(b)
}

// TestTranslatedAddresses: an address that embeds a metadata or unspecified IPv4 address is refused whatever the
// flags, in every form a translator, relay or the stack would turn into that address; one that embeds a private or
// loopback address is private (allowed only with AllowPrivate); one that embeds a public address is as before.
func TestTranslatedAddresses(t *testing.T) {
	inners := []struct {
		v4            string
		strict, loose bool // allowed by Policy{} / Policy{AllowPrivate: true}
	}{
		{"169.254.169.254", false, false}, // metadata (AWS, GCP, Azure, ...)
		{"100.100.100.200", false, false}, // metadata (Alibaba)
		{"0.0.0.0", false, false},         // unspecified: the local host
		{"255.255.255.255", false, false}, // broadcast
		{"224.0.0.1", false, false},       // multicast
		{"127.0.0.1", false, true},        // loopback: private
		{"10.0.0.1", false, true},         // private
		{"169.254.1.1", false, true},      // link-local
		{"100.64.0.1", false, true},       // CGNAT
	}
	for _, form := range []string{"nat64", "nat64-local", "6to4", "teredo", "mapped", "compatible"} {
		for _, in := range inners {
			a := embed(form, netip.MustParseAddr(in.v4))
			for _, pc := range []struct {
				p    Policy
				want bool
			}{
				{Policy{}, in.strict},
				{Policy{AllowPrivate: true}, in.loose},
				{Policy{AllowPrivate: true, AllowHTTP: true}, in.loose},
			} {
				err := pc.p.Allowed(a)
				if (err == nil) != pc.want {
					t.Errorf("%s %s: %+v.Allowed(%s) = %v, want allowed=%v", form, in.v4, pc.p, a, err, pc.want)
				}
				if err != nil && !errors.Is(err, ErrForbiddenAddress) {
					t.Errorf("%s: %v, want ErrForbiddenAddress", a, err)
				}
				// The dial-time check agrees.
				cerr := pc.p.Control("tcp6", netip.AddrPortFrom(a, 443).String(), nil)
				if (cerr == nil) != pc.want {
					t.Errorf("%s %s: %+v.Control(%s) = %v, want allowed=%v", form, in.v4, pc.p, a, cerr, pc.want)
				}
			}
		}
	}
	// A public inner address keeps its old answers: NAT64, 6to4 and Teredo of a public address are public; the
	// deprecated IPv4-compatible form of one stays reserved (private).
	for form, want := range map[string][2]bool{
		"nat64": {true, true}, "6to4": {true, true}, "teredo": {true, true}, "mapped": {true, true},
		"compatible": {false, true},
	} {
		a := embed(form, netip.MustParseAddr("8.8.8.8"))
		if got := (Policy{}.Allowed(a) == nil); got != want[0] {
			t.Errorf("%s of 8.8.8.8 (%s): strict allowed=%v, want %v", form, a, got, want[0])
		}
		if got := (Policy{AllowPrivate: true}.Allowed(a) == nil); got != want[1] {
			t.Errorf("%s of 8.8.8.8 (%s): loose allowed=%v, want %v", form, a, got, want[1])
		}
	}
}

// TestTranslatedMetadataURL is the reported case: with --allow-private-endpoints, http://[64:ff9b::a9fe:a9fe]/ is
// refused at registration (Resolve) and at dial time (Control).
func TestTranslatedMetadataURL(t *testing.T) {
	p := Policy{AllowPrivate: true, AllowHTTP: true}
	u, err := p.CheckURL("http://[64:ff9b::a9fe:a9fe]/")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(t.Context(), u.Hostname()); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("Resolve: %v, want ErrForbiddenAddress", err)
	}
	if err := p.Control("tcp6", "[64:ff9b::a9fe:a9fe]:80", nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("Control: %v, want ErrForbiddenAddress", err)
	}
}
