package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/secrets"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

func TestSecretsRotateKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	s1 := newSecret(t)

	// Seed: one endpoint sealed under k1, one stored before any key.
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	kr1, _ := secrets.ParseKeyring(k1)
	for i, kr := range []*secrets.Keyring{kr1, nil} {
		ep := seedEndpoint(t, "acme", []string{"ep_a", "ep_b"}[i], s1)
		if err := secrets.NewEndpoints(st, kr).CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	t.Setenv(envSecretKey, "")
	t.Setenv(envSecretKeys, "")
	code, out, errOut := run(t, "", "secrets", "status", "--data", dir)
	if code != 0 || !strings.Contains(out, "2 endpoints; secrets in plaintext: 1; sealed under k1 (key not configured): 1") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	if code, _, _ := run(t, "", "secrets", "rotate-key", "--data", dir); code != 2 {
		t.Fatalf("rotate-key without keys: exit %d, want 2", code)
	}
	// Without the old key it stops, naming the endpoint it cannot open.
	t.Setenv(envSecretKeys, k2)
	code, _, errOut = run(t, "", "secrets", "rotate-key", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "ep_a") || !strings.Contains(errOut, `"k1"`) {
		t.Fatalf("rotate-key without the old key: %d %q", code, errOut)
	}
	t.Setenv(envSecretKeys, k2+","+k1)
	code, out, errOut = run(t, "", "secrets", "rotate-key", "--data", dir)
	if code != 0 || !strings.Contains(out, "re-sealed the secrets of 2 endpoints under key k2") ||
		!strings.Contains(out, "secrets in plaintext: 0; sealed under k2 (current): 2") {
		t.Fatalf("rotate-key: %d %q %q", code, out, errOut)
	}
	for _, s := range []string{k1, k2, s1} {
		if strings.Contains(out+errOut, strings.SplitN(s, ":", 2)[len(strings.SplitN(s, ":", 2))-1]) {
			t.Fatal("rotate-key printed key material or a secret")
		}
	}

	// k2 alone now opens everything.
	st, err = boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr2, _ := secrets.ParseKeyring(k2)
	for _, id := range []string{"ep_a", "ep_b"} {
		ep, err := secrets.NewEndpoints(st, kr2).GetEndpoint(ctx, "acme", id)
		if err != nil || ep.Keys[0].Secret != s1 {
			t.Fatalf("%s with k2 alone: %v", id, err)
		}
	}
	if _, err := secrets.NewEndpoints(st, kr1).GetEndpoint(ctx, "acme", "ep_a"); !errors.Is(err, secrets.ErrNoKey) {
		t.Fatalf("k1 after rotation: %v, want ErrNoKey", err)
	}
}

func TestLoadKeyring(t *testing.T) {
	t.Setenv(envSecretKey, "")
	t.Setenv(envSecretKeys, "")
	if kr, err := loadKeyring(""); kr != nil || err != nil {
		t.Fatalf("nothing set: %v %v", kr, err)
	}
	t.Setenv(envSecretKey, mustKey(t, "a"))
	t.Setenv(envSecretKeys, mustKey(t, "b"))
	if _, err := loadKeyring(""); err == nil || !strings.Contains(err.Error(), "set only one") {
		t.Fatalf("both set: %v", err)
	}
	t.Setenv(envSecretKeys, "")
	if kr, err := loadKeyring(""); err != nil || kr.CurrentID() != "a" {
		t.Fatalf("%s: %v", envSecretKey, err)
	}
	t.Setenv(envSecretKey, "a:"+strings.Repeat("A", 10))
	if _, err := loadKeyring(""); err == nil || strings.Contains(err.Error(), strings.Repeat("A", 10)) {
		t.Fatalf("a short key: %v", err)
	}
}

// TestServeRefusesSealedWithoutKey: a store with sealed secrets does not start without its key, nor with another.
func TestServeRefusesSealedWithoutKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme"})
	kr, _ := secrets.ParseKeyring(mustKey(t, "k1"))
	if err := secrets.NewEndpoints(st, kr).CreateEndpoint(ctx, seedEndpoint(t, "acme", "ep_a", newSecret(t))); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := testServeConfig(t, "--listen", "127.0.0.1:0", "--data", dir, "--operator-token", "operator-token-0123456789abcdef")
	t.Setenv(envSecretKeys, "")
	for _, key := range []string{"", mustKey(t, "k2")} {
		t.Setenv(envSecretKey, key)
		err := serve(ctx, cfg, discardLogger(), func(string) { t.Error("served") })
		if err == nil || !strings.Contains(err.Error(), "k1") {
			t.Fatalf("key %q: serve: %v", strings.SplitN(key, ":", 2)[0], err)
		}
	}
}

// TestSecretsRotateKeyLeavesNoOldBlob: after rotate-key, the bbolt file holds no secret sealed under the retired
// key (which would open to a live secret with that key) and no secret in the clear, not even in a freed page.
func TestSecretsRotateKeyLeavesNoOldBlob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	kr1, _ := secrets.ParseKeyring(k1)
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	var plain []string
	for i := range 20 {
		s := newSecret(t)
		plain = append(plain, s)
		kr := kr1
		if i%4 == 0 {
			kr = nil // some stored before any key was set
		}
		if err := secrets.NewEndpoints(st, kr).CreateEndpoint(ctx, seedEndpoint(t, "acme", fmt.Sprintf("ep_%02d", i), s)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	file := filepath.Join(dir, boltstore.FileName)
	raw := func() []byte {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Contains(raw(), []byte("enc:v1:k1:")) {
		t.Fatal("the seeded file holds no k1 blob: the test cannot see them")
	}

	t.Setenv(envSecretKey, "")
	t.Setenv(envSecretKeys, k2+","+k1)
	code, out, errOut := run(t, "", "secrets", "rotate-key", "--data", dir)
	if code != 0 || !strings.Contains(out, "rewrote embedded:"+dir+" into a fresh file") ||
		!strings.Contains(out, "secrets in plaintext: 0; sealed under k2 (current): 20") {
		t.Fatalf("rotate-key: %d %q %q", code, out, errOut)
	}
	b := raw()
	if n := bytes.Count(b, []byte("enc:v1:k1:")); n != 0 {
		t.Errorf("after rotate-key the file holds %d blobs sealed under the retired key k1", n)
	}
	for i, s := range plain {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("after rotate-key the file holds the secret of ep_%02d in the clear", i)
		}
	}
	if n := bytes.Count(b, []byte("enc:v1:k2:")); n != 20 {
		t.Errorf("after rotate-key the file holds %d k2 blobs, want 20", n)
	}
}
