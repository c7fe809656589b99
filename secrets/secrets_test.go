package secrets_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/secrets"
	"github.com/webhookd/webhookd/signing"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/store/storetest"
	"github.com/webhookd/webhookd/tenants"
)

func keyring(t *testing.T, spec string) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newKey(t *testing.T, id string) string {
	t.Helper()
	k, err := secrets.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	kr := keyring(t, newKey(t, "k1"))
	ad := []byte("tenant\x00ep")
	sealed := kr.Seal([]byte("whsec_c2VjcmV0"), ad)
	if !strings.HasPrefix(sealed, "enc:v1:k1:") || strings.Contains(sealed, "c2VjcmV0") {
		t.Fatalf("sealed form %q", sealed)
	}
	if again := kr.Seal([]byte("whsec_c2VjcmV0"), ad); again == sealed {
		t.Fatal("two seals of one secret are equal: the nonce is not random")
	}
	pt, err := kr.Open(sealed, ad)
	if err != nil || string(pt) != "whsec_c2VjcmV0" {
		t.Fatalf("Open: %q, %v", pt, err)
	}

	// Every byte of the box is authenticated.
	prefix := "enc:v1:k1:"
	box, _ := base64.RawURLEncoding.DecodeString(sealed[len(prefix):])
	for i := range box {
		tampered := bytes.Clone(box)
		tampered[i] ^= 1
		if _, err := kr.Open(prefix+base64.RawURLEncoding.EncodeToString(tampered), ad); !errors.Is(err, secrets.ErrOpen) {
			t.Fatalf("byte %d flipped: %v, want ErrOpen", i, err)
		}
	}
	for _, bad := range []string{"enc:v1:k1:", "enc:v1:k1:!!", "enc:v1::abc", "enc:v1:k1", "whsec_x", prefix + "AAAA"} {
		if _, err := kr.Open(bad, ad); !errors.Is(err, secrets.ErrOpen) {
			t.Errorf("Open(%q): %v, want ErrOpen", bad, err)
		}
	}
	if _, err := kr.Open(sealed, []byte("tenant\x00other")); !errors.Is(err, secrets.ErrOpen) {
		t.Fatalf("other associated data: %v, want ErrOpen", err)
	}
	other := keyring(t, newKey(t, "k2"))
	if _, err := other.Open(sealed, ad); !errors.Is(err, secrets.ErrNoKey) {
		t.Fatalf("keyring without k1: %v, want ErrNoKey", err)
	}
	// The same id with other key material does not open either.
	impostor := keyring(t, "k1:"+strings.SplitN(newKey(t, "x"), ":", 2)[1])
	if _, err := impostor.Open(sealed, ad); !errors.Is(err, secrets.ErrOpen) {
		t.Fatalf("wrong key under the right id: %v, want ErrOpen", err)
	}
}

func TestParseKeyring(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, 32)
	std := base64.StdEncoding.EncodeToString(raw)
	url := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	kr := keyring(t, "# operator keys, newest first, then old ones\nnew:"+url+",\n old:"+std+"\r\n")
	if got := kr.IDs(); len(got) != 2 || got[0] != "new" || got[1] != "old" || kr.CurrentID() != "new" {
		t.Fatalf("ids %q", got)
	}
	bare := keyring(t, std)
	if bare.CurrentID() != secrets.DeriveID(raw) || !strings.HasPrefix(bare.CurrentID(), "k") {
		t.Fatalf("derived id %q", bare.CurrentID())
	}
	// A key given bare opens what it sealed when it is later named by its derived id.
	sealed := bare.Seal([]byte("x"), nil)
	if _, err := keyring(t, "new:"+url+","+secrets.DeriveID(raw)+":"+std).Open(sealed, nil); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"", " , ", "k1:" + base64.StdEncoding.EncodeToString(raw[:16]), "k1:not base64!", "bad id:" + std,
		"k1:" + std + ",k1:" + url,
	} {
		_, err := secrets.ParseKeyring(bad)
		if !errors.Is(err, secrets.ErrKeyring) {
			t.Errorf("ParseKeyring(%q): %v, want ErrKeyring", bad, err)
			continue
		}
		if strings.Contains(err.Error(), std) || strings.Contains(err.Error(), url) {
			t.Errorf("error shows key material: %v", err)
		}
	}
}

// stores opens a bolt store and returns it raw and wrapped with kr.
func stores(t *testing.T, kr *secrets.Keyring) (*boltstore.Store, *secrets.Endpoints) {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, secrets.NewEndpoints(st, kr)
}

func newEndpoint(t *testing.T, st tenants.Store, tenant, id string, secrets ...string) *endpoints.Endpoint {
	t.Helper()
	ctx := context.Background()
	if _, err := st.GetTenant(ctx, tenant); err != nil {
		if err := st.CreateTenant(ctx, &tenants.Tenant{ID: tenant, Name: tenant, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	e := &endpoints.Endpoint{ID: id, TenantID: tenant, URL: "https://example.com/hook", Events: []string{"*"},
		Profile: "standard", Algorithm: "hmac", CreatedAt: now, UpdatedAt: now}
	for _, s := range secrets {
		e.Keys = append(e.Keys, endpoints.Key{Secret: s, CreatedAt: now})
	}
	return e
}

func generated(t *testing.T) string {
	t.Helper()
	s, _, err := profiles.Standard.GenerateKey(signing.HMAC)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEndpointsRoundTrip(t *testing.T) {
	ctx := context.Background()
	kr := keyring(t, newKey(t, "k1"))
	raw, st := stores(t, kr)
	s1, s2 := generated(t), generated(t)
	e := newEndpoint(t, raw, "acme", "ep_1", s1, s2)
	if err := st.CreateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	if e.Keys[0].Secret != s1 {
		t.Fatal("CreateEndpoint changed the caller's endpoint")
	}
	got, err := st.GetEndpoint(ctx, "acme", "ep_1")
	if err != nil || got.Keys[0].Secret != s1 || got.Keys[1].Secret != s2 {
		t.Fatalf("GetEndpoint: %+v, %v", got, err)
	}
	list, err := st.ListEndpoints(ctx, "acme", "", 10)
	if err != nil || len(list) != 1 || list[0].Keys[1].Secret != s2 {
		t.Fatalf("ListEndpoints: %v", err)
	}
	stored, _ := raw.GetEndpoint(ctx, "acme", "ep_1")
	for i, k := range stored.Keys {
		if secrets.SealedWith(k.Secret) != "k1" || strings.Contains(k.Secret, s1[6:]) {
			t.Fatalf("stored key %d is %q, want sealed under k1", i, k.Secret)
		}
	}
	// Health changes keep the sealed secrets.
	if err := st.SetEndpointHealth(ctx, "acme", "ep_1", time.Now(), true, "gone"); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetEndpoint(ctx, "acme", "ep_1"); err != nil || !got.Disabled || got.Keys[0].Secret != s1 {
		t.Fatalf("after SetEndpointHealth: %+v, %v", got, err)
	}

	// A sealed secret copied onto another endpoint's record does not open there.
	moved := newEndpoint(t, raw, "acme", "ep_2")
	moved.Keys = stored.Keys
	if err := raw.CreateEndpoint(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetEndpoint(ctx, "acme", "ep_2"); !errors.Is(err, secrets.ErrOpen) {
		t.Fatalf("secret moved to another endpoint: %v, want ErrOpen", err)
	}
	if _, err := st.ListEndpoints(ctx, "acme", "", 10); !errors.Is(err, secrets.ErrOpen) {
		t.Fatalf("list with a moved secret: %v, want ErrOpen", err)
	}
	// Nor under another tenant with the same endpoint id.
	other := newEndpoint(t, raw, "globex", "ep_1")
	other.Keys = stored.Keys
	if err := raw.CreateEndpoint(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetEndpoint(ctx, "globex", "ep_1"); !errors.Is(err, secrets.ErrOpen) {
		t.Fatalf("secret moved to another tenant: %v, want ErrOpen", err)
	}
	if err := st.DeleteEndpoint(ctx, "globex", "ep_1"); err != nil {
		t.Fatal(err)
	}
}

func TestNoKeyring(t *testing.T) {
	ctx := context.Background()
	raw, st := stores(t, nil)
	s1 := generated(t)
	e := newEndpoint(t, raw, "acme", "ep_1", s1)
	if err := st.CreateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	if stored, _ := raw.GetEndpoint(ctx, "acme", "ep_1"); stored.Keys[0].Secret != s1 {
		t.Fatal("without a keyring the secret is not stored as it is")
	}
	// A value that would read back as sealed is refused.
	e.Keys[0].Secret = "enc:v1:k1:this-is-an-openmdm-secret"
	if err := st.UpdateEndpoint(ctx, e); !errors.Is(err, endpoints.ErrInvalid) {
		t.Fatalf("enc: secret without a keyring: %v, want ErrInvalid", err)
	}
	// A sealed secret without the key: a clear error, not the ciphertext.
	kr := keyring(t, newKey(t, "k1"))
	if err := secrets.NewEndpoints(raw, kr).UpdateEndpoint(ctx, newEndpoint(t, raw, "acme", "ep_1", s1)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetEndpoint(ctx, "acme", "ep_1"); !errors.Is(err, secrets.ErrNoKey) || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("sealed secret without a keyring: %v, want ErrNoKey naming k1", err)
	}
}

func TestBoltFileHoldsNoSecret(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	raw, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := secrets.NewEndpoints(raw, keyring(t, newKey(t, "k1")))
	hmacSecret := generated(t)
	edSecret, _, err := profiles.Standard.GenerateKey(signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	mdmSecret := "openmdm-shared-secret-0123456789"
	for i, s := range []string{hmacSecret, edSecret, mdmSecret} {
		if err := st.CreateEndpoint(ctx, newEndpoint(t, raw, "acme", "ep_"+string(rune('a'+i)), s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(raw.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{hmacSecret, edSecret, mdmSecret} {
		needles := []string{s}
		if _, body, ok := strings.Cut(s, "_"); ok {
			needles = append(needles, body) // the base64 key without its prefix
		}
		for _, needle := range needles {
			if bytes.Contains(db, []byte(needle)) {
				t.Errorf("the database file contains %q", needle)
			}
		}
	}
	// The raw key bytes, in any encoding a store might pick, are absent too.
	rawHMAC, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(hmacSecret, "whsec_"))
	for _, needle := range [][]byte{rawHMAC, []byte(base64.RawStdEncoding.EncodeToString(rawHMAC)), []byte(base64.URLEncoding.EncodeToString(rawHMAC))} {
		if bytes.Contains(db, needle) {
			t.Errorf("the database file contains the raw HMAC key (%d bytes)", len(needle))
		}
	}
	if !bytes.Contains(db, []byte("enc:v1:k1:")) {
		t.Error("the database file holds no sealed secret at all: is this the right file?")
	}
}

func TestReseal(t *testing.T) {
	ctx := context.Background()
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	raw, old := stores(t, keyring(t, k1))
	s1, s2, s3 := generated(t), generated(t), generated(t)
	if err := old.CreateEndpoint(ctx, newEndpoint(t, raw, "acme", "ep_1", s1, s2)); err != nil {
		t.Fatal(err)
	}
	// One endpoint stored before any key: plaintext.
	if err := raw.CreateEndpoint(ctx, newEndpoint(t, raw, "globex", "ep_2", s3)); err != nil {
		t.Fatal(err)
	}
	census := func() secrets.Census {
		c, err := secrets.Count(ctx, raw, raw)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := census(); c.Endpoints != 2 || c.Plain != 1 || c.Sealed["k1"] != 2 {
		t.Fatalf("census before %+v", c)
	}

	// The start-up migration seals plaintext and leaves k1's secrets alone.
	n, err := secrets.Reseal(ctx, raw, raw, keyring(t, k1), secrets.SealPlain)
	if err != nil || n != 1 {
		t.Fatalf("SealPlain: %d, %v", n, err)
	}
	if c := census(); c.Plain != 0 || c.Sealed["k1"] != 3 {
		t.Fatalf("census after SealPlain %+v", c)
	}
	if n, _ := secrets.Reseal(ctx, raw, raw, keyring(t, k1), secrets.SealPlain); n != 0 {
		t.Fatalf("SealPlain again rewrote %d endpoints", n)
	}

	// Without the old key, nothing can be re-sealed: the error names the endpoint.
	if _, err := secrets.Reseal(ctx, raw, raw, keyring(t, k2), secrets.SealAll); !errors.Is(err, secrets.ErrNoKey) || !strings.Contains(err.Error(), "ep_1") {
		t.Fatalf("reseal without the old key: %v", err)
	}

	// Rotation: k2 current, k1 kept to open.
	rotated := keyring(t, k2+","+k1)
	n, err = secrets.Reseal(ctx, raw, raw, rotated, secrets.SealAll)
	if err != nil || n != 2 {
		t.Fatalf("SealAll: %d, %v", n, err)
	}
	if c := census(); c.Sealed["k2"] != 3 || c.Sealed["k1"] != 0 {
		t.Fatalf("census after rotation %+v", c)
	}
	if n, _ := secrets.Reseal(ctx, raw, raw, rotated, secrets.SealAll); n != 0 {
		t.Fatalf("SealAll again rewrote %d endpoints", n)
	}
	// k1 can go now.
	st := secrets.NewEndpoints(raw, keyring(t, k2))
	for _, c := range []struct{ tenant, id, secret string }{{"acme", "ep_1", s1}, {"globex", "ep_2", s3}} {
		e, err := st.GetEndpoint(ctx, c.tenant, c.id)
		if err != nil || e.Keys[0].Secret != c.secret {
			t.Fatalf("%s after rotation: %v", c.id, err)
		}
	}
}

// sealedStore is the bolt store with its endpoint methods sealed, for the conformance suite.
type sealedStore struct {
	*boltstore.Store
	eps endpoints.Store
}

// Resolve the methods both embed in favour of the sealing ones.
func (s sealedStore) CreateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	return s.eps.CreateEndpoint(ctx, e)
}
func (s sealedStore) GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error) {
	return s.eps.GetEndpoint(ctx, tenantID, id)
}
func (s sealedStore) ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*endpoints.Endpoint, error) {
	return s.eps.ListEndpoints(ctx, tenantID, after, limit)
}
func (s sealedStore) UpdateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	return s.eps.UpdateEndpoint(ctx, e)
}
func (s sealedStore) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	return s.eps.DeleteEndpoint(ctx, tenantID, id)
}
func (s sealedStore) SetEndpointHealth(ctx context.Context, tenantID, id string, failingSince time.Time, disable bool, reason string) error {
	return s.eps.SetEndpointHealth(ctx, tenantID, id, failingSince, disable, reason)
}

// TestConformance runs the store conformance suite through the sealing decorator: it must be invisible.
func TestConformance(t *testing.T) {
	kr := keyring(t, newKey(t, "k1"))
	storetest.Run(t, func(t *testing.T) storetest.Store {
		st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return sealedStore{Store: st, eps: secrets.NewEndpoints(st, kr)}
	})
	// Under the read cache too, as the gateway stacks them: a process reads its own writes at once.
	t.Run("cached", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Store {
			st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return sealedStore{Store: st, eps: endpoints.NewCachedStore(secrets.NewEndpoints(st, kr), time.Hour)}
		})
	})
}
