package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// run runs webhookd with args and stdin, returning the exit code, standard output and standard error.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestKeysNew(t *testing.T) {
	tests := []struct {
		args    []string
		profile profiles.Profile
		lines   int
	}{
		{[]string{"keys", "new"}, profiles.Standard, 1},
		{[]string{"keys", "new", "--kind", "hmac", "--profile", "standard"}, profiles.Standard, 1},
		{[]string{"keys", "new", "--kind", "ed25519"}, profiles.Standard, 2},
		{[]string{"keys", "new", "--profile", "openmdm"}, profiles.OpenMDM, 1},
		{[]string{"keys", "new", "--profile", "mender"}, profiles.Mender, 1},
	}
	for _, tt := range tests {
		code, out, errOut := run(t, "", tt.args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != tt.lines {
			t.Fatalf("%v: exit %d, out %q, err %q", tt.args, code, out, errOut)
		}
		k, err := tt.profile.ParseKey(lines[0])
		if err != nil {
			t.Fatalf("%v: %q does not parse as a %s key: %v", tt.args, lines[0], tt.profile.Name(), err)
		}
		if tt.lines == 2 && k.Public() != lines[1] {
			t.Fatalf("%v: second line %q is not the first line's public key %q", tt.args, lines[1], k.Public())
		}
		if _, again, _ := run(t, "", tt.args...); again == out {
			t.Fatalf("%v printed the same key twice", tt.args)
		}
	}
}

func TestKeysNewJSON(t *testing.T) {
	code, out, _ := run(t, "", "keys", "new", "--kind", "ed25519", "--json")
	var got struct{ Profile, Kind, Secret, Public string }
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("exit %d, out %q", code, out)
	}
	k, err := signing.ParsePrivateKey(got.Secret)
	if err != nil || got.Profile != "standard" || got.Kind != "ed25519" || k.Public() != got.Public {
		t.Fatalf("%+v: %v", got, err)
	}
	code, out, _ = run(t, "", "keys", "new", "--json", "--profile", "mender")
	var m map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
		t.Fatalf("exit %d, out %q", code, out)
	}
	if _, hasPublic := m["public"]; hasPublic || m["kind"] != "hmac" || m["profile"] != "mender" {
		t.Fatalf("mender JSON %v", m)
	}
	if _, err := profiles.Mender.ParseKey(m["secret"]); err != nil {
		t.Fatal(err)
	}
}

func TestKeysUsage(t *testing.T) {
	for _, args := range [][]string{
		{"keys"},
		{"keys", "old"},
		{"keys", "new", "--kind", "rsa"},
		{"keys", "new", "--profile", "svix"},
		{"keys", "new", "--kind", "ed25519", "--profile", "mender"},
		{"keys", "new", "--kind", "ed25519", "--profile", "openmdm"},
		{"keys", "new", "extra"},
		{"keys", "new", "--bogus"},
	} {
		code, out, errOut := run(t, "", args...)
		if code != 2 || out != "" || errOut == "" {
			t.Errorf("%v: exit %d, out %q, err %q; want 2, nothing on stdout, a message", args, code, out, errOut)
		}
	}
	if code, out, errOut := run(t, "", "keys", "new", "-h"); code != 0 || !strings.Contains(out, "--kind") || errOut != "" {
		t.Fatalf("keys new -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, _ := run(t, "", "help"); code != 0 || !strings.Contains(out, "keys") || !strings.Contains(out, "verify") {
		t.Fatalf("help does not list keys and verify: %d %q", code, out)
	}
}
